//! The fast path of JSON record parsing: a parser for the common subset of JSON into a
//! light tree (strings borrowed when they hold no escape, numbers already converted).
//!
//! It accepts only input that `serde_json` accepts and that passes the checks of the
//! reading rules (numbers in range, depth), and yields the same values. On anything else
//! (any error, a lone surrogate, a duplicate key, a control character in a string,
//! invalid UTF-8, a top-level value that is not an object, ...) it gives up and the record
//! takes the `serde_json` path, which decides and words the error.

use std::borrow::Cow;

use super::MAX_DEPTH;

#[derive(Debug, Clone, PartialEq)]
pub enum J<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    List(Vec<J<'a>>),
    Obj(Obj<'a>),
}

pub type Obj<'a> = Vec<(Cow<'a, str>, J<'a>)>;

/// The object of one record, or None (not in the fast path's subset).
pub fn parse(bytes: &[u8]) -> Option<Obj<'_>> {
    let mut p = P { b: bytes, i: 0 };
    p.ws();
    if p.peek()? != b'{' {
        return None;
    }
    let value = p.value(1)?;
    p.ws();
    if p.i != bytes.len() {
        return None;
    }
    match value {
        J::Obj(fields) => Some(fields),
        _ => None,
    }
}

/// An object with more keys than this is left to serde_json (duplicate keys are looked up
/// linearly).
const MAX_KEYS: usize = 64;

struct P<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> P<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn literal(&mut self, text: &[u8], value: J<'a>) -> Option<J<'a>> {
        if self.b[self.i..].starts_with(text) {
            self.i += text.len();
            Some(value)
        } else {
            None
        }
    }

    /// After a container's item: `,` (false: another item follows) or `close` (true: the
    /// container ends); anything else gives up (None).
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

    /// A value at nesting `depth` (containers deeper than [`MAX_DEPTH`] give up).
    fn value(&mut self, depth: usize) -> Option<J<'a>> {
        match self.peek()? {
            b'{' => {
                if depth > MAX_DEPTH {
                    return None;
                }
                self.i += 1;
                let mut fields: Obj<'a> = Vec::new();
                self.ws();
                if self.peek()? == b'}' {
                    self.i += 1;
                    return Some(J::Obj(fields));
                }
                loop {
                    if self.peek()? != b'"' {
                        return None;
                    }
                    let key = self.string()?;
                    if fields.len() >= MAX_KEYS || fields.iter().any(|(k, _)| *k == key) {
                        return None;
                    }
                    self.ws();
                    if self.peek()? != b':' {
                        return None;
                    }
                    self.i += 1;
                    self.ws();
                    let value = self.value(depth + 1)?;
                    fields.push((key, value));
                    if self.separator_or_close(b'}')? {
                        return Some(J::Obj(fields));
                    }
                }
            }
            b'[' => {
                if depth > MAX_DEPTH {
                    return None;
                }
                self.i += 1;
                self.ws();
                if self.peek()? == b']' {
                    self.i += 1;
                    return Some(J::List(Vec::new()));
                }
                // Token lists run to hundreds of items: start past the first few doublings.
                let mut items = Vec::with_capacity(16);
                loop {
                    items.push(self.value(depth + 1)?);
                    if self.separator_or_close(b']')? {
                        return Some(J::List(items));
                    }
                }
            }
            b'"' => self.string().map(J::Str),
            b't' => self.literal(b"true", J::Bool(true)),
            b'f' => self.literal(b"false", J::Bool(false)),
            b'n' => self.literal(b"null", J::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Option<J<'a>> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let int_start = self.i;
        let n = self.digits();
        if n == 0 || (n > 1 && self.b[int_start] == b'0') {
            return None;
        }
        let mut float = false;
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return None;
            }
            float = true;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return None;
            }
            float = true;
        }
        if !float && n <= 18 {
            // Token ids and the like: up to 18 digits always fit an i64, so the value is
            // summed here instead of going through str::parse (the hot path of token lists).
            let magnitude = self.b[int_start..int_start + n]
                .iter()
                .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0'));
            let negative = int_start > start;
            return Some(J::Int(if negative { -magnitude } else { magnitude }));
        }
        // ASCII digits and signs only: always UTF-8.
        let text = std::str::from_utf8(&self.b[start..self.i]).ok()?;
        if float {
            let f = text.parse::<f64>().ok()?;
            f.is_finite().then_some(J::Float(f))
        } else {
            text.parse::<i64>().ok().map(J::Int)
        }
    }

    /// A string (at its opening quote).
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.i += 1;
        let start = self.i;
        let k = memchr::memchr2(b'"', b'\\', &self.b[self.i..])?;
        let span = &self.b[start..start + k];
        if span.iter().any(|&c| c < 0x20) {
            return None;
        }
        self.i = start + k;
        if self.b[self.i] == b'"' {
            self.i += 1;
            return std::str::from_utf8(span).ok().map(Cow::Borrowed);
        }
        let mut out: Vec<u8> = span.to_vec();
        loop {
            // At a backslash.
            self.i += 1;
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
                    let ch = char::from_u32(code)?;
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                _ => return None,
            }
            let k = memchr::memchr2(b'"', b'\\', &self.b[self.i..])?;
            let span = &self.b[self.i..self.i + k];
            if span.iter().any(|&c| c < 0x20) {
                return None;
            }
            out.extend_from_slice(span);
            self.i += k;
            if self.b[self.i] == b'"' {
                self.i += 1;
                return String::from_utf8(out).ok().map(Cow::Owned);
            }
        }
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
    use super::*;

    #[test]
    fn accepts_common_records() {
        let obj = parse(br#" {"a": 1, "b": [1.5, -0, 2e3], "c": "x\"\u00e9\ud83d\ude00", "d": null, "e": {"f": true}} "#)
            .unwrap();
        assert_eq!(obj[0], (Cow::Borrowed("a"), J::Int(1)));
        assert_eq!(
            obj[1].1,
            J::List(vec![J::Float(1.5), J::Int(0), J::Float(2000.0)])
        );
        assert_eq!(
            obj[2].1,
            J::Str(Cow::Owned("x\"\u{e9}\u{1F600}".to_string()))
        );
        assert_eq!(obj[3].1, J::Null);
    }

    #[test]
    fn gives_up_on_the_rest() {
        for bad in [
            &b"[1]"[..],
            b"{\"a\": 01}",
            b"{\"a\": 1,}",
            b"{\"a\": 1} x",
            b"{\"a\": 1, \"a\": 2}",
            b"{\"a\": \"\\ud800\"}",
            b"{\"a\": \"\\udc00\"}",
            b"{\"a\": \"\t\"}",
            b"{\"a\": \"\xff\"}",
            b"{\"a\": 9223372036854775808}",
            b"{\"a\": 1e400}",
            b"{\"a\": NaN}",
            b"{\"a\": 1.}",
            b"{\"a\": -}",
            b"{\"a\" 1}",
            b"{\"a\": \"x}",
        ] {
            assert!(parse(bad).is_none(), "{}", String::from_utf8_lossy(bad));
        }
        // The record object is level 1: 62 lists inside it reach MAX_DEPTH (63).
        let deep = format!("{{\"a\": {}1{}}}", "[".repeat(62), "]".repeat(62));
        assert!(parse(deep.as_bytes()).is_some());
        let deeper = format!("{{\"a\": {}1{}}}", "[".repeat(63), "]".repeat(63));
        assert!(parse(deeper.as_bytes()).is_none());
    }

    #[test]
    fn integers_summed_or_parsed_agree_with_str_parse() {
        for text in [
            "0",
            "-0",
            "7",
            "-100",
            "999999999999999999",
            "-999999999999999999",
            "1000000000000000000",
            "9223372036854775807",
            "-9223372036854775808",
        ] {
            let record = format!("{{\"a\": {text}}}");
            let row = parse(record.as_bytes()).unwrap();
            assert_eq!(row[0].1, J::Int(text.parse().unwrap()), "{text}");
        }
        assert!(parse(b"{\"a\": 9223372036854775808}").is_none());
    }
}
