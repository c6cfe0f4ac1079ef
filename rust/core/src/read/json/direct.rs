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
use super::parse::Obj;
use super::{JType, MAX_DEPTH};

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

/// How many of the eight bytes of `word` (the first in its lowest byte) are ASCII digits
/// before the first other byte (8: all of them).
#[inline]
fn leading_digits(word: u64) -> usize {
    let x = word ^ 0x3030_3030_3030_3030; // a digit byte becomes its value, 0..=9
                                          // A byte is not a digit when it is now >= 10: adding 0x76 reaches its high bit (or the
                                          // bit was set). A carry only runs into later bytes, past the first non-digit.
    let not_digit = (x.wrapping_add(0x7676_7676_7676_7676) | x) & 0x8080_8080_8080_8080;
    (not_digit.trailing_zeros() / 8) as usize
}

/// The value of the first `n` (1..=7) bytes of `word`, all digits.
#[inline(always)]
fn digits_value(word: u64, n: usize) -> i64 {
    // The digits moved to the top bytes, zeros (leading zero digits) below: eight digits.
    let x = (word ^ 0x3030_3030_3030_3030) << (8 * (8 - n));
    // Pairs, then quads, then the eight: each step joins neighbouring lanes.
    let x = (x & 0x0F0F_0F0F_0F0F_0F0F).wrapping_mul(10 * 256 + 1) >> 8;
    let x = (x & 0x00FF_00FF_00FF_00FF).wrapping_mul(100 * 65536 + 1) >> 16;
    let x = (x & 0x0000_FFFF_0000_FFFF).wrapping_mul(10000 * (1 << 32) + 1) >> 32;
    x as i64
}

enum Num {
    Int(i64),
    Float(f64),
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
    scratch: Vec<u8>,
}

impl Cursor<'_> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    #[inline]
    fn literal(&mut self, text: &[u8]) -> Option<()> {
        if self.b[self.i..].starts_with(text) {
            self.i += text.len();
            Some(())
        } else {
            None
        }
    }

    fn boolean(&mut self) -> Option<bool> {
        match self.peek()? {
            b't' => self.literal(b"true").map(|()| true),
            b'f' => self.literal(b"false").map(|()| false),
            _ => None,
        }
    }

    /// At `[` or `{` (anything else gives up) of a container at nesting `depth`; past it
    /// and its whitespace.
    fn open(&mut self, bracket: u8, depth: usize) -> Option<()> {
        if self.peek()? != bracket || depth > MAX_DEPTH {
            return None;
        }
        self.i += 1;
        self.ws();
        Some(())
    }

    /// The `:` after a key, with the whitespace around it.
    fn colon(&mut self) -> Option<()> {
        self.ws();
        if self.peek()? != b':' {
            return None;
        }
        self.i += 1;
        self.ws();
        Some(())
    }

    /// After a container's item: `,` (false: another item follows) or `close` (true: the
    /// container ends); anything else gives up (None).
    #[inline]
    fn separator_or_close(&mut self, close: u8) -> Option<bool> {
        self.ws();
        let b = self.peek()?;
        if b != b',' && b != close {
            return None;
        }
        self.i += 1;
        if b == b',' {
            self.ws();
        }
        Some(b == close)
    }

    /// The items of a list of int64 (past its `[`, at least one), up to and past its `]`:
    /// checked as [`check`] would, without a call per item (token lists left unselected).
    fn check_ints(&mut self) -> Option<()> {
        loop {
            if self.peek()? == b'n' {
                self.literal(b"null")?;
            } else if let Num::Float(_) = self.number_checked()? {
                return None;
            }
            if self.peek() == Some(b',') {
                self.i += 1;
                self.ws();
            } else if self.separator_or_close(b']')? {
                return Some(());
            }
        }
    }

    /// The index among `names` of the key at the cursor (at its opening quote); None if it
    /// is not one of them (an unknown key is the slow path's mismatch error).
    fn key_index(&mut self, names: &[String]) -> Option<usize> {
        self.key_index_of(names.iter().map(String::as_str))
    }

    fn key_index_of<'n>(&mut self, mut names: impl Iterator<Item = &'n str>) -> Option<usize> {
        if self.peek()? != b'"' {
            return None;
        }
        self.i += 1;
        let start = self.i;
        let k = memchr::memchr2(b'"', b'\\', &self.b[start..])?;
        if self.b[start + k] == b'"' {
            let key = &self.b[start..start + k];
            if key.iter().any(|&c| c < 0x20) {
                return None;
            }
            self.i = start + k + 1;
            return names.position(|name| name.as_bytes() == key);
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let found = self
            .string_body(&mut scratch)
            .and_then(|()| names.position(|name| name.as_bytes() == scratch.as_slice()));
        self.scratch = scratch;
        found
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - start
    }

    /// A number (the cursor at its first byte; anything but `-` or a digit gives up).
    #[inline(always)]
    fn number(&mut self) -> Option<Num> {
        self.number_as::<true>()
    }

    /// A number checked, its value not needed (an unselected column): an integer of up to
    /// 7 digits is `Num::Int(0)`, not summed.
    #[inline(always)]
    fn number_checked(&mut self) -> Option<Num> {
        self.number_as::<false>()
    }

    #[inline(always)]
    fn number_as<const VALUE: bool>(&mut self) -> Option<Num> {
        let start = self.i;
        let negative = self.peek() == Some(b'-');
        let int_start = start + usize::from(negative);
        let (n, magnitude) = match self.b.get(int_start..int_start + 8) {
            // Token ids and the like: up to 7 digits found and summed eight bytes at once.
            Some(eight) => {
                let word = u64::from_le_bytes(eight.try_into().unwrap_or_default());
                match leading_digits(word) {
                    n @ 0..=7 if VALUE => (n, digits_value(word, n)),
                    n @ 0..=7 => (n, 0),
                    _ => self.sum_digits(int_start),
                }
            }
            None => self.sum_digits(int_start),
        };
        let i = int_start + n;
        let n = i - int_start;
        if n == 0 || (n > 1 && self.b[int_start] == b'0') {
            return None;
        }
        self.i = i;
        if let Some(b'.' | b'e' | b'E') = self.peek() {
            return self.float_tail(start);
        }
        if n <= 18 {
            // Up to 18 digits always fit an i64.
            return Some(Num::Int(if negative { -magnitude } else { magnitude }));
        }
        // ASCII digits and a sign only: always UTF-8.
        let text = std::str::from_utf8(&self.b[start..self.i]).ok()?;
        text.parse::<i64>().ok().map(Num::Int)
    }

    /// The digits from `from` and their sum (wrapping: past 18 digits the sum is not used,
    /// str::parse decides).
    fn sum_digits(&self, from: usize) -> (usize, i64) {
        let (mut i, mut magnitude) = (from, 0i64);
        while let Some(&d) = self.b.get(i) {
            let d = d.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            magnitude = magnitude.wrapping_mul(10).wrapping_add(i64::from(d));
            i += 1;
        }
        (i - from, magnitude)
    }

    /// The fraction and exponent of a float (the cursor past its integer digits), then its
    /// value from the whole text (`start`).
    #[cold]
    fn float_tail(&mut self, start: usize) -> Option<Num> {
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return None;
            }
        }
        let text = std::str::from_utf8(&self.b[start..self.i]).ok()?;
        let f = text.parse::<f64>().ok()?;
        f.is_finite().then_some(Num::Float(f))
    }

    /// A string's content (the cursor past its opening quote), unescaped onto `out`, up to
    /// and past its closing quote.
    fn string_body(&mut self, out: &mut Vec<u8>) -> Option<()> {
        let from = out.len();
        loop {
            let k = memchr::memchr2(b'"', b'\\', &self.b[self.i..])?;
            let span = &self.b[self.i..self.i + k];
            if span.iter().any(|&c| c < 0x20) {
                return None;
            }
            out.extend_from_slice(span);
            self.i += k + 1;
            if self.b[self.i - 1] == b'"' {
                break;
            }
            // After a backslash.
            let c = self.peek()?;
            self.i += 1;
            match c {
                b'"' => out.push(b'"'),
                b'\\' => out.push(b'\\'),
                b'/' => out.push(b'/'),
                b'b' => out.push(8),
                b'f' => out.push(12),
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                b't' => out.push(b'\t'),
                b'u' => {
                    let ch = self.unicode_escape()?;
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                _ => return None,
            }
        }
        // Raw bytes between escapes are checked as a whole (escapes are UTF-8 already).
        std::str::from_utf8(&out[from..]).ok().map(drop)
    }

    /// The character of a `\u` escape (past the `u`): a surrogate pair, or none.
    fn unicode_escape(&mut self) -> Option<char> {
        let hi = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&hi) {
            if !self.b[self.i..].starts_with(b"\\u") {
                return None;
            }
            self.i += 2;
            let lo = self.hex4()?;
            if !(0xDC00..0xE000).contains(&lo) {
                return None;
            }
            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
        } else if (0xDC00..0xE000).contains(&hi) {
            return None;
        } else {
            hi
        };
        char::from_u32(code)
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.b.get(self.i..self.i + 4)?;
        let mut code = 0u32;
        for &d in digits {
            code = code * 16 + (d as char).to_digit(16)?;
        }
        self.i += 4;
        Some(code)
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type};
    use arrow_array::Array;

    use super::*;

    fn kinds(pairs: &[(&str, JType)]) -> Vec<(String, JType)> {
        pairs
            .iter()
            .map(|(k, t)| (k.to_string(), t.clone()))
            .collect()
    }

    fn all(kinds: &[(String, JType)]) -> Columns {
        Columns::new(kinds, &(0..kinds.len()).collect::<Vec<_>>())
    }

    #[test]
    fn decodes_common_records_into_their_columns() {
        let schema = kinds(&[
            ("a", JType::Int),
            ("b", JType::List(Box::new(JType::Float))),
            ("c", JType::Str),
            ("d", JType::Null),
            ("e", JType::Struct(kinds(&[("f", JType::Bool)]))),
        ]);
        let mut columns = all(&schema);
        let record = br#" {"a": 1, "b": [1.5, -0, 2e3], "c": "x\"\u00e9\ud83d\ude00", "d": null, "e": {"f": true}} "#;
        assert!(columns.push_text(record));
        assert!(columns.push_text(br#"{"c": "plain", "b": null}"#));
        assert_eq!(columns.len(), 2);
        let arrays = columns.finish();
        let a = arrays[0].as_primitive::<Int64Type>();
        assert_eq!((a.value(0), a.is_null(1)), (1, true));
        let b = arrays[1].as_list::<i32>();
        assert_eq!(b.value_offsets(), &[0, 3, 3]);
        assert!(b.is_null(1));
        let items = b.values().as_primitive::<Float64Type>();
        assert_eq!(items.values(), &[1.5, 0.0, 2000.0]);
        let c = arrays[2].as_string::<i32>();
        assert_eq!((c.value(0), c.value(1)), ("x\"\u{e9}\u{1F600}", "plain"));
        assert_eq!(arrays[3].len(), 2);
        let e = arrays[4].as_struct();
        assert!(e.is_valid(0) && e.is_null(1));
        assert!(e.column(0).as_boolean().value(0));
    }

    #[test]
    fn gives_up_on_the_rest_and_stores_nothing_of_it() {
        let schema = kinds(&[
            ("a", JType::Int),
            ("s", JType::Str),
            ("l", JType::List(Box::new(JType::Int))),
        ]);
        for bad in [
            &b"[1]"[..],
            b"{\"a\": 01}",
            b"{\"a\": 1,}",
            b"{\"a\": 1} x",
            b"{\"a\": 1, \"a\": 2}",
            b"{\"s\": \"\\ud800\"}",
            b"{\"s\": \"\\udc00\"}",
            b"{\"s\": \"\t\"}",
            b"{\"s\": \"\xff\"}",
            b"{\"a\": 9223372036854775808}",
            b"{\"a\": 1e400}",
            b"{\"a\": 1.5}",
            b"{\"a\": NaN}",
            b"{\"a\": 1.}",
            b"{\"a\": -}",
            b"{\"a\" 1}",
            b"{\"s\": \"x}",
            b"{\"s\": 1}",
            b"{\"b\": 1}",
            b"{\"a\": 1, \"l\": [1, 2, 3.5]}",
            b"{\"l\": [1, 2], \"s\": \"ok\", \"a\": true}",
        ] {
            let mut columns = all(&schema);
            assert!(columns.push_text(b"{\"a\": 7, \"s\": \"x\", \"l\": [9]}"));
            let shown = String::from_utf8_lossy(bad).into_owned();
            assert!(!columns.push_text(bad), "{shown}");
            assert_eq!(columns.len(), 1, "{shown}");
            let arrays = columns.finish();
            assert!(arrays.iter().all(|a| a.len() == 1), "{shown}");
            let l = arrays[2].as_list::<i32>();
            assert_eq!(l.values().len(), 1, "{shown}");
            assert_eq!(arrays[1].as_string::<i32>().value_data(), b"x", "{shown}");
        }
    }

    #[test]
    fn nesting_is_bounded_like_the_slow_path() {
        let mut item = JType::Int;
        for _ in 0..62 {
            item = JType::List(Box::new(item));
        }
        let schema = kinds(&[("a", item.clone())]);
        // The record object is level 1: 62 lists inside it reach MAX_DEPTH (63).
        let deep = format!("{{\"a\": {}1{}}}", "[".repeat(62), "]".repeat(62));
        assert!(all(&schema).push_text(deep.as_bytes()));
        assert!(Columns::new(&schema, &[]).push_text(deep.as_bytes()));
        let schema = kinds(&[("a", JType::List(Box::new(item)))]);
        let deeper = format!("{{\"a\": {}1{}}}", "[".repeat(63), "]".repeat(63));
        assert!(!all(&schema).push_text(deeper.as_bytes()));
        assert!(!Columns::new(&schema, &[]).push_text(deeper.as_bytes()));
    }

    #[test]
    fn unselected_columns_are_checked_not_built() {
        let nested = JType::Struct(kinds(&[("x", JType::Int), ("y", JType::Str)]));
        let schema = kinds(&[
            ("a", JType::Int),
            ("b", JType::List(Box::new(JType::Float))),
            ("c", nested),
            ("t", JType::List(Box::new(JType::Int))),
        ]);
        let mut columns = Columns::new(&schema, &[0]);
        assert!(columns.push_text(br#"{"a": 1, "b": [1, 2.5, null], "c": {"y": "\n", "x": 3}}"#));
        assert!(columns.push_text(br#"{"a": 2, "t": [1, null ,-3,4 , 99999999999]}"#));
        for bad in [
            &br#"{"a": 3, "t": [1, 1.5]}"#[..],
            br#"{"a": 3, "t": [01]}"#,
            br#"{"a": 3, "t": [1,,2]}"#,
            br#"{"a": 3, "t": [1 2]}"#,
            br#"{"a": 3, "t": [1,]}"#,
            br#"{"a": 3, "t": [9223372036854775808]}"#,
            br#"{"a": 3, "t": [nul]}"#,
        ] {
            assert!(!columns.push_text(bad), "{}", String::from_utf8_lossy(bad));
        }
        for bad in [
            &br#"{"a": 2, "b": [1, "x"]}"#[..],
            br#"{"a": 2, "c": {"x": 1, "x": 2}}"#,
            br#"{"a": 2, "c": {"z": 1}}"#,
            br#"{"a": 2, "c": {"x": 1.5}}"#,
            br#"{"a": 2, "b": [1e400]}"#,
            br#"{"a": 2, "c": {"y": "\ud800"}}"#,
        ] {
            assert!(!columns.push_text(bad), "{}", String::from_utf8_lossy(bad));
        }
        let arrays = columns.finish();
        assert_eq!(arrays.len(), 1);
        assert_eq!(arrays[0].as_primitive::<Int64Type>().values(), &[1, 2]);
    }

    #[test]
    fn digits_found_and_summed_eight_at_once_agree_with_str_parse() {
        let schema = kinds(&[("l", JType::List(Box::new(JType::Int)))]);
        let mut texts: Vec<String> = (0..20_000)
            .map(|i| (i * 7919 % 100_003).to_string())
            .collect();
        texts.extend(
            [
                "0",
                "-0",
                "-7",
                "1234567",
                "12345678",
                "-99999999",
                "123456789012",
            ]
            .map(String::from),
        );
        for width in 1..=19 {
            // 19 nines overflow an i64 (a give-up, tested elsewhere).
            texts.push("9".repeat(width.min(18)));
            texts.push(format!("-{}", "1".repeat(width)));
        }
        // Numbers near the end of the record too (fewer than eight bytes left).
        for sep in [",", ", ", " ,\t"] {
            let record = format!("{{\"l\": [{}]}}", texts.join(sep));
            let mut columns = all(&schema);
            assert!(columns.push_text(record.as_bytes()));
            let want: Vec<i64> = texts.iter().map(|t| t.parse().unwrap()).collect();
            let arrays = columns.finish();
            let list = arrays[0].as_list::<i32>();
            assert_eq!(
                list.values().as_primitive::<Int64Type>().values(),
                &want[..]
            );
        }
        for bad in ["01", "-", "1.", "1e", "-01", "1x"] {
            let record = format!("{{\"l\": [1, {bad}]}}");
            assert!(!all(&schema).push_text(record.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn integers_summed_or_parsed_agree_with_str_parse() {
        let schema = kinds(&[("a", JType::Int)]);
        let texts = [
            "0",
            "-0",
            "7",
            "-100",
            "999999999999999999",
            "-999999999999999999",
            "1000000000000000000",
            "9223372036854775807",
            "-9223372036854775808",
        ];
        let mut columns = all(&schema);
        for text in texts {
            assert!(columns.push_text(format!("{{\"a\": {text}}}").as_bytes()));
        }
        let want: Vec<i64> = texts.iter().map(|t| t.parse().unwrap()).collect();
        assert_eq!(
            columns.finish()[0].as_primitive::<Int64Type>().values(),
            &want[..]
        );
    }
}
