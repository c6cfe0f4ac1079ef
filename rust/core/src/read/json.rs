//! JSON Lines and JSON (top-level array of objects): parsing, type inference, building.
//!
//! Rules (identical to the reference): numbers without `.`/`e`/`E` are int64 (out of range
//! is an error), others float64 (non-finite is an error); NaN/Infinity, lone surrogates and
//! nesting deeper than [`MAX_DEPTH`] are errors. Types are inferred from the first
//! [`INFER_ROWS`] records: null < bool/int/float/string/list/struct, int+float -> float,
//! lists and structs unified recursively (struct keys in first-seen order); any other mix
//! is a `SchemaMismatch`. Later records must fit the inferred schema (ints widen to float;
//! a new key is a mismatch).

use std::borrow::Cow;
use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Float64Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, ListArray, NullArray, RecordBatch, StructArray};
use arrow_buffer::{NullBuffer, OffsetBuffer};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use serde_json::{Map, Value};

use super::ahead::{Chunked, Decoded};
use super::jfast::{self, Obj, J};
use super::source::{open_decoded, read_error, Lines};
use super::{batch_of, Compression, Source, INFER_ROWS};
use crate::error::{Error, Position, Result};

/// Deepest nesting of arrays/objects a record may have (the record object is depth 1).
/// 63 because a column's Arrow type then has at most 62 nested levels: pyarrow's C data
/// import refuses a 63rd ("Recursion level in ArrowSchema struct exceeded"), so deeper
/// records must fail here, as a `DataFormatError` naming file and line.
pub const MAX_DEPTH: usize = 63;

/// A record-level problem: an error, or a skipped record under `on_error="skip"`.
struct Bad {
    message: String,
    kind: BadKind,
}

/// What went wrong with a record: decides the error class and, inside a JSON array
/// document, whether the whole read stops (typed, never read from the message text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BadKind {
    /// Not JSON at all (in a JSON document: the document is invalid, fatal).
    Syntax,
    /// Nested deeper than [`MAX_DEPTH`] (in a JSON document: fatal, as for `json.load`).
    TooDeep,
    /// Valid JSON our rules refuse (a number out of range, not an object).
    Value,
    /// A value that does not fit the inferred schema (`SchemaMismatchError`).
    Mismatch,
}

impl Bad {
    /// Whether, in a JSON array document, this makes the document itself invalid.
    fn breaks_document(&self) -> bool {
        matches!(self.kind, BadKind::Syntax | BadKind::TooDeep)
    }
}

fn bad(message: impl Into<String>) -> Bad {
    Bad {
        message: message.into(),
        kind: BadKind::Value,
    }
}

fn syntax(message: impl Into<String>) -> Bad {
    Bad {
        message: message.into(),
        kind: BadKind::Syntax,
    }
}

fn too_deep() -> Bad {
    Bad {
        message: format!("nested deeper than {MAX_DEPTH} levels"),
        kind: BadKind::TooDeep,
    }
}

fn mismatch(message: impl Into<String>) -> Bad {
    Bad {
        message: message.into(),
        kind: BadKind::Mismatch,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum JType {
    Null,
    Bool,
    Int,
    Float,
    Str,
    List(Box<JType>),
    Struct(Vec<(String, JType)>),
}

impl JType {
    fn arrow(&self) -> DataType {
        match self {
            JType::Null => DataType::Null,
            JType::Bool => DataType::Boolean,
            JType::Int => DataType::Int64,
            JType::Float => DataType::Float64,
            JType::Str => DataType::Utf8,
            JType::List(item) => DataType::List(Arc::new(Field::new("item", item.arrow(), true))),
            JType::Struct(fields) => DataType::Struct(struct_fields(fields)),
        }
    }
}

fn struct_fields(fields: &[(String, JType)]) -> Fields {
    fields
        .iter()
        .map(|(name, kind)| Field::new(name, kind.arrow(), true))
        .collect::<Vec<_>>()
        .into()
}

fn is_float_literal(text: &str) -> bool {
    text.bytes().any(|b| matches!(b, b'.' | b'e' | b'E'))
}

/// Numbers in range and depth bounded, over the text of a record, every value included (a duplicate key's
/// earlier values too, which the parsed `Value` no longer holds). Run only on text
/// serde_json has accepted, so the scan need not re-check the grammar: outside strings,
/// a number starts with `-` or a digit and `[`/`{` open a level.
fn check_text(bytes: &[u8]) -> std::result::Result<(), Bad> {
    let (mut i, mut depth) = (0, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(too_deep());
                }
                i += 1;
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < bytes.len()
                    && matches!(bytes[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    i += 1;
                }
                // The span is ASCII (the bytes matched above).
                check_number(std::str::from_utf8(&bytes[start..i]).unwrap_or_default())?;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

fn check_number(text: &str) -> std::result::Result<(), Bad> {
    if is_float_literal(text) {
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(()),
            _ => Err(bad(format!("number {text} overflows float64"))),
        }
    } else if text.parse::<i64>().is_ok() {
        Ok(())
    } else {
        Err(bad(format!("integer {text} does not fit in int64")))
    }
}

fn type_of(value: &Value) -> std::result::Result<JType, Bad> {
    Ok(match value {
        Value::Null => JType::Null,
        Value::Bool(_) => JType::Bool,
        Value::Number(n) => {
            if is_float_literal(n.as_str()) {
                JType::Float
            } else {
                JType::Int
            }
        }
        Value::String(_) => JType::Str,
        Value::Array(items) => {
            let mut item = JType::Null;
            for v in items {
                item = unify(item, type_of(v)?, "[]")?;
            }
            JType::List(Box::new(item))
        }
        Value::Object(map) => {
            let mut fields = Vec::with_capacity(map.len());
            for (k, v) in map {
                fields.push((k.clone(), type_of(v)?));
            }
            JType::Struct(fields)
        }
    })
}

fn unify(a: JType, b: JType, at: &str) -> std::result::Result<JType, Bad> {
    Ok(match (a, b) {
        (a, b) if a == b => a,
        (JType::Null, b) => b,
        (a, JType::Null) => a,
        (JType::Int, JType::Float) | (JType::Float, JType::Int) => JType::Float,
        (JType::List(x), JType::List(y)) => {
            JType::List(Box::new(unify(*x, *y, &format!("{at}[]"))?))
        }
        (JType::Struct(mut fields), JType::Struct(other)) => {
            for (key, kind) in other {
                if let Some(slot) = fields.iter_mut().find(|(k, _)| *k == key) {
                    let old = std::mem::replace(&mut slot.1, JType::Null);
                    slot.1 = unify(old, kind, &format!("{at}.{key}"))?;
                } else {
                    fields.push((key, kind));
                }
            }
            JType::Struct(fields)
        }
        (a, b) => {
            return Err(mismatch(format!(
                "column {at:?}: {} does not mix with {}",
                b.arrow(),
                a.arrow()
            )))
        }
    })
}

/// The type of each of a row's values, in the row's order.
type RowKinds = Vec<(String, std::result::Result<JType, Bad>)>;

fn row_kinds(row: Map<String, Value>) -> RowKinds {
    row.into_iter()
        .map(|(key, value)| {
            let kind = type_of(&value);
            (key, kind)
        })
        .collect()
}

/// `schema` widened by a row's kinds (the first value that does not fit is the error).
fn unify_row(
    schema: &[(String, JType)],
    row: RowKinds,
) -> std::result::Result<Vec<(String, JType)>, Bad> {
    let mut merged = schema.to_vec();
    for (key, kind) in row {
        let kind = kind.map_err(|b| mismatch(format!("column {key:?}: {}", b.message)))?;
        if let Some(slot) = merged.iter_mut().find(|(k, _)| *k == key) {
            let old = std::mem::replace(&mut slot.1, JType::Null);
            slot.1 = unify(old, kind, &key)?;
        } else {
            merged.push((key, kind));
        }
    }
    Ok(merged)
}

/// Whether `value` fits `kind`; on failure, the path inside the value (innermost last is
/// built as the error unwinds, so the common success path allocates nothing).
fn fits(kind: &JType, value: &Value, at: &str) -> std::result::Result<(), Bad> {
    fits_inner(kind, value).map_err(|(mut path, message)| {
        path.push(at.to_string());
        path.reverse();
        mismatch(format!("column {:?}: {message}", path.concat()))
    })
}

type Misfit = (Vec<String>, String);

fn fits_inner(kind: &JType, value: &Value) -> std::result::Result<(), Misfit> {
    let ok = match (kind, value) {
        (_, Value::Null) => true,
        (JType::Bool, Value::Bool(_)) => true,
        (JType::Int, Value::Number(n)) => !is_float_literal(n.as_str()),
        (JType::Float, Value::Number(_)) => true,
        (JType::Str, Value::String(_)) => true,
        (JType::List(item), Value::Array(items)) => {
            return items.iter().try_for_each(|v| {
                fits_inner(item, v).map_err(|(mut path, m)| {
                    path.push("[]".to_string());
                    (path, m)
                })
            });
        }
        (JType::Struct(fields), Value::Object(map)) => {
            for (key, v) in map {
                match fields.iter().find(|(k, _)| k == key) {
                    Some((_, k)) => fits_inner(k, v).map_err(|(mut path, m)| {
                        path.push(format!(".{key}"));
                        (path, m)
                    })?,
                    None => {
                        return Err((
                            Vec::new(),
                            format!("key {key:?} is not in the inferred struct"),
                        ))
                    }
                }
            }
            return Ok(());
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err((
            Vec::new(),
            format!(
                "value {} does not fit inferred type {}",
                short(value),
                kind.arrow()
            ),
        ))
    }
}

fn short(value: &Value) -> String {
    let mut text = value.to_string();
    if text.len() > 40 {
        let mut cut = 40;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("...");
    }
    text
}

// ---------------------------------------------------------------------------
// Building arrays (from the light tree of `jfast`)

/// Whether `value` fits `kind` (the fast check; [`fits`] words the failure).
fn fits_j(kind: &JType, value: &J) -> bool {
    match (kind, value) {
        (_, J::Null) => true,
        (JType::Bool, J::Bool(_)) => true,
        (JType::Int, J::Int(_)) => true,
        (JType::Float, J::Int(_) | J::Float(_)) => true,
        (JType::Str, J::Str(_)) => true,
        (JType::List(item), J::List(items)) => items.iter().all(|v| fits_j(item, v)),
        (JType::Struct(fields), J::Obj(map)) => map.iter().all(|(key, v)| {
            fields
                .iter()
                .find(|(k, _)| k == key)
                .is_some_and(|(_, kind)| fits_j(kind, v))
        }),
        _ => false,
    }
}

/// A checked `serde_json` value as a light tree (numbers were checked by [`check_text`]).
fn to_j(value: Value) -> J<'static> {
    match value {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(b),
        Value::Number(n) => {
            let text = n.as_str();
            if is_float_literal(text) {
                J::Float(text.parse::<f64>().unwrap_or(f64::NAN))
            } else {
                J::Int(text.parse::<i64>().unwrap_or_default())
            }
        }
        Value::String(s) => J::Str(Cow::Owned(s)),
        Value::Array(items) => J::List(items.into_iter().map(to_j).collect()),
        Value::Object(map) => J::Obj(to_obj(map)),
    }
}

fn to_obj(map: Map<String, Value>) -> Obj<'static> {
    map.into_iter()
        .map(|(k, v)| (Cow::Owned(k), to_j(v)))
        .collect()
}

fn get<'v, 'a>(obj: &'v Obj<'a>, key: &str) -> Option<&'v J<'a>> {
    obj.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
        .filter(|v| !matches!(v, J::Null))
}

fn nulls_of(values: &[Option<&J>]) -> Option<NullBuffer> {
    let nulls = NullBuffer::from_iter(values.iter().map(|v| v.is_some()));
    (nulls.null_count() > 0).then_some(nulls)
}

/// The array of `values` (None: null) of type `kind` (they fit it).
fn build(kind: &JType, values: &[Option<&J>]) -> ArrayRef {
    match kind {
        JType::Null => Arc::new(NullArray::new(values.len())),
        JType::Bool => {
            let mut b = BooleanBuilder::with_capacity(values.len());
            values.iter().for_each(|v| {
                b.append_option(match v {
                    Some(J::Bool(x)) => Some(*x),
                    _ => None,
                })
            });
            Arc::new(b.finish())
        }
        JType::Int => {
            let mut b = Int64Builder::with_capacity(values.len());
            values.iter().for_each(|v| {
                b.append_option(match v {
                    Some(J::Int(x)) => Some(*x),
                    _ => None,
                })
            });
            Arc::new(b.finish())
        }
        JType::Float => {
            let mut b = Float64Builder::with_capacity(values.len());
            values.iter().for_each(|v| {
                b.append_option(match v {
                    Some(J::Float(x)) => Some(*x),
                    // as float(int(text)) in Python: "-0" is 0.0, large ints round to nearest.
                    Some(J::Int(x)) => Some(*x as f64),
                    _ => None,
                })
            });
            Arc::new(b.finish())
        }
        JType::Str => {
            let bytes = values
                .iter()
                .map(|v| match v {
                    Some(J::Str(s)) => s.len(),
                    _ => 0,
                })
                .sum();
            let mut b = StringBuilder::with_capacity(values.len(), bytes);
            values.iter().for_each(|v| {
                b.append_option(match v {
                    Some(J::Str(s)) => Some(s.as_ref()),
                    _ => None,
                })
            });
            Arc::new(b.finish())
        }
        JType::List(item) => {
            let mut offsets = Vec::with_capacity(values.len() + 1);
            offsets.push(0i32);
            let mut children: Vec<Option<&J>> = Vec::new();
            for v in values {
                if let Some(J::List(items)) = v {
                    children.extend(
                        items
                            .iter()
                            .map(|x| Some(x).filter(|x| !matches!(x, J::Null))),
                    );
                }
                offsets.push(i32::try_from(children.len()).unwrap_or(i32::MAX));
            }
            let child = build(item, &children);
            let field = Arc::new(Field::new("item", item.arrow(), true));
            Arc::new(ListArray::new(
                field,
                OffsetBuffer::new(offsets.into()),
                child,
                nulls_of(values),
            ))
        }
        JType::Struct(fields) => {
            let nulls = nulls_of(values);
            if fields.is_empty() {
                return Arc::new(StructArray::new_empty_fields(values.len(), nulls));
            }
            let children = fields
                .iter()
                .map(|(key, k)| {
                    let column: Vec<Option<&J>> = values
                        .iter()
                        .map(|v| match v {
                            Some(J::Obj(o)) => get(o, key),
                            _ => None,
                        })
                        .collect();
                    build(k, &column)
                })
                .collect();
            Arc::new(StructArray::new(struct_fields(fields), children, nulls))
        }
    }
}

// ---------------------------------------------------------------------------
// Record sources

/// Splits a top-level JSON array into its elements, streaming. Syntax errors outside
/// elements are fatal; each element is then parsed (and validated) by serde_json.
struct ArraySplitter {
    path: String,
    input: Box<dyn std::io::BufRead + Send>,
    state: u8, // 0 before '[', 1 after '[', 2 after an element, 3 after ',', 4 done
    index: u64,
    peeked: Option<u8>,
    line: u64,
}

impl ArraySplitter {
    fn open(path: &str, compression: Option<Compression>) -> Result<Self> {
        let mut input = open_decoded(path, compression)?;
        let buf = input.fill_buf().map_err(|e| read_error(path, e))?;
        if buf.starts_with(b"\xef\xbb\xbf") {
            input.consume(3);
        }
        Ok(ArraySplitter {
            path: path.to_string(),
            input,
            state: 0,
            index: 0,
            peeked: None,
            line: 1,
        })
    }

    fn byte(&mut self) -> Result<Option<u8>> {
        if let Some(b) = self.peeked.take() {
            return Ok(Some(b)); // already counted in `line`
        }
        let buf = self
            .input
            .fill_buf()
            .map_err(|e| read_error(&self.path, e))?;
        let Some(&b) = buf.first() else {
            return Ok(None);
        };
        self.input.consume(1);
        if b == b'\n' {
            self.line += 1;
        }
        Ok(Some(b))
    }

    fn skip_ws(&mut self) -> Result<Option<u8>> {
        loop {
            match self.byte()? {
                Some(b' ' | b'\t' | b'\r' | b'\n') => continue,
                other => return Ok(other),
            }
        }
    }

    fn fatal(&self, message: impl Into<String>) -> Error {
        Error::data(self.path.clone(), Some(Position::Line(self.line)), message)
    }

    /// The next element's bytes, or None at the end of the array.
    fn next_element(&mut self, out: &mut Vec<u8>) -> Result<Option<u64>> {
        loop {
            match self.state {
                0 => match self.skip_ws()? {
                    Some(b'[') => self.state = 1,
                    _ => {
                        return Err(
                            self.fatal("a .json file must hold a top-level array of objects")
                        )
                    }
                },
                1 | 3 => {
                    let first = self.skip_ws()?;
                    match first {
                        Some(b']') if self.state == 1 => {
                            self.state = 4;
                        }
                        Some(b) => {
                            self.read_element(b, out)?;
                            self.state = 2;
                            self.index += 1;
                            return Ok(Some(self.index));
                        }
                        None => return Err(self.fatal("unexpected end of input inside the array")),
                    }
                }
                2 => match self.skip_ws()? {
                    Some(b',') => self.state = 3,
                    Some(b']') => self.state = 4,
                    _ => return Err(self.fatal("expected ',' or ']' after an array element")),
                },
                _ => {
                    return match self.skip_ws()? {
                        None => Ok(None),
                        Some(_) => Err(self.fatal("extra data after the top-level array")),
                    }
                }
            }
        }
    }

    fn read_element(&mut self, first: u8, out: &mut Vec<u8>) -> Result<()> {
        out.clear();
        out.push(first);
        let mut depth: usize = match first {
            b'[' | b'{' => 1,
            _ => 0,
        };
        let mut in_string = first == b'"';
        let mut escaped = false;
        if depth == 0 && !in_string {
            // A scalar: up to a delimiter.
            loop {
                match self.byte()? {
                    Some(b @ (b',' | b']' | b' ' | b'\t' | b'\r' | b'\n')) => {
                        self.peeked = Some(b);
                        return Ok(());
                    }
                    Some(b) => out.push(b),
                    None => return Err(self.fatal("unexpected end of input inside the array")),
                }
            }
        }
        loop {
            let Some(b) = self.byte()? else {
                return Err(self.fatal("unexpected end of input inside an array element"));
            };
            out.push(b);
            if in_string {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'[' | b'{' => depth += 1,
                b']' | b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                _ => {}
            }
        }
    }
}

enum Records {
    Lines {
        paths: Vec<String>,
        next: usize,
        compression: Option<Compression>,
        current: Option<(Arc<str>, Lines)>,
    },
    Array {
        paths: Vec<String>,
        next: usize,
        compression: Option<Compression>,
        current: Option<(Arc<str>, ArraySplitter)>,
        buf: Vec<u8>,
    },
}

impl Records {
    /// The next record's bytes, appended to `out`, with its file and position.
    fn next_bytes(&mut self, out: &mut Vec<u8>) -> Result<Option<(Arc<str>, Position)>> {
        match self {
            Records::Lines {
                paths,
                next,
                compression,
                current,
            } => loop {
                let Some((path, lines)) = current.as_mut() else {
                    if *next >= paths.len() {
                        return Ok(None);
                    }
                    let path = &paths[*next];
                    *current = Some((Arc::from(path.as_str()), Lines::open(path, *compression)?));
                    *next += 1;
                    continue;
                };
                match lines.next_line()? {
                    None => *current = None,
                    Some((number, line)) => {
                        if line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')) {
                            continue;
                        }
                        out.extend_from_slice(line);
                        return Ok(Some((path.clone(), Position::Line(number))));
                    }
                }
            },
            Records::Array {
                paths,
                next,
                compression,
                current,
                buf,
            } => loop {
                let Some((path, splitter)) = current.as_mut() else {
                    if *next >= paths.len() {
                        return Ok(None);
                    }
                    let path = &paths[*next];
                    *current = Some((
                        Arc::from(path.as_str()),
                        ArraySplitter::open(path, *compression)?,
                    ));
                    *next += 1;
                    continue;
                };
                match splitter.next_element(buf)? {
                    None => *current = None,
                    Some(index) => {
                        out.extend_from_slice(buf);
                        return Ok(Some((path.clone(), Position::Row(index))));
                    }
                }
            },
        }
    }

    fn is_array(&self) -> bool {
        matches!(self, Records::Array { .. })
    }
}

/// Parse a record; in a JSON document (not JSON Lines) a syntax error is fatal, as in
/// `json.load`, whatever `on_error` says.
fn parse_checked(
    path: &str,
    position: &Position,
    bytes: &[u8],
    in_array: bool,
) -> Result<std::result::Result<Map<String, Value>, Bad>> {
    let parsed = parse_record(bytes, in_array);
    if let Err(b) = &parsed {
        if in_array && b.breaks_document() {
            return Err(Error::data(path, Some(position.clone()), b.message.clone()));
        }
    }
    Ok(parsed)
}

fn parse_record(bytes: &[u8], in_array: bool) -> std::result::Result<Map<String, Value>, Bad> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| syntax(format!("invalid JSON: {e}")))?;
    // serde_json keeps only the last of duplicate keys, so the numbers and depth of every
    // value in the text are checked on the text itself (`{"a":1e400,"a":1}` is an error,
    // as in Python's json with our parse_float).
    if let Err(mut b) = check_text(bytes) {
        if in_array && b.kind == BadKind::TooDeep {
            // Worded as the document error it is (json.load refuses the whole document).
            b.message = format!("invalid JSON: {}", b.message);
        }
        return Err(b);
    }
    match value {
        Value::Object(map) => Ok(map),
        other => Err(bad(format!(
            "expected a JSON object, found {}",
            kind_name(&other)
        ))),
    }
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Records gathered on the caller's thread (reading and decompressing), decoded on the pool.
struct Chunk {
    data: Vec<u8>,
    /// File, position and end offset in `data` of each record.
    records: Vec<(Arc<str>, Position, usize)>,
    /// The reading error met after these records (they still count).
    tail: Option<Error>,
}

/// The decoding rules, fixed once the types are inferred; shared by the pool's jobs.
struct Decoder {
    /// Every column: each record is checked whole, with or without a projection.
    kinds: Vec<(String, JType)>,
    /// The columns built (indices into `kinds`, sorted) and their schema.
    built: Vec<usize>,
    schema: SchemaRef,
    skip_bad: bool,
    array: bool,
}

impl Decoder {
    fn error(path: &str, position: &Position, b: Bad) -> Error {
        let (path, position) = (path.to_string(), Some(position.clone()));
        if b.kind == BadKind::Mismatch {
            Error::SchemaMismatch {
                path,
                position,
                message: b.message,
            }
        } else {
            Error::DataFormat {
                path,
                position,
                message: b.message,
            }
        }
    }

    /// Later records must fit the inferred schema.
    fn check(&self, row: &Map<String, Value>) -> std::result::Result<(), Bad> {
        for (key, value) in row {
            match self.kinds.iter().find(|(k, _)| k == key) {
                Some((_, kind)) => fits(kind, value, key)?,
                None => {
                    return Err(mismatch(format!(
                        "key {key:?} is not a column of the inferred schema"
                    )))
                }
            }
        }
        Ok(())
    }

    /// Whether a row of the fast path fits the inferred schema (see [`Decoder::check`]).
    fn fits_row(&self, row: &Obj) -> bool {
        row.iter().all(|(key, value)| {
            self.kinds
                .iter()
                .find(|(k, _)| k == key)
                .is_some_and(|(_, kind)| fits_j(kind, value))
        })
    }

    fn build(&self, rows: &[Obj]) -> Result<RecordBatch> {
        let columns = self
            .built
            .iter()
            .map(|&i| {
                let (name, kind) = &self.kinds[i];
                let values: Vec<Option<&J>> = rows.iter().map(|r| get(r, name)).collect();
                build(kind, &values)
            })
            .collect();
        batch_of(&self.schema, columns, rows.len())
    }

    fn decode(&self, chunk: Chunk) -> Decoded {
        let mut rows = Vec::with_capacity(chunk.records.len());
        let (mut skipped, mut start, mut error) = (0, 0, None);
        for (path, position, end) in &chunk.records {
            let bytes = &chunk.data[start..*end];
            start = *end;
            if let Some(row) = jfast::parse(bytes) {
                if self.fits_row(&row) {
                    rows.push(row);
                    continue;
                }
            }
            // serde_json decides the rest and words the errors.
            let parsed = match parse_checked(path, position, bytes, self.array) {
                Ok(parsed) => parsed,
                Err(e) => {
                    error = Some(e);
                    break;
                }
            };
            match parsed.and_then(|row| self.check(&row).map(|()| row)) {
                Ok(row) => rows.push(to_obj(row)),
                Err(_) if self.skip_bad => skipped += 1,
                Err(b) => {
                    error = Some(Self::error(path, position, b));
                    break;
                }
            }
        }
        let error = error.or(chunk.tail);
        let (batch, error) = match (rows.is_empty(), error) {
            (true, error) => (None, error),
            (false, error) => match self.build(&rows) {
                Ok(batch) => (Some(batch), error),
                Err(e) => (None, Some(e)),
            },
        };
        Decoded {
            batch,
            skipped,
            error,
        }
    }
}

/// A chunk ends after this many bytes of records (or `batch_size` records, at least 1024).
const CHUNK_BYTES: usize = 4 << 20;

pub struct JsonSource {
    records: Records,
    skip_bad: bool,
    skipped: u64,
    batch_size: usize,
    num_threads: usize,
    kinds: Vec<(String, JType)>,
    schema: SchemaRef,
    /// The columns to build (sorted indices), after `push_projection`; None: all.
    projection: Option<Vec<usize>>,
    /// Records read while inferring the types.
    buffer: Option<Chunk>,
    decoder: Option<Arc<Decoder>>,
    chunked: Chunked,
    read_done: bool,
}

impl JsonSource {
    pub fn open(
        paths: Vec<String>,
        array: bool,
        compression: Option<Compression>,
        batch_size: usize,
        skip_bad: bool,
        num_threads: usize,
    ) -> Result<Self> {
        let records = if array {
            Records::Array {
                paths,
                next: 0,
                compression,
                current: None,
                buf: Vec::new(),
            }
        } else {
            Records::Lines {
                paths,
                next: 0,
                compression,
                current: None,
            }
        };
        let mut source = JsonSource {
            records,
            skip_bad,
            skipped: 0,
            batch_size,
            num_threads,
            kinds: Vec::new(),
            schema: Arc::new(Schema::empty()),
            projection: None,
            buffer: None,
            decoder: None,
            chunked: Chunked::default(),
            read_done: false,
        };
        source.infer()?;
        Ok(source)
    }

    fn fail(&mut self, path: &str, position: &Position, b: Bad) -> Result<()> {
        if self.skip_bad {
            self.skipped += 1;
            return Ok(());
        }
        Err(Decoder::error(path, position, b))
    }

    /// Infer the types from the first [`INFER_ROWS`] good records, kept to start the first
    /// batch. Records are read in order as many at a time as are still wanted, parsed on
    /// the pool, then taken in order (the same records, and the same first error, as one
    /// at a time).
    fn infer(&mut self) -> Result<()> {
        let mut kinds: Vec<(String, JType)> = Vec::new();
        let mut buffer = Chunk {
            data: Vec::new(),
            records: Vec::new(),
            tail: None,
        };
        let array = self.records.is_array();
        let mut data = Vec::new();
        let mut spans = Vec::new();
        let mut done = false;
        while buffer.records.len() < INFER_ROWS && !done {
            let want = INFER_ROWS - buffer.records.len();
            data.clear();
            spans.clear();
            let mut tail = None;
            let mut stop = None;
            while spans.len() < want {
                let start = data.len();
                match self.records.next_bytes(&mut data) {
                    Ok(Some((path, position))) => spans.push((path, position, start, data.len())),
                    Ok(None) => done = true,
                    Err(e) => (tail, done) = (Some(e), true),
                }
                if done {
                    break;
                }
            }
            // Parsed and typed on the pool (each row's values dropped there too).
            let parse = |(path, position, start, end): &(Arc<str>, Position, usize, usize)| {
                parse_checked(path, position, &data[*start..*end], array)
                    .map(|parsed| parsed.map(row_kinds))
            };
            let parsed: Vec<_> = if crate::pool::parallel(self.num_threads, data.len()) {
                use rayon::prelude::*;
                crate::pool::install(self.num_threads, || spans.par_iter().map(parse).collect())?
            } else {
                spans.iter().map(parse).collect()
            };
            for (span, parsed) in spans.iter().zip(parsed) {
                let (path, position, start, end) = span;
                let outcome = parsed.and_then(|parsed| match parsed {
                    Ok(row) => match unify_row(&kinds, row) {
                        Ok(merged) => {
                            kinds = merged;
                            Ok(true)
                        }
                        Err(b) => self.fail(path, position, b).map(|()| false),
                    },
                    Err(b) => self.fail(path, position, b).map(|()| false),
                });
                match outcome {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => {
                        stop = Some(e);
                        break;
                    }
                }
                buffer.data.extend_from_slice(&data[*start..*end]);
                buffer
                    .records
                    .push((path.clone(), position.clone(), buffer.data.len()));
            }
            if let Some(e) = stop.take().or(tail) {
                // Good rows first: the schema comes from the good records before the error,
                // they are delivered, then the error (open fails only when there are none).
                if buffer.records.is_empty() {
                    return Err(e);
                }
                buffer.tail = Some(e);
                self.read_done = true;
                break;
            }
        }
        self.buffer = (!buffer.records.is_empty()).then_some(buffer);
        self.schema = Arc::new(Schema::new(struct_fields(&kinds)));
        self.kinds = kinds;
        Ok(())
    }

    fn decoder(&mut self) -> Arc<Decoder> {
        self.decoder
            .get_or_insert_with(|| {
                let built = self
                    .projection
                    .clone()
                    .unwrap_or_else(|| (0..self.kinds.len()).collect());
                let schema = match &self.projection {
                    None => self.schema.clone(),
                    Some(built) => Arc::new(self.schema.project(built).unwrap_or_else(|_| {
                        // push_projection checked the indices.
                        Schema::empty()
                    })),
                };
                Arc::new(Decoder {
                    kinds: self.kinds.clone(),
                    built,
                    schema,
                    skip_bad: self.skip_bad,
                    array: self.records.is_array(),
                })
            })
            .clone()
    }

    /// Read the next chunk of records (None at the end of the input).
    fn gather(&mut self) -> Option<Chunk> {
        if let Some(buffer) = self.buffer.take() {
            // The records read to infer the types: decoded again, as the first chunk.
            return Some(buffer);
        }
        if self.read_done {
            return None;
        }
        let rows = self.batch_size.max(1024);
        let mut chunk = Chunk {
            data: Vec::new(),
            records: Vec::new(),
            tail: None,
        };
        while chunk.records.len() < rows && chunk.data.len() < CHUNK_BYTES {
            match self.records.next_bytes(&mut chunk.data) {
                Ok(Some((path, position))) => {
                    chunk.records.push((path, position, chunk.data.len()))
                }
                Ok(None) => {
                    self.read_done = true;
                    break;
                }
                Err(e) => {
                    chunk.tail = Some(e);
                    self.read_done = true;
                    break;
                }
            }
        }
        (!chunk.records.is_empty() || chunk.tail.is_some()).then_some(chunk)
    }
}

impl Source for JsonSource {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Only the selected columns are built; every record is still checked whole, so the
    /// errors are the same with or without `columns=`.
    fn push_projection(&mut self, sorted: &[usize]) -> Result<bool> {
        if self.decoder.is_some() || sorted.iter().any(|&i| i >= self.kinds.len()) {
            return Ok(false);
        }
        self.projection = Some(sorted.to_vec());
        Ok(true)
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        // `gather` borrows the source: the read-ahead state is taken out meanwhile.
        let decoder = self.decoder();
        let mut chunked = std::mem::take(&mut self.chunked);
        let batch = chunked.next_batch(
            self.num_threads,
            || self.gather(),
            move |chunk| decoder.decode(chunk),
        );
        self.chunked = chunked;
        batch
    }

    fn skipped(&self) -> u64 {
        self.skipped + self.chunked.skipped
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn temp(name: &str, data: &[u8]) -> String {
        let dir = std::env::temp_dir().join(format!("fa-json-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::File::create(&path)
            .unwrap()
            .write_all(data)
            .unwrap();
        path.display().to_string()
    }

    fn lines(good: usize, bad_at: Option<usize>) -> Vec<u8> {
        let mut out = String::new();
        for i in 0..good {
            if bad_at == Some(i) {
                out.push_str("{\"a\": \n");
            }
            out.push_str(&format!("{{\"a\": {i}}}\n"));
        }
        if bad_at == Some(good) {
            out.push_str("{\"a\": \n");
        }
        out.into_bytes()
    }

    /// Rows delivered before the first error, and that error.
    fn drain(source: &mut JsonSource) -> (usize, Option<Error>) {
        let mut rows = 0;
        loop {
            match source.next_batch() {
                Ok(Some(b)) => rows += b.num_rows(),
                Ok(None) => return (rows, None),
                Err(e) => return (rows, Some(e)),
            }
        }
    }

    fn open(path: &str, skip: bool) -> Result<JsonSource> {
        JsonSource::open(vec![path.to_string()], false, None, 100, skip, 1)
    }

    #[test]
    fn good_rows_before_an_error_inside_inference_come_first() {
        let path = temp("bad5.jsonl", &lines(5, Some(5)));
        let mut source = open(&path, false).unwrap();
        assert_eq!(source.schema().field(0).data_type(), &DataType::Int64);
        let (rows, error) = drain(&mut source);
        assert_eq!(rows, 5);
        let error = error.expect("the bad line is an error");
        assert!(matches!(
            error,
            Error::DataFormat {
                position: Some(Position::Line(6)),
                ..
            }
        ));
    }

    #[test]
    fn good_rows_before_an_error_after_inference_come_first() {
        let path = temp("bad1500.jsonl", &lines(1500, Some(1500)));
        let (rows, error) = drain(&mut open(&path, false).unwrap());
        assert_eq!(rows, 1500);
        assert!(matches!(error, Some(Error::DataFormat { .. })));
    }

    #[test]
    fn open_fails_only_when_the_first_record_is_bad() {
        let path = temp("bad0.jsonl", &lines(3, Some(0)));
        assert!(matches!(open(&path, false), Err(Error::DataFormat { .. })));
    }

    #[test]
    fn skipped_records_count_once_inside_and_after_inference() {
        let mut data = Vec::new();
        for i in 0..2000 {
            if i % 100 == 7 {
                data.extend_from_slice(b"{\"a\": oops}\n");
            } else {
                data.extend_from_slice(format!("{{\"a\": {i}}}\n").as_bytes());
            }
        }
        let path = temp("skips.jsonl", &data);
        let mut source = open(&path, true).unwrap();
        let (rows, error) = drain(&mut source);
        assert!(error.is_none());
        assert_eq!(rows, 1980);
        assert_eq!(source.skipped(), 20);
    }

    fn nested(levels: usize) -> String {
        // The record object is level 1; each list adds one.
        format!(
            "{{\"a\": {}1{}}}",
            "[".repeat(levels - 1),
            "]".repeat(levels - 1)
        )
    }

    #[test]
    fn nesting_is_bounded_at_63_levels() {
        assert_eq!(MAX_DEPTH, 63);
        let ok = temp("deep63.jsonl", format!("{}\n", nested(63)).as_bytes());
        let (rows, error) = drain(&mut open(&ok, false).unwrap());
        assert_eq!((rows, error.is_none()), (1, true));
        for levels in [64, 100] {
            let data = format!("{}\n{}\n", nested(2), nested(levels));
            let deep = temp(&format!("deep{levels}.jsonl"), data.as_bytes());
            let (rows, error) = drain(&mut open(&deep, false).unwrap());
            assert_eq!(rows, 1);
            match error {
                Some(Error::DataFormat {
                    path,
                    position: Some(Position::Line(2)),
                    message,
                }) => {
                    assert_eq!(path, deep);
                    assert!(message.contains("nested deeper than 63"), "{message}");
                }
                other => panic!("{other:?}"),
            }
            // Skippable.
            let mut source = open(&deep, true).unwrap();
            assert_eq!(drain(&mut source).0, 1);
            assert_eq!(source.skipped(), 1);
        }
    }

    #[test]
    fn every_value_of_a_duplicate_key_is_checked() {
        assert!(check_text(br#"{"a":1e400,"a":1}"#).is_err());
        assert!(check_text(br#"{"a":99999999999999999999,"a":1}"#).is_err());
        assert!(check_text(br#"{"s":"1e400 [[[","a":-1.5e3}"#).is_ok());
        let path = temp("dup.jsonl", b"{\"a\":1}\n{\"a\":1e400,\"a\":1}\n");
        let (rows, error) = drain(&mut open(&path, false).unwrap());
        assert_eq!(rows, 1);
        assert!(matches!(
            error,
            Some(Error::DataFormat {
                position: Some(Position::Line(2)),
                ..
            })
        ));
        // Otherwise the last value wins.
        let path = temp("dup_ok.jsonl", b"{\"a\":1,\"b\":2,\"a\":3}\n");
        let mut source = open(&path, false).unwrap();
        let batch = source.next_batch().unwrap().unwrap();
        use arrow_array::cast::AsArray;
        use arrow_array::types::Int64Type;
        assert_eq!(batch.schema().field(0).name(), "a");
        assert_eq!(batch.column(0).as_primitive::<Int64Type>().value(0), 3);
    }

    #[test]
    fn skippability_is_typed() {
        let kind = |text: &[u8]| parse_record(text, false).err().map(|b| b.kind);
        assert_eq!(kind(b"{\"a\": }"), Some(BadKind::Syntax));
        assert_eq!(kind(nested(64).as_bytes()), Some(BadKind::TooDeep));
        assert_eq!(kind(b"{\"a\": 1e400}"), Some(BadKind::Value));
        assert_eq!(kind(b"[1]"), Some(BadKind::Value));
        assert_eq!(kind(b"{\"a\": 1}"), None);
        // In a JSON document, a syntax error or too deep a record is fatal even under skip.
        let path = temp("doc.json", b"[{\"a\": 1}, {\"a\": 1e400}, {\"a\": oops}]");
        let mut source = JsonSource::open(vec![path], true, None, 100, true, 1).unwrap();
        let (rows, error) = drain(&mut source);
        assert_eq!((rows, source.skipped()), (1, 1));
        assert!(matches!(error, Some(Error::DataFormat { .. })), "{error:?}");
    }

    #[test]
    fn projection_builds_only_the_selected_columns_and_checks_all() {
        let path = temp(
            "proj.jsonl",
            b"{\"a\": 1, \"b\": \"x\", \"c\": [1]}\n{\"a\": 2, \"b\": \"y\", \"c\": [2]}\n",
        );
        let mut source = open(&path, false).unwrap();
        assert!(source.push_projection(&[0, 2]).unwrap());
        let batch = source.next_batch().unwrap().unwrap();
        let names: Vec<_> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["a", "c"]);
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(
            source.schema().fields().len(),
            3,
            "schema() stays the full schema"
        );
        // A bad value in an unselected column is still an error, at the same line.
        let path = temp(
            "proj_bad.jsonl",
            b"{\"a\": 1, \"b\": \"x\"}\n{\"a\": 2, \"b\": 3}\n",
        );
        for project in [false, true] {
            let mut source = open(&path, false).unwrap();
            if project {
                assert!(source.push_projection(&[0]).unwrap());
            }
            let (rows, error) = drain(&mut source);
            assert_eq!(rows, 1);
            assert!(
                matches!(
                    error,
                    Some(Error::SchemaMismatch {
                        position: Some(Position::Line(2)),
                        ..
                    })
                ),
                "{error:?}"
            );
        }
    }
}
