//! Record framing: JSON Lines (one record a line) and a JSON document's top-level array.

use std::sync::Arc;

use std::io::BufRead;

use super::super::source::{read_error, Input, Inputs, MAX_LINE};
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

/// A record's file, position, and span in the chunk's bytes.
pub(super) type Span = (Arc<str>, Position, usize, usize);

/// Where a chunk of records ends.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limit {
    /// At most this many records.
    pub(super) rows: usize,
    /// Past this many records or bytes, the chunk ends at the next record count that is a
    /// multiple of `every` (counted from `base`): chunks then hold whole batches, which the
    /// reader slices without copying (a batch across two chunks is concatenated, a copy).
    pub(super) soft_rows: usize,
    pub(super) soft_bytes: usize,
    pub(super) every: usize,
    pub(super) base: usize,
    /// At most this many bytes, aligned or not (records of a huge batch_size).
    pub(super) bytes: usize,
}

impl Limit {
    /// Exactly `rows` records (the inference prefix).
    pub(super) fn rows(rows: usize) -> Self {
        Limit {
            rows,
            soft_rows: usize::MAX,
            soft_bytes: usize::MAX,
            every: 1,
            base: 0,
            bytes: usize::MAX,
        }
    }

    fn reached(&self, spans: usize, bytes: usize) -> bool {
        spans >= self.rows
            || bytes >= self.bytes
            || ((spans >= self.soft_rows || bytes >= self.soft_bytes)
                && (self.base + spans) % self.every.max(1) == 0)
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
    Lines(LineBlocks),
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

    /// Append records to `data` (their spans to `spans`) until `limit`, or the inputs end
    /// (Ok(true)). On an error, the spans already pushed are good records.
    pub(super) fn fill(
        &mut self,
        data: &mut Vec<u8>,
        spans: &mut Vec<Span>,
        limit: Limit,
    ) -> Result<bool> {
        loop {
            if limit.reached(spans.len(), data.len()) {
                return Ok(false);
            }
            let Some(current) = self.current.as_mut() else {
                let Some(input) = self.inputs.next_input()? else {
                    return Ok(true);
                };
                let path = input.path.clone();
                self.current = Some(if self.array {
                    Current::Array(path, ArraySplitter::new(input)?)
                } else {
                    Current::Lines(LineBlocks::new(input))
                });
                continue;
            };
            match current {
                Current::Lines(lines) => {
                    if lines.fill(data, spans, limit)? {
                        self.current = None;
                    }
                }
                Current::Array(path, splitter) => match splitter.next_element(&mut self.buf)? {
                    None => self.current = None,
                    Some(index) => {
                        let start = data.len();
                        data.extend_from_slice(&self.buf);
                        spans.push((path.clone(), Position::Row(index), start, data.len()));
                    }
                },
            }
        }
    }

    pub(super) fn is_array(&self) -> bool {
        self.array
    }
}

const BOM: &[u8] = b"\xef\xbb\xbf";

/// The lines of one JSON Lines input, read a block at a time straight into the chunk's
/// bytes (one copy) and split there: 1-based line numbers, records without their `\n`,
/// blank lines (spaces, tabs, `\r`) skipped, a leading UTF-8 BOM dropped.
struct LineBlocks {
    path: Arc<str>,
    input: Box<dyn BufRead + Send>,
    line: u64,
    first: bool,
    /// Bytes read past the last line handed out (a partial line, or whole lines beyond a
    /// chunk's limit): the start of the next chunk.
    carry: Vec<u8>,
}

impl LineBlocks {
    fn new(input: Input) -> Self {
        LineBlocks {
            path: input.path.clone(),
            input: input.into_bytes(),
            line: 0,
            first: true,
            carry: Vec::new(),
        }
    }

    /// As [`Records::fill`], for this input: Ok(true) at its end.
    fn fill(&mut self, data: &mut Vec<u8>, spans: &mut Vec<Span>, limit: Limit) -> Result<bool> {
        let mut line_start = data.len();
        data.extend_from_slice(&self.carry);
        self.carry.clear();
        // No `\n` in data[line_start..scan].
        let mut scan = line_start;
        loop {
            while !limit.reached(spans.len(), line_start) {
                let Some(k) = memchr::memchr(b'\n', &data[scan..]) else {
                    scan = data.len();
                    break;
                };
                let end = scan + k;
                self.line(data, line_start, end, spans)?;
                line_start = end + 1;
                scan = line_start;
            }
            if limit.reached(spans.len(), line_start) {
                self.carry.extend_from_slice(&data[line_start..]);
                data.truncate(line_start);
                return Ok(false);
            }
            if data.len() - line_start > MAX_LINE {
                self.line += 1;
                return Err(self.too_long());
            }
            let block = self
                .input
                .fill_buf()
                .map_err(|e| read_error(&self.path, e))?;
            if block.is_empty() {
                if line_start < data.len() {
                    self.line(data, line_start, data.len(), spans)?;
                }
                return Ok(true);
            }
            let n = block.len();
            data.extend_from_slice(block);
            self.input.consume(n);
        }
    }

    /// The line `data[start..end]` (without its `\n`): numbered, and a record unless blank.
    fn line(&mut self, data: &[u8], start: usize, end: usize, spans: &mut Vec<Span>) -> Result<()> {
        self.line += 1;
        if self.line % crate::cancel::EVERY as u64 == 0 {
            crate::cancel::check()?;
        }
        if end - start > MAX_LINE {
            return Err(self.too_long());
        }
        let mut start = start;
        if self.first {
            self.first = false;
            if data[start..end].starts_with(BOM) {
                start += BOM.len();
            }
        }
        if data[start..end]
            .iter()
            .all(|b| matches!(b, b' ' | b'\t' | b'\r'))
        {
            return Ok(());
        }
        spans.push((self.path.clone(), Position::Line(self.line), start, end));
        Ok(())
    }

    fn too_long(&self) -> Error {
        Error::data(
            self.path.to_string(),
            Some(Position::Line(self.line)),
            format!("line longer than {MAX_LINE} bytes (the limit of one Arrow string)"),
        )
    }
}
