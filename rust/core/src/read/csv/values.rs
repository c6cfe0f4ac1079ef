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

/// `-?(0|[1-9][0-9]*)` within the range of i64, read in one pass (no UTF-8 check of a
/// text that the syntax makes ASCII: that check cost more than the digits).
pub(super) fn parse_int(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() || (digits.len() > 1 && digits[0] == b'0') {
        return None;
    }
    // Accumulated below zero: i64::MIN has no positive counterpart.
    let mut value: i64 = 0;
    for &b in digits {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        value = value.checked_mul(10)?.checked_sub(i64::from(digit))?;
    }
    if negative {
        Some(value)
    } else {
        value.checked_neg()
    }
}

/// The parts of a number in the JSON-style float syntax, or None if `b` is not one.
pub(super) struct FloatSyntax {
    /// Digits before the `.`.
    pub(super) int_digits: usize,
    /// Digits after it.
    pub(super) frac_digits: usize,
    pub(super) exponent: bool,
}

pub(super) fn float_syntax(b: &[u8]) -> Option<FloatSyntax> {
    let mut i = 0;
    if b.first() == Some(&b'-') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    if int_digits == 0 || (int_digits > 1 && b[int_start] == b'0') {
        return None;
    }
    let mut frac_digits = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let s = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == s {
            return None;
        }
        frac_digits = i - s;
    }
    let mut exponent = false;
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        exponent = true;
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let s = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == s {
            return None;
        }
    }
    (i == b.len()).then_some(FloatSyntax {
        int_digits,
        frac_digits,
        exponent,
    })
}

/// Exact powers of ten as f64 (10^22 is the largest).
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

pub(super) fn parse_float(text: &[u8]) -> Option<f64> {
    let syntax = float_syntax(text)?;
    let digits = syntax.int_digits + syntax.frac_digits;
    if !syntax.exponent && digits <= 15 {
        // Clinger's fast path: at most 15 digits are an exact f64 below 2^53, and so is a
        // power of ten up to 10^22; one division of exact values is correctly rounded,
        // the same f64 as the full parse (the common case, without its setup).
        let mut mantissa: u64 = 0;
        for &b in text {
            if b.is_ascii_digit() {
                mantissa = mantissa * 10 + u64::from(b - b'0');
            }
        }
        let value = mantissa as f64 / POW10[syntax.frac_digits];
        return Some(if text[0] == b'-' { -value } else { value });
    }
    // SAFETY: the float syntax admits only ASCII bytes.
    let text = unsafe { std::str::from_utf8_unchecked(text) };
    text.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Whether `text` parses as a (finite) float, without computing it where the syntax
/// alone tells: without an exponent, up to 300 digits before the point stay below f64's
/// largest value (1.8e308).
pub(super) fn is_float(text: &[u8]) -> bool {
    match float_syntax(text) {
        Some(s) if !s.exponent && s.int_digits <= 300 => true,
        Some(_) => parse_float(text).is_some(),
        None => false,
    }
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
    /// Per value: not null (nothing for a checked-only column).
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
        // A checked-only column keeps no validity either.
        let rows = if matches!(data, Data::Check(_)) {
            0
        } else {
            rows
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
            Data::Check(t) => return empty || check(*t, field),
        };
        if ok {
            self.valid.push(!empty);
        }
        ok
    }

    /// [`Values::push`], a null in place of a value that does not parse (false then).
    pub(super) fn push_or_null(&mut self, field: &[u8]) -> bool {
        if self.push(field) {
            return true;
        }
        self.push(b"");
        false
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

impl Values {
    /// Append every field of `column` (spans of `source`), one loop per type: a field
    /// that is not of the column's type appends a null and its row to `bad`. A checked-only
    /// column keeps nothing.
    pub(super) fn push_column(&mut self, column: &Column, source: &[u8], bad: &mut Vec<usize>) {
        let valid = &mut self.valid;
        match &mut self.data {
            Data::Int(v) => push_all(v, valid, column, source, parse_int, bad),
            Data::Float(v) => push_all(v, valid, column, source, parse_float, bad),
            Data::Bool(v) => push_all(v, valid, column, source, parse_bool, bad),
            Data::Check(t) => {
                for i in 0..column.len() {
                    let field = column.field(i, source);
                    if !field.is_empty() && !check(*t, field) {
                        bad.push(i);
                    }
                }
            }
        }
    }

    /// Keep the values of the rows marked in `keep` (one mark per value pushed).
    pub(super) fn retain(&mut self, keep: &[bool]) {
        fn retain<T>(values: &mut Vec<T>, keep: &[bool]) {
            let mut marks = keep.iter();
            values.retain(|_| *marks.next().unwrap_or(&true));
        }
        retain(&mut self.valid, keep);
        match &mut self.data {
            Data::Int(v) => retain(v, keep),
            Data::Float(v) => retain(v, keep),
            Data::Bool(v) => retain(v, keep),
            Data::Check(_) => {}
        }
    }
}

/// The loop of [`Values::push_column`] for one type.
fn push_all<T: Default>(
    values: &mut Vec<T>,
    valid: &mut Vec<bool>,
    column: &Column,
    source: &[u8],
    parse: impl Fn(&[u8]) -> Option<T>,
    bad: &mut Vec<usize>,
) {
    for i in 0..column.len() {
        let field = column.field(i, source);
        let value = if field.is_empty() {
            None
        } else {
            let value = parse(field);
            if value.is_none() {
                bad.push(i);
            }
            value
        };
        valid.push(value.is_some());
        values.push(value.unwrap_or_default());
    }
}

/// Whether a non-empty field parses as type `t` (a string always does: UTF-8 is checked
/// with the record).
pub(super) fn check(t: CType, field: &[u8]) -> bool {
    match t {
        CType::Int => parse_int(field).is_some(),
        CType::Float => is_float(field),
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
