//! CSV and TSV: one RFC 4180-style grammar (the delimiter differs), types inferred per column.
//!
//! Grammar (identical to the reference): records end at `\n`, `\r\n` or `\r` outside
//! quotes; blank lines are skipped; a field starting with `"` is quoted (`""` is a quote,
//! delimiters and line breaks are literal) and must be followed by a delimiter or a line
//! end; a `"` inside an unquoted field is literal. An unterminated quote or a character
//! after a closing quote is a fatal error. The first record is the header.
//!
//! Types from the first [`INFER_ROWS`] rows: int64 if every non-empty value is
//! `-?(0|[1-9][0-9]*)` within range, else float64 if every one is a JSON-style number
//! (finite), else bool if every one is `true|false|True|False`, else string; a column
//! with no non-empty value is string. Empty fields are null.

use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Float64Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use super::ahead::{Chunked, Decoded};
use super::input::Lines;
use super::{batch_of, Compression, Source, INFER_ROWS};
use crate::error::{Error, Position, Result};

/// Fields of one record, raw bytes, and the line it starts on.
type Record = (u64, Vec<Vec<u8>>);

struct Parser {
    lines: Lines,
    delimiter: u8,
    state: u8,
    fields: Vec<Vec<u8>>,
    field: Vec<u8>,
    start: u64,
    ready: std::collections::VecDeque<Record>,
    eof: bool,
}

impl Parser {
    fn open(path: &str, delimiter: u8, compression: Option<Compression>) -> Result<Self> {
        Ok(Parser {
            lines: Lines::open(path, compression)?,
            delimiter,
            state: 0,
            fields: Vec::new(),
            field: Vec::new(),
            start: 0,
            ready: std::collections::VecDeque::new(),
            eof: false,
        })
    }

    fn end_field(&mut self) {
        self.fields.push(std::mem::take(&mut self.field));
    }

    fn end_record(&mut self) {
        self.end_field();
        let fields = std::mem::take(&mut self.fields);
        self.ready.push_back((self.start, fields));
        self.state = 0;
    }

    /// States: 0 start of record, 1 start of field, 2 unquoted, 3 quoted, 4 quote in quoted.
    fn next_record(&mut self) -> Result<Option<Record>> {
        loop {
            if let Some(r) = self.ready.pop_front() {
                return Ok(Some(r));
            }
            if self.eof {
                return Ok(None);
            }
            let path = self.lines.path.clone();
            let Some((number, line)) = self.lines.next_line()? else {
                self.eof = true;
                if self.state == 3 {
                    return Err(Error::data(
                        path,
                        Some(Position::Line(self.start)),
                        "unterminated quoted field",
                    ));
                }
                continue;
            };
            if self.state == 0 && memchr::memchr2(b'"', b'\r', line).is_none() {
                if !line.is_empty() {
                    let fields = line
                        .split(|&b| b == self.delimiter)
                        .map(<[u8]>::to_vec)
                        .collect();
                    self.ready.push_back((number, fields));
                }
                continue;
            }
            let line = line.to_vec();
            for &byte in line.iter().chain(std::iter::once(&b'\n')) {
                let eol = byte == b'\r' || byte == b'\n';
                if self.state == 0 {
                    if eol {
                        continue;
                    }
                    self.start = number;
                    self.state = 1;
                }
                match self.state {
                    1 => {
                        if byte == b'"' {
                            self.state = 3;
                        } else if byte == self.delimiter {
                            self.end_field();
                        } else if eol {
                            self.end_record();
                        } else {
                            self.field.push(byte);
                            self.state = 2;
                        }
                    }
                    2 => {
                        if byte == self.delimiter {
                            self.end_field();
                            self.state = 1;
                        } else if eol {
                            self.end_record();
                        } else {
                            self.field.push(byte);
                        }
                    }
                    3 => {
                        if byte == b'"' {
                            self.state = 4;
                        } else {
                            self.field.push(byte);
                        }
                    }
                    _ => {
                        if byte == b'"' {
                            self.field.push(b'"');
                            self.state = 3;
                        } else if byte == self.delimiter {
                            self.end_field();
                            self.state = 1;
                        } else if eol {
                            self.end_record();
                        } else {
                            return Err(Error::data(
                                path,
                                Some(Position::Line(number)),
                                "unexpected character after a closing quote",
                            ));
                        }
                    }
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum CType {
    Int,
    Float,
    Bool,
    Str,
}

fn is_int_syntax(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
}

fn parse_int(text: &str) -> Option<i64> {
    if is_int_syntax(text) {
        text.parse::<i64>().ok()
    } else {
        None
    }
}

fn is_float_syntax(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    if b.first() == Some(&b'-') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_part = &b[int_start..i];
    if int_part.is_empty() || (int_part.len() > 1 && int_part[0] == b'0') {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let s = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == s {
            return false;
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let s = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == s {
            return false;
        }
    }
    i == b.len()
}

fn parse_float(text: &str) -> Option<f64> {
    if !is_float_syntax(text) {
        return None;
    }
    text.parse::<f64>().ok().filter(|f| f.is_finite())
}

fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" => Some(true),
        "false" | "False" => Some(false),
        _ => None,
    }
}

struct Raw {
    path: Arc<str>,
    line: u64,
    fields: Vec<Vec<u8>>,
}

fn record_error(raw: &Raw, message: String, mismatch: bool) -> Error {
    let (path, position) = (raw.path.to_string(), Some(Position::Line(raw.line)));
    if mismatch {
        Error::SchemaMismatch {
            path,
            position,
            message,
        }
    } else {
        Error::DataFormat {
            path,
            position,
            message,
        }
    }
}

/// The decoding rules, fixed once the types are inferred; shared by the pool's jobs.
struct Decoder {
    width: usize,
    types: Vec<CType>,
    schema: SchemaRef,
    skip_bad: bool,
}

/// Records split on the caller's thread, decoded on the pool.
struct Chunk {
    records: Vec<Raw>,
    /// The reading error met after these records (they still count).
    tail: Option<Error>,
}

impl Decoder {
    fn decode(&self, raw: &mut Raw) -> std::result::Result<Vec<String>, String> {
        if raw.fields.len() != self.width {
            return Err(format!(
                "expected {} fields, found {}",
                self.width,
                raw.fields.len()
            ));
        }
        std::mem::take(&mut raw.fields)
            .into_iter()
            .map(|f| String::from_utf8(f).map_err(|_| "invalid UTF-8".to_string()))
            .collect()
    }

    fn check(&self, row: &[String]) -> std::result::Result<(), String> {
        for ((text, t), field) in row.iter().zip(&self.types).zip(self.schema.fields()) {
            if text.is_empty() {
                continue;
            }
            let ok = match t {
                CType::Str => true,
                CType::Int => parse_int(text).is_some(),
                CType::Float => parse_float(text).is_some(),
                CType::Bool => parse_bool(text).is_some(),
            };
            if !ok {
                return Err(format!(
                    "column {:?}: {text:?} is not a {}",
                    field.name(),
                    field.data_type()
                ));
            }
        }
        Ok(())
    }

    fn decode_chunk(&self, chunk: Chunk) -> Decoded {
        let mut rows = Vec::with_capacity(chunk.records.len());
        let (mut skipped, mut error) = (0, None);
        for mut raw in chunk.records {
            let problem = match self.decode(&mut raw) {
                Err(m) => Some((m, false)),
                Ok(row) => match self.check(&row) {
                    Ok(()) => {
                        rows.push(row);
                        None
                    }
                    Err(m) => Some((m, true)),
                },
            };
            if let Some((message, mismatch)) = problem {
                if self.skip_bad {
                    skipped += 1;
                } else {
                    error = Some(record_error(&raw, message, mismatch));
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

    fn build(&self, rows: &[Vec<String>]) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = self
            .types
            .iter()
            .enumerate()
            .map(|(i, t)| -> ArrayRef {
                let cells = rows
                    .iter()
                    .map(|r| Some(r[i].as_str()).filter(|s| !s.is_empty()));
                match t {
                    CType::Int => {
                        let mut b = Int64Builder::with_capacity(rows.len());
                        cells.for_each(|c| b.append_option(c.and_then(parse_int)));
                        Arc::new(b.finish())
                    }
                    CType::Float => {
                        let mut b = Float64Builder::with_capacity(rows.len());
                        cells.for_each(|c| b.append_option(c.and_then(parse_float)));
                        Arc::new(b.finish())
                    }
                    CType::Bool => {
                        let mut b = BooleanBuilder::with_capacity(rows.len());
                        cells.for_each(|c| b.append_option(c.and_then(parse_bool)));
                        Arc::new(b.finish())
                    }
                    CType::Str => {
                        let bytes = rows.iter().map(|r| r[i].len()).sum();
                        let mut b = StringBuilder::with_capacity(rows.len(), bytes);
                        cells.for_each(|c| b.append_option(c));
                        Arc::new(b.finish())
                    }
                }
            })
            .collect();
        batch_of(&self.schema, columns, rows.len())
    }
}

/// A chunk ends after this many bytes of fields (or `batch_size` records, at least 1024).
const CHUNK_BYTES: usize = 4 << 20;

pub struct CsvSource {
    paths: Vec<String>,
    next: usize,
    delimiter: u8,
    compression: Option<Compression>,
    current: Option<(Arc<str>, Parser)>,
    header: Option<Vec<String>>,
    skip_bad: bool,
    skipped: u64,
    batch_size: usize,
    num_threads: usize,
    types: Vec<CType>,
    schema: SchemaRef,
    /// Rows read while inferring the types.
    buffer: std::collections::VecDeque<Vec<String>>,
    decoder: Option<Arc<Decoder>>,
    chunked: Chunked,
    read_done: bool,
}

impl CsvSource {
    pub fn open(
        paths: Vec<String>,
        delimiter: u8,
        compression: Option<Compression>,
        batch_size: usize,
        skip_bad: bool,
        num_threads: usize,
    ) -> Result<Self> {
        let mut source = CsvSource {
            paths,
            next: 0,
            delimiter,
            compression,
            current: None,
            header: None,
            skip_bad,
            skipped: 0,
            batch_size,
            num_threads,
            types: Vec::new(),
            schema: Arc::new(Schema::empty()),
            buffer: std::collections::VecDeque::new(),
            decoder: None,
            chunked: Chunked::default(),
            read_done: false,
        };
        source.infer()?;
        Ok(source)
    }

    /// The next data record of the input (headers consumed and checked).
    fn next_raw(&mut self) -> Result<Option<Raw>> {
        loop {
            let Some((path, parser)) = self.current.as_mut() else {
                if self.next >= self.paths.len() {
                    return Ok(None);
                }
                let path = self.paths[self.next].clone();
                self.next += 1;
                let mut parser = Parser::open(&path, self.delimiter, self.compression)?;
                if let Some((line, fields)) = parser.next_record()? {
                    self.set_header(&path, line, fields)?;
                }
                self.current = Some((Arc::from(path.as_str()), parser));
                continue;
            };
            match parser.next_record()? {
                None => self.current = None,
                Some((line, fields)) => {
                    return Ok(Some(Raw {
                        path: path.clone(),
                        line,
                        fields,
                    }))
                }
            }
        }
    }

    fn set_header(&mut self, path: &str, line: u64, fields: Vec<Vec<u8>>) -> Result<()> {
        let position = Some(Position::Line(line));
        let mut names = Vec::with_capacity(fields.len());
        for f in fields {
            match String::from_utf8(f) {
                Ok(s) => names.push(s),
                Err(_) => return Err(Error::data(path, position, "invalid UTF-8 in the header")),
            }
        }
        let unique: std::collections::HashSet<&String> = names.iter().collect();
        if unique.len() != names.len() {
            return Err(Error::data(
                path,
                position,
                "duplicate column names in the header",
            ));
        }
        match &self.header {
            None => self.header = Some(names),
            Some(first) if *first != names => {
                return Err(Error::SchemaMismatch {
                    path: path.to_string(),
                    position,
                    message: format!("header {names:?} differs from the first file's {first:?}"),
                })
            }
            Some(_) => {}
        }
        Ok(())
    }

    fn width(&self) -> usize {
        self.header.as_ref().map(Vec::len).unwrap_or(0)
    }

    fn fail(&mut self, raw: &Raw, message: String, mismatch: bool) -> Result<()> {
        if self.skip_bad {
            self.skipped += 1;
            return Ok(());
        }
        Err(record_error(raw, message, mismatch))
    }

    fn infer(&mut self) -> Result<()> {
        let mut ints: Vec<bool> = Vec::new();
        let mut floats: Vec<bool> = Vec::new();
        let mut bools: Vec<bool> = Vec::new();
        let mut seen: Vec<bool> = Vec::new();
        while self.buffer.len() < INFER_ROWS {
            let Some(mut raw) = self.next_raw()? else {
                break;
            };
            let probe = Decoder {
                width: self.width(),
                types: Vec::new(),
                schema: self.schema.clone(),
                skip_bad: self.skip_bad,
            };
            let row = match probe.decode(&mut raw) {
                Ok(row) => row,
                Err(m) => {
                    self.fail(&raw, m, false)?;
                    continue;
                }
            };
            if seen.is_empty() {
                let n = row.len();
                (ints, floats, bools, seen) =
                    (vec![true; n], vec![true; n], vec![true; n], vec![false; n]);
            }
            for (i, text) in row.iter().enumerate() {
                if text.is_empty() {
                    continue;
                }
                seen[i] = true;
                if ints[i] && parse_int(text).is_none() {
                    ints[i] = false;
                }
                if floats[i] && parse_float(text).is_none() {
                    floats[i] = false;
                }
                if bools[i] && parse_bool(text).is_none() {
                    bools[i] = false;
                }
            }
            self.buffer.push_back(row);
        }
        let names = self.header.clone().unwrap_or_default();
        self.types = (0..names.len())
            .map(|i| {
                if seen.is_empty() || !seen[i] {
                    CType::Str
                } else if ints[i] {
                    CType::Int
                } else if floats[i] {
                    CType::Float
                } else if bools[i] {
                    CType::Bool
                } else {
                    CType::Str
                }
            })
            .collect();
        let fields: Vec<Field> = names
            .iter()
            .zip(&self.types)
            .map(|(name, t)| {
                let dt = match t {
                    CType::Int => DataType::Int64,
                    CType::Float => DataType::Float64,
                    CType::Bool => DataType::Boolean,
                    CType::Str => DataType::Utf8,
                };
                Field::new(name, dt, true)
            })
            .collect();
        self.schema = Arc::new(Schema::new(fields));
        Ok(())
    }

    fn decoder(&mut self) -> Arc<Decoder> {
        if self.decoder.is_none() {
            self.decoder = Some(Arc::new(Decoder {
                width: self.width(),
                types: self.types.clone(),
                schema: self.schema.clone(),
                skip_bad: self.skip_bad,
            }));
        }
        self.decoder.clone().expect("set above")
    }

    /// Split the next chunk of records (None at the end of the input).
    fn gather(&mut self) -> Option<Chunk> {
        if self.read_done {
            return None;
        }
        let rows = self.batch_size.max(1024);
        let mut chunk = Chunk {
            records: Vec::new(),
            tail: None,
        };
        let mut bytes = 0;
        while chunk.records.len() < rows && bytes < CHUNK_BYTES {
            match self.next_raw() {
                Ok(Some(raw)) => {
                    bytes += raw.fields.iter().map(Vec::len).sum::<usize>();
                    chunk.records.push(raw);
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

impl Source for CsvSource {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        if !self.buffer.is_empty() {
            let rows: Vec<Vec<String>> = self.buffer.drain(..).collect();
            return self.decoder().build(&rows).map(Some);
        }
        // `gather` borrows the source: the read-ahead state is taken out meanwhile.
        let decoder = self.decoder();
        let mut chunked = std::mem::take(&mut self.chunked);
        let batch = chunked.next_batch(
            self.num_threads,
            || self.gather(),
            move |chunk| decoder.decode_chunk(chunk),
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
    use super::*;

    #[test]
    fn number_grammar() {
        for ok in ["0", "-0", "12", "-9223372036854775808"] {
            assert!(parse_int(ok).is_some(), "{ok}");
        }
        for no in ["", "-", "01", "+1", "1.0", "9223372036854775808", " 1"] {
            assert!(parse_int(no).is_none(), "{no}");
        }
        for ok in ["0", "1.5", "-0.0", "1e5", "1E+5", "2.5e-3"] {
            assert!(parse_float(ok).is_some(), "{ok}");
        }
        for no in ["", ".5", "1.", "01.5", "nan", "inf", "1e", "1e400", "+1"] {
            assert!(parse_float(no).is_none(), "{no}");
        }
    }
}
