//! Decoding a chunk of records into a batch of the projected columns: the fast path
//! ([`Columns`]) first, `serde_json` for the records it gives up on.

use std::borrow::Cow;
use std::sync::Mutex;

use arrow_schema::SchemaRef;
use serde_json::{Map, Value};

use super::super::ahead::Decoded;
use super::super::batch_of;
use super::check::is_float_literal;
use super::check::parse_checked;
use super::direct::Columns;
use super::parse::{Obj, J};
use super::{mismatch, Bad, BadKind, Chunk, JType};
use crate::error::{Error, Position};

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
// The slow path's values as a light tree (the fast path decodes text straight into columns)

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
/// The decoding rules, fixed once the types are inferred; shared by the pool's jobs.
pub(super) struct Decoder {
    /// Every column: each record is checked whole, with or without a projection.
    pub(super) kinds: Vec<(String, JType)>,
    /// The columns built (indices into `kinds`, sorted) and their schema.
    pub(super) built: Vec<usize>,
    pub(super) schema: SchemaRef,
    pub(super) skip_bad: bool,
    pub(super) array: bool,
    /// The column sizes of the last chunk decoded and its record count: the next chunks
    /// reserve their builders from it.
    pub(super) sizes: Mutex<Option<(Vec<usize>, usize)>>,
    /// Chunk buffers decoded and given back, for the reader to fill again (their pages are
    /// in memory already; fresh ones would be faulted in and zeroed).
    pub(super) spare: Mutex<Vec<Vec<u8>>>,
}

/// Chunk buffers kept for reuse (the read-ahead holds a few chunks at a time).
const SPARE_BUFFERS: usize = 8;

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

    /// A chunk buffer to fill (a decoded chunk's, emptied, or a new one).
    pub(super) fn buffer(&self, capacity: usize) -> Vec<u8> {
        let spare = self.spare.lock().unwrap_or_else(|e| e.into_inner()).pop();
        spare.unwrap_or_else(|| Vec::with_capacity(capacity))
    }

    fn give_back(&self, mut data: Vec<u8>) {
        data.clear();
        let mut spare = self.spare.lock().unwrap_or_else(|e| e.into_inner());
        if data.capacity() > 0 && spare.len() < SPARE_BUFFERS {
            spare.push(data);
        }
    }

    pub(super) fn decode(&self, chunk: Chunk) -> Decoded {
        let mut columns = Columns::new(&self.kinds, &self.built);
        let rows = chunk.parsed.len() + chunk.records.len();
        if let Some((sizes, seen)) = self
            .sizes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            columns.reserve(rows, sizes, *seen);
        }
        for row in &chunk.parsed {
            columns.push_obj(row);
        }
        let (mut skipped, mut error) = (0, None);
        for (path, position, start, end) in &chunk.records {
            let bytes = &chunk.data[*start..*end];
            if columns.push_text(bytes) {
                continue;
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
                Ok(row) => columns.push_obj(&to_obj(row)),
                Err(_) if self.skip_bad => skipped += 1,
                Err(b) => {
                    error = Some(Self::error(path, position, b));
                    break;
                }
            }
        }
        let error = error.or(chunk.tail);
        self.give_back(chunk.data);
        let rows = columns.len();
        if rows > 0 {
            *self.sizes.lock().unwrap_or_else(|e| e.into_inner()) = Some((columns.sizes(), rows));
        }
        let (batch, error) = match (rows == 0, error) {
            (true, error) => (None, error),
            (false, error) => match batch_of(&self.schema, columns.finish(), rows) {
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
