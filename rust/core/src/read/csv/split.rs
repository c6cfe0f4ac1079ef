//! The record-boundary state machine (quotes spanning lines, CRLF, BOM) over one input,
//! and the splitting of an input into blocks of whole records for the pool.

use std::io::{BufRead, Read};
use std::sync::Arc;

use super::super::source::{read_error, Input, MAX_LINE};
use super::chunk::*;
use super::decode::Block;
use crate::error::{Error, Position, Result};

/// The state machine of one file. States: 0 start of record, 1 start of field,
/// 2 unquoted, 3 quoted, 4 quote in quoted. A clone continues from where it is.
#[derive(Clone)]
pub(super) struct Scan {
    pub(super) path: Arc<str>,
    pub(super) delimiter: u8,
    pub(super) state: u8,
    /// Line of the next byte (1-based; only `\n` counts).
    pub(super) line: u64,
    /// Bytes consumed (after a BOM), and where the current line starts.
    pub(super) offset: u64,
    pub(super) line_start: u64,
    /// Line of the record being read.
    pub(super) start: u64,
}

impl Scan {
    /// The scanner at the start of an input (after its BOM).
    pub(super) fn new(path: Arc<str>, delimiter: u8) -> Scan {
        Scan {
            path,
            delimiter,
            state: 0,
            line: 1,
            offset: 0,
            line_start: 0,
            start: 1,
        }
    }

    pub(super) fn error(&self, line: u64, message: impl Into<String>) -> Error {
        Error::data(self.path.to_string(), Some(Position::Line(line)), message)
    }

    pub(super) fn too_long(&self) -> Error {
        self.error(
            self.line,
            format!("line longer than {MAX_LINE} bytes (the limit of one Arrow string)"),
        )
    }

    /// A `\n` at `pos` (offset in the input).
    pub(super) fn newline(&mut self, pos: u64) -> Result<()> {
        if pos - self.line_start > MAX_LINE as u64 {
            return Err(self.too_long());
        }
        self.line += 1;
        self.line_start = pos + 1;
        Ok(())
    }

    pub(super) fn end_record(&mut self, chunk: &mut impl Sink) {
        chunk.end_record(self.start);
        self.state = 0;
    }

    /// Parse `buf` into `chunk`, stopping at a record boundary once the chunk is full;
    /// returns the bytes consumed. On error, the unfinished record is left in the chunk.
    pub(super) fn scan(
        &mut self,
        buf: &[u8],
        chunk: &mut impl Sink,
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
                        if chunk.full(rows, bytes) {
                            break;
                        }
                        self.start = self.line;
                        chunk.begin_record();
                        self.state = 1;
                    }
                }
                1 => {
                    let b = buf[i];
                    if b == b'"' {
                        self.state = 3;
                        i += 1;
                    } else if b == d {
                        chunk.end_field();
                        i += 1;
                    } else if b == b'\n' || b == b'\r' {
                        self.end_record(chunk); // the line break is consumed in state 0
                    } else {
                        self.state = 2;
                    }
                }
                2 => match field_end(d, &buf[i..]) {
                    None => {
                        chunk.extend(buf, i, n);
                        i = n;
                    }
                    Some(k) => {
                        chunk.extend(buf, i, i + k);
                        i += k;
                        if buf[i] == d {
                            chunk.end_field();
                            self.state = 1;
                            i += 1;
                        } else {
                            self.end_record(chunk);
                        }
                    }
                },
                // One pass finds the closing quote and counts the line breaks before it.
                3 => match memchr::memchr2(b'"', b'\n', &buf[i..]) {
                    None => {
                        chunk.extend(buf, i, n);
                        i = n;
                    }
                    Some(k) => {
                        chunk.extend(buf, i, i + k + usize::from(buf[i + k] == b'\n'));
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
                        // The second quote of the pair: the field's next byte.
                        chunk.extend(buf, i, i + 1);
                        self.state = 3;
                        i += 1;
                    } else if b == d {
                        chunk.end_field();
                        self.state = 1;
                        i += 1;
                    } else if b == b'\n' || b == b'\r' {
                        self.end_record(chunk);
                    } else {
                        return Err(
                            self.error(self.line, "unexpected character after a closing quote")
                        );
                    }
                }
            }
        }
        self.offset = base + i as u64;
        if self.offset - self.line_start > MAX_LINE as u64 {
            return Err(self.too_long());
        }
        Ok(i)
    }

    /// The end of the input: a last line without `\n` ends as if it had one.
    pub(super) fn finish(&mut self, chunk: &mut impl Sink) -> Result<()> {
        if self.offset > self.line_start {
            match self.state {
                1 | 2 | 4 => self.end_record(chunk),
                _ => {}
            }
        }
        if self.state == 3 {
            return Err(self.error(self.start, "unterminated quoted field"));
        }
        Ok(())
    }
}

/// Where the unquoted field at the start of `rest` ends (its delimiter or line break).
/// Most fields are a few bytes long: a plain loop over the first bytes finds their end
/// before `memchr3` would have set up its vectors (which it then does for long ones).
#[inline(always)]
fn field_end(d: u8, rest: &[u8]) -> Option<usize> {
    let head = rest.len().min(16);
    for (k, &b) in rest[..head].iter().enumerate() {
        if b == d || b == b'\n' || b == b'\r' {
            return Some(k);
        }
    }
    memchr::memchr3(d, b'\n', b'\r', &rest[head..]).map(|k| k + head)
}

/// Records of one file.
pub(super) struct Parser {
    pub(super) input: Box<dyn BufRead + Send>,
    /// Bytes read while looking for a BOM, parsed before `input`.
    pub(super) head: Vec<u8>,
    pub(super) scan: Scan,
    /// The largest block split off so far (bytes), to size the next one's buffer.
    pub(super) block_hint: usize,
}

impl Parser {
    /// The parser of one input (opened by the shared [`Inputs`]; decompression is below it).
    pub(super) fn new(input: Input, delimiter: u8) -> Result<Self> {
        let path = input.path.clone();
        let path = &*path;
        let mut input = input.into_bytes();
        let mut head = Vec::with_capacity(BOM.len());
        while head.len() < BOM.len() {
            let buf = match input.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_error(path, e)),
            };
            if buf.is_empty() {
                break;
            }
            let take = buf.len().min(BOM.len() - head.len());
            head.extend_from_slice(&buf[..take]);
            input.consume(take);
        }
        if head == BOM {
            head.clear();
        }
        Ok(Parser {
            input,
            head,
            block_hint: 0,
            scan: Scan::new(Arc::from(path), delimiter),
        })
    }

    /// Parse records into `chunk` until it holds `rows` records (true), or the file ends
    /// (false). On error, the records before it stay in the chunk.
    pub(super) fn fill(&mut self, chunk: &mut Chunk, rows: usize) -> Result<bool> {
        if !chunk
            .paths
            .last()
            .is_some_and(|p| Arc::ptr_eq(p, &self.scan.path))
        {
            chunk.paths.push(self.scan.path.clone());
        }
        let result = self.fill_inner(chunk, rows);
        if result.is_err() && self.scan.state != 0 {
            chunk.drop_open();
        }
        result
    }

    pub(super) fn fill_inner(&mut self, chunk: &mut Chunk, rows: usize) -> Result<bool> {
        if !self.head.is_empty() {
            let head = std::mem::take(&mut self.head);
            let used = self.scan.scan(&head, chunk, rows, usize::MAX)?;
            if used < head.len() {
                self.head = head[used..].to_vec();
                return Ok(true);
            }
        }
        loop {
            if self.scan.state == 0 && chunk.records.len() >= rows {
                return Ok(true);
            }
            crate::cancel::check()?;
            let buf = match self.input.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_error(&self.scan.path, e)),
            };
            if buf.is_empty() {
                self.scan.finish(chunk)?;
                return Ok(false);
            }
            let len = buf.len();
            let used = self.scan.scan(buf, chunk, rows, usize::MAX)?;
            self.input.consume(used);
            if used < len {
                return Ok(true);
            }
        }
    }
}

/// Bytes read from the input at a time while splitting it into blocks: at most, and at
/// least (near a block's end).
pub(super) const READ_BYTES: usize = 1 << 20;
pub(super) const MIN_READ: usize = 64 << 10;

/// How much to read next into a block that holds `consumed` bytes of whole records
/// (counted by `counter`) and ends at `rows` records or `limit` bytes of fields: about what
/// it still lacks, as far as its records so far tell, so that little is read past its end
/// (those bytes are copied to start the next block).
pub(super) fn read_size(counter: &Counter, consumed: usize, rows: usize, limit: usize) -> usize {
    if counter.records == 0 || counter.bytes == 0 {
        return READ_BYTES;
    }
    let by_rows = (rows.saturating_sub(counter.records)).saturating_mul(consumed / counter.records);
    let by_bytes =
        limit.saturating_sub(counter.bytes) as f64 * consumed as f64 / counter.bytes as f64;
    (by_rows.min(by_bytes as usize) + MIN_READ).clamp(MIN_READ, READ_BYTES)
}

impl Parser {
    /// The next block of whole records of this file: until it holds `rows` records or
    /// `limit` bytes of fields, or the file ends. Records are only delimited here; the pool
    /// parses them. Also returns how many records the block holds, and whether reading must
    /// stop (an error, met again by the pool).
    /// `spare`: a buffer to reuse, given the room the block needs.
    pub(super) fn split(
        &mut self,
        rows: usize,
        limit: usize,
        spare: impl FnOnce(usize) -> Option<Vec<u8>>,
    ) -> (Block, usize, bool) {
        let start = self.scan.clone();
        // Room for a block like the largest so far and a read past it: growing the buffer
        // would copy it.
        let room = self.block_hint + self.head.len() + 2 * READ_BYTES;
        let mut bytes = spare(room).unwrap_or_else(|| Vec::with_capacity(room));
        bytes.append(&mut self.head);
        let mut counter = Counter::default();
        let (mut pos, mut last, mut error, mut stop) = (0, false, None, false);
        loop {
            if pos < bytes.len() {
                match self.scan.bounds(&bytes[pos..], &mut counter, rows, limit) {
                    Ok(used) => pos += used,
                    Err(_) => {
                        stop = true;
                        break;
                    }
                }
                if pos < bytes.len() {
                    // Full, at a record boundary: the rest starts the next block (in a
                    // buffer kept from block to block: no new memory each time).
                    self.head.clear();
                    self.head.extend_from_slice(&bytes[pos..]);
                    bytes.truncate(pos);
                    break;
                }
            }
            if let Err(e) = crate::cancel::check() {
                (error, stop) = (Some(e), true);
                break;
            }
            let size = read_size(&counter, pos, rows, limit);
            bytes.reserve(size);
            match (&mut self.input).take(size as u64).read_to_end(&mut bytes) {
                Ok(0) => {
                    last = true;
                    stop = self.scan.finish(&mut counter).is_err();
                    break;
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    (error, stop) = (Some(read_error(&self.scan.path, e)), true);
                    break;
                }
            }
        }
        self.block_hint = self.block_hint.max(bytes.len());
        let block = Block {
            bytes,
            scan: start,
            last,
            error,
            records: counter.records,
        };
        (block, counter.records, stop)
    }
}
