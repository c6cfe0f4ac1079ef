//! The fast path: a record's text decoded straight into the typed column builders, guided
//! by the inferred types (no value tree, no allocation per record). Unselected columns are
//! parsed and checked against their type but not stored, so `columns=` changes nothing but
//! the work.
//!
//! It accepts only records that `serde_json` accepts, that pass the reading rules (numbers
//! in range, depth) and that fit the inferred schema, and stores the same values. On
//! anything else (a syntax error, a lone surrogate, a duplicate key, a control character in
//! a string, invalid UTF-8, a value of another type, an unknown key, ...) it gives up, the
//! record's values are undone and the record takes the `serde_json` path, which decides and
//! words the error.

use arrow_array::ArrayRef;

use super::builders::{offset, Col, StructCol};
use super::cursor::{Cursor, Num};
use super::parse::Obj;
use super::JType;

/// The columns of a chunk: built ones (the projection) and checked-only ones.
pub(super) struct Columns {
    names: Vec<String>,
    kinds: Vec<JType>,
    /// None: a column outside the projection, checked but not built.
    cols: Vec<Option<Col>>,
    seen: Vec<u32>,
    stamp: u32,
    len: usize,
    /// Unescaped keys and skipped strings (kept across records).
    scratch: Vec<u8>,
}

impl Columns {
    /// `built`: the indices (sorted) of the columns to build.
    pub(super) fn new(kinds: &[(String, JType)], built: &[usize]) -> Self {
        Columns {
            names: kinds.iter().map(|(k, _)| k.clone()).collect(),
            kinds: kinds.iter().map(|(_, k)| k.clone()).collect(),
            cols: kinds
                .iter()
                .enumerate()
                .map(|(i, (_, k))| built.binary_search(&i).is_ok().then(|| Col::new(k)))
                .collect(),
            seen: vec![0; kinds.len()],
            stamp: 0,
            len: 0,
            scratch: Vec::new(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Decode one record's text: true if it is stored, false if the fast path gave up (and
    /// nothing of it is stored).
    pub(super) fn push_text(&mut self, bytes: &[u8]) -> bool {
        let len = self.len;
        let mut cursor = Cursor {
            b: bytes,
            i: 0,
            scratch: std::mem::take(&mut self.scratch),
        };
        let stored = self.record(&mut cursor).is_some();
        self.scratch = cursor.scratch;
        if !stored {
            self.cols
                .iter_mut()
                .flatten()
                .for_each(|col| col.truncate(len));
            self.len = len;
        }
        stored
    }

    /// A record of the `serde_json` path or of the inference prefix (it fits the schema).
    pub(super) fn push_obj(&mut self, obj: &Obj) {
        for (name, col) in self.names.iter().zip(&mut self.cols) {
            let Some(col) = col else { continue };
            match obj.iter().find(|(k, _)| k == name) {
                Some((_, value)) => col.push_j(value),
                None => col.push_null(),
            }
        }
        self.len += 1;
    }

    /// The sizes of the built columns (see [`Col::sizes`]), to size the next chunk's.
    pub(super) fn sizes(&self) -> Vec<usize> {
        let mut out = Vec::new();
        self.cols
            .iter()
            .flatten()
            .for_each(|col| col.sizes(&mut out));
        out
    }

    /// Room for `rows` records, from the `sizes` of `seen` records of an earlier chunk.
    pub(super) fn reserve(&mut self, rows: usize, sizes: &[usize], seen: usize) {
        let mut sizes = sizes.iter();
        for col in self.cols.iter_mut().flatten() {
            col.reserve(&mut sizes, rows, seen);
        }
    }

    /// The built columns, in schema order.
    pub(super) fn finish(self) -> Vec<ArrayRef> {
        self.cols.into_iter().flatten().map(Col::finish).collect()
    }

    fn record(&mut self, c: &mut Cursor) -> Option<()> {
        c.ws();
        if c.peek()? != b'{' {
            return None;
        }
        // The record object is level 1 (never beyond MAX_DEPTH): its values are level 2.
        c.i += 1;
        self.stamp = next_stamp(self.stamp, &mut self.seen);
        c.ws();
        if c.peek()? == b'}' {
            c.i += 1;
        } else {
            loop {
                let k = c.key_index(&self.names)?;
                if self.seen[k] == self.stamp {
                    return None; // a duplicate key: serde_json keeps the last
                }
                self.seen[k] = self.stamp;
                c.colon()?;
                match &mut self.cols[k] {
                    Some(col) => value(c, col, 2)?,
                    None => check(c, &self.kinds[k], 2)?,
                }
                if c.separator_or_close(b'}')? {
                    break;
                }
            }
        }
        c.ws();
        if c.i != c.b.len() {
            return None;
        }
        for (col, seen) in self.cols.iter_mut().zip(&self.seen) {
            if let Some(col) = col {
                if *seen != self.stamp {
                    col.push_null();
                }
            }
        }
        self.len += 1;
        Some(())
    }
}

/// The stamp of a new object (`seen[i] == stamp`: key i met in it); the marks are reset
/// when the counter wraps.
fn next_stamp(stamp: u32, seen: &mut [u32]) -> u32 {
    match stamp.wrapping_add(1) {
        0 => {
            seen.iter_mut().for_each(|s| *s = 0);
            1
        }
        next => next,
    }
}

/// A value (at nesting `depth`) into the builder of its type.
fn value(c: &mut Cursor, col: &mut Col, depth: usize) -> Option<()> {
    if c.peek()? == b'n' {
        c.literal(b"null")?;
        col.push_null();
        return Some(());
    }
    match col {
        // Only null fits a column inferred as null.
        Col::Null(_) => return None,
        Col::Bool(values, valid) => {
            values.push(c.boolean()?);
            valid.push(true);
        }
        Col::Int(values, valid) => match c.number()? {
            Num::Int(i) => {
                values.push(i);
                valid.push(true);
            }
            Num::Float(_) => return None,
        },
        Col::Float(values, valid) => {
            values.push(match c.number()? {
                // as float(int(text)) in Python: "-0" is 0.0, large ints round to nearest.
                Num::Int(i) => i as f64,
                Num::Float(f) => f,
            });
            valid.push(true);
        }
        Col::Str {
            offsets,
            data,
            valid,
        } => {
            if c.peek()? != b'"' {
                return None;
            }
            c.i += 1;
            c.string_body(data)?;
            offsets.push(offset(data.len()));
            valid.push(true);
        }
        Col::List {
            offsets,
            valid,
            item,
            ..
        } => {
            c.open(b'[', depth)?;
            if c.peek()? == b']' {
                c.i += 1;
            } else if let Col::Int(values, valid) = item.as_mut() {
                // Token lists (the common case): items decoded in place, not a call each.
                loop {
                    if c.peek()? == b'n' {
                        c.literal(b"null")?;
                        values.push(0);
                        valid.push(false);
                    } else {
                        match c.number()? {
                            Num::Int(i) => values.push(i),
                            Num::Float(_) => return None,
                        }
                        valid.push(true);
                    }
                    // Most often a comma right after the number.
                    if c.peek() == Some(b',') {
                        c.i += 1;
                        c.ws();
                    } else if c.separator_or_close(b']')? {
                        break;
                    }
                }
            } else {
                loop {
                    value(c, item, depth + 1)?;
                    if c.separator_or_close(b']')? {
                        break;
                    }
                }
            }
            offsets.push(offset(item.len()));
            valid.push(true);
        }
        Col::Struct(s) => object(c, s, depth)?,
    }
    Some(())
}

fn object(c: &mut Cursor, s: &mut StructCol, depth: usize) -> Option<()> {
    c.open(b'{', depth)?;
    s.begin();
    if c.peek()? == b'}' {
        c.i += 1;
    } else {
        loop {
            let k = c.key_index(&s.names)?;
            if s.seen[k] == s.stamp {
                return None;
            }
            s.seen[k] = s.stamp;
            c.colon()?;
            value(c, &mut s.fields[k], depth + 1)?;
            if c.separator_or_close(b'}')? {
                break;
            }
        }
    }
    s.end();
    Some(())
}

/// A value (at nesting `depth`) checked against its type, not stored (an unselected column).
fn check(c: &mut Cursor, kind: &JType, depth: usize) -> Option<()> {
    if c.peek()? == b'n' {
        return c.literal(b"null");
    }
    match kind {
        JType::Null => None,
        JType::Bool => c.boolean().map(drop),
        JType::Int => match c.number_checked()? {
            Num::Int(_) => Some(()),
            Num::Float(_) => None,
        },
        JType::Float => c.number_checked().map(drop),
        JType::Str => {
            if c.peek()? != b'"' {
                return None;
            }
            c.i += 1;
            let mut scratch = std::mem::take(&mut c.scratch);
            scratch.clear();
            let ok = c.string_body(&mut scratch);
            c.scratch = scratch;
            ok
        }
        JType::List(item) => {
            c.open(b'[', depth)?;
            if c.peek()? == b']' {
                c.i += 1;
                return Some(());
            }
            if **item == JType::Int {
                return c.check_ints();
            }
            loop {
                check(c, item, depth + 1)?;
                if c.separator_or_close(b']')? {
                    return Some(());
                }
            }
        }
        JType::Struct(fields) => {
            c.open(b'{', depth)?;
            if c.peek()? == b'}' {
                c.i += 1;
                return Some(());
            }
            // Duplicate keys are found with a bit per field: wider structs take the slow path.
            if fields.len() > 64 {
                return None;
            }
            let mut seen = 0u64;
            loop {
                let k = c.key_index_of(fields.iter().map(|(name, _)| name.as_str()))?;
                if seen & (1 << k) != 0 {
                    return None;
                }
                seen |= 1 << k;
                c.colon()?;
                check(c, &fields[k].1, depth + 1)?;
                if c.separator_or_close(b'}')? {
                    return Some(());
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "direct_tests.rs"]
mod tests;
