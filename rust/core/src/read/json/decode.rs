//! Typed column building from the parsed records, only the projected columns.

use std::borrow::Cow;
use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Float64Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, ListArray, NullArray, RecordBatch, StructArray};
use arrow_buffer::{NullBuffer, OffsetBuffer};
use arrow_schema::{Field, SchemaRef};
use serde_json::{Map, Value};

use super::super::ahead::Decoded;
use super::super::batch_of;
use super::check::is_float_literal;
use super::check::parse_checked;
use super::parse::{self, Obj, J};
use super::{mismatch, struct_fields, Bad, BadKind, Chunk, JType};
use crate::error::{Error, Position, Result};

pub(super) fn fits(kind: &JType, value: &Value, at: &str) -> std::result::Result<(), Bad> {
    fits_inner(kind, value).map_err(|(mut path, message)| {
        path.push(at.to_string());
        path.reverse();
        mismatch(format!("column {:?}: {message}", path.concat()))
    })
}

pub(super) type Misfit = (Vec<String>, String);

pub(super) fn fits_inner(kind: &JType, value: &Value) -> std::result::Result<(), Misfit> {
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

pub(super) fn short(value: &Value) -> String {
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
pub(super) fn fits_j(kind: &JType, value: &J) -> bool {
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
pub(super) fn to_j(value: Value) -> J<'static> {
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

pub(super) fn to_obj(map: Map<String, Value>) -> Obj<'static> {
    map.into_iter()
        .map(|(k, v)| (Cow::Owned(k), to_j(v)))
        .collect()
}

pub(super) fn get<'v, 'a>(obj: &'v Obj<'a>, key: &str) -> Option<&'v J<'a>> {
    obj.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
        .filter(|v| !matches!(v, J::Null))
}

pub(super) fn nulls_of(values: &[Option<&J>]) -> Option<NullBuffer> {
    let nulls = NullBuffer::from_iter(values.iter().map(|v| v.is_some()));
    (nulls.null_count() > 0).then_some(nulls)
}

/// Lists of int64 or float64 (token ids, masks, labels: the common case) straight into
/// the child's builder, without gathering the items first; None for other item types.
fn primitive_items(
    item: &JType,
    values: &[Option<&J>],
    offsets: &mut Vec<i32>,
) -> Option<ArrayRef> {
    let lists = || {
        values.iter().map(|v| match v {
            Some(J::List(items)) => items.as_slice(),
            _ => &[],
        })
    };
    let total = lists().map(<[J]>::len).sum();
    let mut len = 0usize;
    let mut offset = |n: usize| {
        len += n;
        i32::try_from(len).unwrap_or(i32::MAX)
    };
    match item {
        JType::Int => {
            let mut b = Int64Builder::with_capacity(total);
            for items in lists() {
                for x in items {
                    match x {
                        J::Int(i) => b.append_value(*i),
                        _ => b.append_null(),
                    }
                }
                offsets.push(offset(items.len()));
            }
            Some(Arc::new(b.finish()))
        }
        JType::Float => {
            let mut b = Float64Builder::with_capacity(total);
            for items in lists() {
                for x in items {
                    match x {
                        J::Float(f) => b.append_value(*f),
                        // as float(int(text)) in Python.
                        J::Int(i) => b.append_value(*i as f64),
                        _ => b.append_null(),
                    }
                }
                offsets.push(offset(items.len()));
            }
            Some(Arc::new(b.finish()))
        }
        _ => None,
    }
}

/// The array of `values` (None: null) of type `kind` (they fit it).
pub(super) fn build(kind: &JType, values: &[Option<&J>]) -> ArrayRef {
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
            if let Some(child) = primitive_items(item, values, &mut offsets) {
                let field = Arc::new(Field::new("item", item.arrow(), true));
                return Arc::new(ListArray::new(
                    field,
                    OffsetBuffer::new(offsets.into()),
                    child,
                    nulls_of(values),
                ));
            }
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

/// The decoding rules, fixed once the types are inferred; shared by the pool's jobs.
pub(super) struct Decoder {
    /// Every column: each record is checked whole, with or without a projection.
    pub(super) kinds: Vec<(String, JType)>,
    /// The columns built (indices into `kinds`, sorted) and their schema.
    pub(super) built: Vec<usize>,
    pub(super) schema: SchemaRef,
    pub(super) skip_bad: bool,
    pub(super) array: bool,
}

impl Decoder {
    pub(super) fn error(path: &str, position: &Position, b: Bad) -> Error {
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

    pub(super) fn decode(&self, chunk: Chunk) -> Decoded {
        let mut rows = chunk.parsed;
        rows.reserve(chunk.records.len());
        let (mut skipped, mut start, mut error) = (0, 0, None);
        for (path, position, end) in &chunk.records {
            let bytes = &chunk.data[start..*end];
            start = *end;
            if let Some(row) = parse::parse(bytes) {
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
