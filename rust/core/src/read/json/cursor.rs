//! The bytes of one record under a cursor: the JSON grammar's pieces (whitespace,
//! literals, numbers, strings, keys) for the fast path, each giving up (None) on anything
//! the slow path must decide.

use super::MAX_DEPTH;

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
    debug_assert!((1..=7).contains(&n), "digits_value of {n} digits");
    // The digits moved to the top bytes, zeros (leading zero digits) below: eight digits.
    let x = (word ^ 0x3030_3030_3030_3030) << (8 * (8 - n));
    // Pairs, then quads, then the eight: each step joins neighbouring lanes.
    let x = (x & 0x0F0F_0F0F_0F0F_0F0F).wrapping_mul(10 * 256 + 1) >> 8;
    let x = (x & 0x00FF_00FF_00FF_00FF).wrapping_mul(100 * 65536 + 1) >> 16;
    let x = (x & 0x0000_FFFF_0000_FFFF).wrapping_mul(10000 * (1 << 32) + 1) >> 32;
    x as i64
}

pub(super) enum Num {
    Int(i64),
    Float(f64),
}

pub(super) struct Cursor<'a> {
    pub(super) b: &'a [u8],
    pub(super) i: usize,
    /// Unescaped keys and skipped strings (the caller's buffer, kept across records).
    pub(super) scratch: Vec<u8>,
}

impl Cursor<'_> {
    #[inline]
    pub(super) fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline]
    pub(super) fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    #[inline]
    pub(super) fn literal(&mut self, text: &[u8]) -> Option<()> {
        if self.b[self.i..].starts_with(text) {
            self.i += text.len();
            Some(())
        } else {
            None
        }
    }

    pub(super) fn boolean(&mut self) -> Option<bool> {
        match self.peek()? {
            b't' => self.literal(b"true").map(|()| true),
            b'f' => self.literal(b"false").map(|()| false),
            _ => None,
        }
    }

    /// At `[` or `{` (anything else gives up) of a container at nesting `depth`; past it
    /// and its whitespace.
    pub(super) fn open(&mut self, bracket: u8, depth: usize) -> Option<()> {
        if self.peek()? != bracket || depth > MAX_DEPTH {
            return None;
        }
        self.i += 1;
        self.ws();
        Some(())
    }

    /// The `:` after a key, with the whitespace around it.
    pub(super) fn colon(&mut self) -> Option<()> {
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
    pub(super) fn separator_or_close(&mut self, close: u8) -> Option<bool> {
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
    pub(super) fn check_ints(&mut self) -> Option<()> {
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
    pub(super) fn key_index(&mut self, names: &[String]) -> Option<usize> {
        self.key_index_of(names.iter().map(String::as_str))
    }

    pub(super) fn key_index_of<'n>(
        &mut self,
        mut names: impl Iterator<Item = &'n str>,
    ) -> Option<usize> {
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

    pub(super) fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - start
    }

    /// A number (the cursor at its first byte; anything but `-` or a digit gives up).
    #[inline(always)]
    pub(super) fn number(&mut self) -> Option<Num> {
        self.number_as::<true>()
    }

    /// A number checked, its value not needed (an unselected column): an integer of up to
    /// 7 digits is `Num::Int(0)`, not summed.
    #[inline(always)]
    pub(super) fn number_checked(&mut self) -> Option<Num> {
        self.number_as::<false>()
    }

    #[inline(always)]
    pub(super) fn number_as<const VALUE: bool>(&mut self) -> Option<Num> {
        let start = self.i;
        let negative = self.peek() == Some(b'-');
        let int_start = start + usize::from(negative);
        let (n, magnitude) = match self.b.get(int_start..int_start + 8) {
            // Token ids and the like: up to 7 digits found and summed eight bytes at once.
            Some(eight) => {
                let word = u64::from_le_bytes(eight.try_into().unwrap_or_default());
                match leading_digits(word) {
                    // Not a number (`[`, `t`...: a value of another type); given up below.
                    0 => (0, 0),
                    n @ 1..=7 if VALUE => (n, digits_value(word, n)),
                    n @ 1..=7 => (n, 0),
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
    pub(super) fn sum_digits(&self, from: usize) -> (usize, i64) {
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
    pub(super) fn float_tail(&mut self, start: usize) -> Option<Num> {
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
    pub(super) fn string_body(&mut self, out: &mut Vec<u8>) -> Option<()> {
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
    pub(super) fn unicode_escape(&mut self) -> Option<char> {
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

    pub(super) fn hex4(&mut self) -> Option<u32> {
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
    use super::*;

    #[test]
    fn a_value_that_is_not_a_number_gives_up_long_or_short() {
        // Eight bytes or more after the cursor (the word path), and fewer.
        for text in [
            &b"[false], \"x\": 1}"[..],
            b"[false]}",
            b"-[1]  xxxxxxxx",
            b"true",
        ] {
            let mut cursor = Cursor {
                b: text,
                i: 0,
                scratch: Vec::new(),
            };
            assert!(cursor.number().is_none(), "{:?}", std::str::from_utf8(text));
            let mut cursor = Cursor {
                b: text,
                i: 0,
                scratch: Vec::new(),
            };
            assert!(cursor.number_checked().is_none());
        }
        let mut cursor = Cursor {
            b: b"1234567, ",
            i: 0,
            scratch: Vec::new(),
        };
        assert!(matches!(cursor.number(), Some(Num::Int(1_234_567))));
    }
}
