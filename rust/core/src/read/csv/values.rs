//! The value grammar of typed columns (int64, float64, bool) and their builders.

use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array};
use arrow_buffer::{BooleanBuffer, NullBuffer};

use super::chunk::*;
use crate::error::{Error, Position};

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum CType {
    Int,
    Float,
    Bool,
    Str,
}

// The value parsers take a field's bytes: its text is checked for UTF-8 elsewhere, and a
// number's is ASCII by its syntax.

pub(super) fn is_int_syntax(digits: &[u8]) -> bool {
    let digits = digits.strip_prefix(b"-").unwrap_or(digits);
    !digits.is_empty()
        && digits.iter().all(u8::is_ascii_digit)
        && (digits == b"0" || digits[0] != b'0')
}

/// The text of bytes checked to be ASCII.
pub(super) fn ascii(text: &[u8]) -> &str {
    std::str::from_utf8(text).unwrap_or_default()
}

pub(super) fn parse_int(text: &[u8]) -> Option<i64> {
    if is_int_syntax(text) {
        ascii(text).parse::<i64>().ok()
    } else {
        None
    }
}

pub(super) fn is_float_syntax(b: &[u8]) -> bool {
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

pub(super) fn parse_float(text: &[u8]) -> Option<f64> {
    if !is_float_syntax(text) {
        return None;
    }
    ascii(text).parse::<f64>().ok().filter(|f| f.is_finite())
}

pub(super) fn parse_bool(text: &[u8]) -> Option<bool> {
    match text {
        b"true" | b"True" => Some(true),
        b"false" | b"False" => Some(false),
        _ => None,
    }
}

/// Why record `r` of `chunk` cannot be a row of `width` fields: (message, false: not a
/// type mismatch). `utf8_checked`: every field of the chunk is known to be valid UTF-8.
pub(super) fn shape_problem(
    width: usize,
    chunk: &Chunk,
    r: usize,
    utf8_checked: bool,
) -> Option<(String, bool)> {
    let fields = chunk.records[r].fields;
    if fields != width {
        return Some((format!("expected {width} fields, found {fields}"), false));
    }
    if !utf8_checked && chunk.record(r).any(|f| std::str::from_utf8(f).is_err()) {
        return Some(("invalid UTF-8".to_string(), false));
    }
    None
}

/// A typed column's values, appended record by record (a bad record's taken back).
pub(super) struct Values {
    pub(super) data: Data,
    /// Per value: not null.
    pub(super) valid: Vec<bool>,
}

pub(super) enum Data {
    Int(Vec<i64>),
    Float(Vec<f64>),
    Bool(Vec<bool>),
    /// A column outside `columns=`: its values are checked (the same errors with or without
    /// a projection) but not kept.
    Check(CType),
}

impl Values {
    /// Room for `rows` values of type `t` (checked only unless `keep`); `None` for a
    /// string column (its fields are checked as UTF-8 with the whole record).
    pub(super) fn new(t: CType, rows: usize, keep: bool) -> Option<Values> {
        let data = match t {
            CType::Str => return None,
            _ if !keep => Data::Check(t),
            CType::Int => Data::Int(Vec::with_capacity(rows)),
            CType::Float => Data::Float(Vec::with_capacity(rows)),
            CType::Bool => Data::Bool(Vec::with_capacity(rows)),
        };
        Some(Values {
            data,
            valid: Vec::with_capacity(rows),
        })
    }

    /// Append a field's value (empty: null); false if it is not of the column's type.
    pub(super) fn push(&mut self, field: &[u8]) -> bool {
        let empty = field.is_empty();
        let ok = match &mut self.data {
            Data::Int(v) => push_parsed(v, field, parse_int),
            Data::Float(v) => push_parsed(v, field, parse_float),
            Data::Bool(v) => push_parsed(v, field, parse_bool),
            Data::Check(t) => empty || check(*t, field),
        };
        if ok {
            self.valid.push(!empty);
        }
        ok
    }

    pub(super) fn truncate(&mut self, rows: usize) {
        self.valid.truncate(rows);
        match &mut self.data {
            Data::Int(v) => v.truncate(rows),
            Data::Float(v) => v.truncate(rows),
            Data::Bool(v) => v.truncate(rows),
            Data::Check(_) => {}
        }
    }

    /// The column's array (None for a checked-only column).
    pub(super) fn finish(self) -> Option<ArrayRef> {
        let nulls = self
            .valid
            .contains(&false)
            .then(|| NullBuffer::from(self.valid));
        Some(match self.data {
            Data::Int(v) => Arc::new(Int64Array::new(v.into(), nulls)),
            Data::Float(v) => Arc::new(Float64Array::new(v.into(), nulls)),
            Data::Bool(v) => Arc::new(BooleanArray::new(BooleanBuffer::from(v), nulls)),
            Data::Check(_) => return None,
        })
    }
}

/// Whether a non-empty field parses as type `t` (a string always does: UTF-8 is checked
/// with the record).
pub(super) fn check(t: CType, field: &[u8]) -> bool {
    match t {
        CType::Int => parse_int(field).is_some(),
        CType::Float => parse_float(field).is_some(),
        CType::Bool => parse_bool(field).is_some(),
        CType::Str => true,
    }
}

/// Append `parse(field)` to `values` (the type's default if `field` is empty: null); false
/// if it does not parse.
pub(super) fn push_parsed<T: Default>(
    values: &mut Vec<T>,
    field: &[u8],
    parse: impl Fn(&[u8]) -> Option<T>,
) -> bool {
    if field.is_empty() {
        values.push(T::default());
        return true;
    }
    match parse(field) {
        Some(value) => {
            values.push(value);
            true
        }
        None => false,
    }
}

pub(super) fn record_error(path: &str, line: u64, message: String, mismatch: bool) -> Error {
    let (path, position) = (path.to_string(), Some(Position::Line(line)));
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
