//! Record framing: JSON Lines (one record a line) and a JSON document's top-level array.

use std::sync::Arc;

use super::super::source::{read_error, Input, Inputs, Lines};
use crate::error::{Error, Position, Result};

// ---------------------------------------------------------------------------
// Record sources

/// Splits a top-level JSON array into its elements, streaming. Syntax errors outside
/// elements are fatal; each element is then parsed (and validated) by serde_json.
pub(super) struct ArraySplitter {
    path: String,
    input: Box<dyn std::io::BufRead + Send>,
    state: u8, // 0 before '[', 1 after '[', 2 after an element, 3 after ',', 4 done
    index: u64,
    peeked: Option<u8>,
    line: u64,
}

impl ArraySplitter {
    fn new(input: Input) -> Result<Self> {
        let path = input.path.to_string();
        let mut input = input.into_bytes();
        let buf = input.fill_buf().map_err(|e| read_error(&path, e))?;
        if buf.starts_with(b"\xef\xbb\xbf") {
            input.consume(3);
        }
        Ok(ArraySplitter {
            path,
            input,
            state: 0,
            index: 0,
            peeked: None,
            line: 1,
        })
    }

    fn byte(&mut self) -> Result<Option<u8>> {
        if let Some(b) = self.peeked.take() {
            return Ok(Some(b)); // already counted in `line`
        }
        let buf = self
            .input
            .fill_buf()
            .map_err(|e| read_error(&self.path, e))?;
        let Some(&b) = buf.first() else {
            return Ok(None);
        };
        self.input.consume(1);
        if b == b'\n' {
            self.line += 1;
        }
        Ok(Some(b))
    }

    fn skip_ws(&mut self) -> Result<Option<u8>> {
        loop {
            match self.byte()? {
                Some(b' ' | b'\t' | b'\r' | b'\n') => continue,
                other => return Ok(other),
            }
        }
    }

    fn fatal(&self, message: impl Into<String>) -> Error {
        Error::data(self.path.clone(), Some(Position::Line(self.line)), message)
    }

    /// The next element's bytes, or None at the end of the array.
    fn next_element(&mut self, out: &mut Vec<u8>) -> Result<Option<u64>> {
        loop {
            match self.state {
                0 => match self.skip_ws()? {
                    Some(b'[') => self.state = 1,
                    _ => {
                        return Err(
                            self.fatal("a .json file must hold a top-level array of objects")
                        )
                    }
                },
                1 | 3 => {
                    let first = self.skip_ws()?;
                    match first {
                        Some(b']') if self.state == 1 => {
                            self.state = 4;
                        }
                        Some(b) => {
                            self.read_element(b, out)?;
                            self.state = 2;
                            self.index += 1;
                            return Ok(Some(self.index));
                        }
                        None => return Err(self.fatal("unexpected end of input inside the array")),
                    }
                }
                2 => match self.skip_ws()? {
                    Some(b',') => self.state = 3,
                    Some(b']') => self.state = 4,
                    _ => return Err(self.fatal("expected ',' or ']' after an array element")),
                },
                _ => {
                    return match self.skip_ws()? {
                        None => Ok(None),
                        Some(_) => Err(self.fatal("extra data after the top-level array")),
                    }
                }
            }
        }
    }

    fn read_element(&mut self, first: u8, out: &mut Vec<u8>) -> Result<()> {
        out.clear();
        out.push(first);
        let mut depth: usize = match first {
            b'[' | b'{' => 1,
            _ => 0,
        };
        let mut in_string = first == b'"';
        let mut escaped = false;
        if depth == 0 && !in_string {
            // A scalar: up to a delimiter.
            loop {
                match self.byte()? {
                    Some(b @ (b',' | b']' | b' ' | b'\t' | b'\r' | b'\n')) => {
                        self.peeked = Some(b);
                        return Ok(());
                    }
                    Some(b) => out.push(b),
                    None => return Err(self.fatal("unexpected end of input inside the array")),
                }
            }
        }
        loop {
            let Some(b) = self.byte()? else {
                return Err(self.fatal("unexpected end of input inside an array element"));
            };
            out.push(b);
            if in_string {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'[' | b'{' => depth += 1,
                b']' | b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                _ => {}
            }
        }
    }
}

/// The records of all the inputs, in order: lines of JSON Lines, or the elements of each
/// input's top-level array. Inputs are opened by [`Inputs`] (the one "next file" loop).
pub(super) struct Records {
    inputs: Inputs,
    array: bool,
    current: Option<Current>,
    /// An array element's bytes (the splitter writes into it; copied out once).
    buf: Vec<u8>,
}

enum Current {
    Lines(Arc<str>, Lines),
    Array(Arc<str>, ArraySplitter),
}

impl Records {
    pub(super) fn new(inputs: Inputs, array: bool) -> Self {
        Records {
            inputs,
            array,
            current: None,
            buf: Vec::new(),
        }
    }

    /// The next record's bytes, appended to `out`, with its file and position.
    pub(super) fn next_bytes(&mut self, out: &mut Vec<u8>) -> Result<Option<(Arc<str>, Position)>> {
        loop {
            let Some(current) = self.current.as_mut() else {
                let Some(input) = self.inputs.next_input()? else {
                    return Ok(None);
                };
                let path = input.path.clone();
                self.current = Some(if self.array {
                    Current::Array(path, ArraySplitter::new(input)?)
                } else {
                    Current::Lines(path, Lines::new(input))
                });
                continue;
            };
            match current {
                Current::Lines(path, lines) => match lines.next_line()? {
                    None => self.current = None,
                    Some((number, line)) => {
                        if line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')) {
                            continue;
                        }
                        out.extend_from_slice(line);
                        return Ok(Some((path.clone(), Position::Line(number))));
                    }
                },
                Current::Array(path, splitter) => match splitter.next_element(&mut self.buf)? {
                    None => self.current = None,
                    Some(index) => {
                        out.extend_from_slice(&self.buf);
                        return Ok(Some((path.clone(), Position::Row(index))));
                    }
                },
            }
        }
    }

    pub(super) fn is_array(&self) -> bool {
        self.array
    }
}
