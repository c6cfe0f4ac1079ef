//! The lean record-boundary finder the splitting thread runs: the grammar of [`Scan::scan`]
//! (the same states, lines, errors and record count), without looking at fields.
//!
//! Outside quotes only `"`, `\n` and `\r` matter: a delimiter ends a field, not a record,
//! and a `"` opens a quoted field only at a field's start (right after a delimiter, or
//! where the record starts); elsewhere it is literal. So one `memchr3` jumps over a
//! record's unquoted fields at once (the full scanner stops at every delimiter), and
//! one `memchr2` over a quoted field's contents. This runs serially before the pool can
//! start on a block, which is why it is kept apart from the scanner the pool runs.

use super::chunk::{Counter, Sink};
use super::split::Scan;
use crate::error::Result;

impl Scan {
    /// [`Scan::scan`] into a [`Counter`]: the same state afterwards, the same records
    /// counted and the same errors. `counter.bytes` counts every byte consumed (delimiters
    /// and line breaks included): it only sizes blocks, which are not seen in the output.
    pub(super) fn bounds(
        &mut self,
        buf: &[u8],
        counter: &mut Counter,
        rows: usize,
        bytes: usize,
    ) -> Result<usize> {
        let d = self.delimiter;
        let n = buf.len();
        let base = self.offset;
        let mut i = 0;
        while i < n {
            match self.state {
                0 => {
                    let b = buf[i];
                    if b == b'\n' {
                        self.newline(base + i as u64)?;
                        i += 1;
                    } else if b == b'\r' {
                        i += 1;
                    } else {
                        if counter.records >= rows || counter.bytes + i >= bytes {
                            break;
                        }
                        self.start = self.line;
                        self.state = 1;
                    }
                }
                // Outside quotes (1: at a field's start, 2: inside an unquoted field).
                1 | 2 => match memchr::memchr3(b'"', b'\n', b'\r', &buf[i..]) {
                    None => {
                        // A field ends here unless the last byte was a delimiter.
                        self.state = if buf[n - 1] == d { 1 } else { 2 };
                        i = n;
                    }
                    Some(k) => {
                        let at = i + k;
                        if buf[at] != b'"' {
                            counter.end_record(self.start);
                            self.state = 0; // the line break is consumed in state 0
                            i = at;
                        } else {
                            let field_start = if k == 0 {
                                self.state == 1
                            } else {
                                buf[at - 1] == d
                            };
                            self.state = if field_start { 3 } else { 2 };
                            i = at + 1;
                        }
                    }
                },
                // One pass finds the closing quote and counts the line breaks before it.
                3 => match memchr::memchr2(b'"', b'\n', &buf[i..]) {
                    None => i = n,
                    Some(k) => {
                        if buf[i + k] == b'\n' {
                            self.newline(base + (i + k) as u64)?;
                        } else {
                            self.state = 4;
                        }
                        i += k + 1;
                    }
                },
                _ => {
                    let b = buf[i];
                    if b == b'"' {
                        self.state = 3;
                        i += 1;
                    } else if b == d {
                        self.state = 1;
                        i += 1;
                    } else if b == b'\n' || b == b'\r' {
                        counter.end_record(self.start);
                        self.state = 0;
                    } else {
                        return Err(
                            self.error(self.line, "unexpected character after a closing quote")
                        );
                    }
                }
            }
        }
        counter.bytes += i;
        self.offset = base + i as u64;
        if self.offset - self.line_start > super::super::source::MAX_LINE as u64 {
            return Err(self.too_long());
        }
        Ok(i)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// The state of a scanner, to compare the two.
    fn state(s: &Scan) -> (u8, u64, u64, u64, u64) {
        (s.state, s.line, s.offset, s.line_start, s.start)
    }

    /// Both scanners over `data` fed in pieces of `step` bytes (each piece continued
    /// from where the last call stopped), stopping after `rows` records: the same
    /// records, states after every call, errors, and end of input.
    fn same(data: &[u8], delimiter: u8, step: usize, rows: usize) {
        let path: Arc<str> = Arc::from("t.csv");
        let mut full = Scan::new(path.clone(), delimiter);
        let mut lean = Scan::new(path, delimiter);
        let (mut a, mut b) = (Counter::default(), Counter::default());
        let (mut pos, mut end) = (0, step.min(data.len()));
        loop {
            let x = full.scan(&data[pos..end], &mut a, rows, usize::MAX);
            let y = lean.bounds(&data[pos..end], &mut b, rows, usize::MAX);
            let context = format!(
                "{:?} step {step} rows {rows}",
                String::from_utf8_lossy(data)
            );
            assert_eq!(x.is_ok(), y.is_ok(), "{context}");
            if let (Err(x), Err(y)) = (&x, &y) {
                assert_eq!(x.to_string(), y.to_string(), "{context}");
                return;
            }
            let (x, y) = (x.unwrap(), y.unwrap());
            assert_eq!(x, y, "{context}");
            assert_eq!(a.records, b.records, "{context}");
            assert_eq!(state(&full), state(&lean), "{context}");
            pos += x;
            if pos < end {
                return; // full: both stopped at the same record boundary
            }
            if end == data.len() {
                let x = full.finish(&mut a);
                let y = lean.finish(&mut b);
                assert_eq!(x.is_ok(), y.is_ok(), "{context}");
                assert_eq!(a.records, b.records, "{context}");
                return;
            }
            end = (end + step).min(data.len());
        }
    }

    const CASES: &[&[u8]] = &[
        b"a,b\n1,2\n",
        b"a,b\r\n1,2\r\n\r\n\n3,4",
        b"a\r1\r2",
        b"\"a,b\",\"c\nd\"\n1,\"x\"\"y\"\n",
        b"x\"y,\"z\"\n\"q\"\"\",w\n",
        b"a,\"b\"c\n",
        b"a,\"unterminated\n1,2\n",
        b",,\n,\"\",\n\"\"\n",
        b"\"\"\"\"\n\"a\"\r\n\"b\"\r",
        b"a,b\n\n\n\"\n\n\",\"\r\"\n",
        b"1,\"\"x\n",
        b"a,b\n1,2,3\n\"",
    ];

    #[test]
    fn the_same_records_states_and_errors_as_the_scanner() {
        for data in CASES {
            for step in 1..=data.len().max(1) {
                for rows in [0, 1, 2, usize::MAX] {
                    same(data, b',', step, rows);
                    same(data, b'\t', step, rows);
                }
            }
        }
    }

    #[test]
    fn random_inputs_agree_with_the_scanner() {
        // A tiny LCG over the bytes that matter to the grammar.
        let alphabet = b",\"\n\rax\t";
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..3000 {
            let mut data = Vec::new();
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let len = (seed >> 58) as usize + 1;
            for _ in 0..len {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                data.push(alphabet[(seed >> 33) as usize % alphabet.len()]);
            }
            let step = (seed >> 40) as usize % len + 1;
            same(&data, b',', step, usize::MAX);
            same(&data, b',', step, (seed >> 20) as usize % 4);
        }
    }
}
