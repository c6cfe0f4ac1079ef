//! CSV and TSV: one RFC 4180-style grammar (the delimiter differs), types inferred per column.
//!
//! Grammar (identical to the reference): records end at `\n`, `\r\n` or `\r` outside
//! quotes; blank lines are skipped; a field starting with `"` is quoted (`""` is a quote,
//! delimiters and line breaks are literal) and must be followed by a delimiter or a line
//! end; a `"` inside an unquoted field is literal. An unterminated quote or a character
//! after a closing quote is a fatal error. The first record is the header.
//!
//! Types from the first [`INFER_ROWS`] rows: int64 if every non-empty value is
//! `-?(0|[1-9][0-9]*)` within range, else float64 if every one is a JSON-style number
//! (finite), else bool if every one is `true|false|True|False`, else string; a column
//! with no non-empty value is string. Empty fields are null.
//!
//! One state machine ([`Scan`], jumping with `memchr` over unquoted and quoted field
//! contents) reads the grammar. The calling thread runs it over the decompressed bytes only
//! to find where records end (storing nothing) and hands whole-record blocks of a few MiB
//! to the pool, with the scanner's state at the block's start. A pool thread runs the same
//! scanner from that state over the block (so it finds the same records, lines and errors)
//! into a flat chunk: the bytes of all fields back to back and where each field ends; then
//! checks the records (field count, UTF-8 once per chunk, types) and builds the Arrow
//! arrays. The reader joins blocks into batches of `batch_size` rows.

use std::io::{BufRead, Read};
use std::ops::Range;
use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Float64Builder, Int64Builder};
use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_buffer::{NullBufferBuilder, OffsetBuffer};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use super::ahead::{Chunked, Decoded};
use super::input::{open_decoded, read_error, MAX_LINE};
use super::{batch_of, Compression, Source, INFER_ROWS};
use crate::error::{Error, Position, Result};

const BOM: &[u8] = b"\xef\xbb\xbf";

/// Parsed records: the bytes of all their fields back to back, where each field ends, and
/// where each record starts.
#[derive(Default)]
struct Chunk {
    values: Vec<u8>,
    /// End offset in `values` of each field.
    ends: Vec<usize>,
    /// Per record: the line it starts on, its first field (index into `ends`), its file
    /// (index into `paths`).
    records: Vec<(u64, usize, usize)>,
    paths: Vec<Arc<str>>,
    /// The reading error met after these records (they still count).
    tail: Option<Error>,
    /// Where the record being read starts in `values` and `ends`.
    open_values: usize,
    open_fields: usize,
}

/// Where [`Scan`] puts what it finds: a [`Chunk`] (the fields), or a [`Counter`] (only
/// where records end, to split the input into blocks of whole records).
trait Sink {
    fn begin_record(&mut self);
    fn extend(&mut self, bytes: &[u8]);
    fn end_field(&mut self);
    /// The record that started on `line` (in the file `paths.last()`) is complete.
    fn end_record(&mut self, line: u64);
    fn full(&self, rows: usize, bytes: usize) -> bool;
}

impl Sink for Chunk {
    fn begin_record(&mut self) {
        self.open_values = self.values.len();
        self.open_fields = self.ends.len();
    }

    fn extend(&mut self, bytes: &[u8]) {
        self.values.extend_from_slice(bytes);
    }

    fn end_field(&mut self) {
        self.ends.push(self.values.len());
    }

    fn end_record(&mut self, line: u64) {
        self.ends.push(self.values.len());
        let file = self.paths.len() - 1;
        self.records.push((line, self.open_fields, file));
    }

    fn full(&self, rows: usize, bytes: usize) -> bool {
        self.records.len() >= rows || self.values.len() >= bytes
    }
}

/// Counts records and field bytes as a [`Chunk`] would hold them, storing nothing.
#[derive(Default)]
struct Counter {
    records: usize,
    bytes: usize,
}

impl Sink for Counter {
    fn begin_record(&mut self) {}

    fn extend(&mut self, bytes: &[u8]) {
        self.bytes += bytes.len();
    }

    fn end_field(&mut self) {}

    fn end_record(&mut self, _line: u64) {
        self.records += 1;
    }

    fn full(&self, rows: usize, bytes: usize) -> bool {
        self.records >= rows || self.bytes >= bytes
    }
}

impl Chunk {
    /// The fields (indices into `ends`) of record `r`.
    fn fields(&self, r: usize) -> Range<usize> {
        let end = self
            .records
            .get(r + 1)
            .map(|rec| rec.1)
            .unwrap_or(self.ends.len());
        self.records[r].1..end
    }

    fn field(&self, f: usize) -> &[u8] {
        let start = if f == 0 { 0 } else { self.ends[f - 1] };
        &self.values[start..self.ends[f]]
    }

    fn path(&self, r: usize) -> &str {
        &self.paths[self.records[r].2]
    }

    /// Drop the record being read (after an error inside it).
    fn drop_open(&mut self) {
        self.values.truncate(self.open_values);
        self.ends.truncate(self.open_fields);
    }

    /// Drop the records from `r` on.
    fn truncate(&mut self, r: usize) {
        if r < self.records.len() {
            let f = self.records[r].1;
            let v = if f == 0 { 0 } else { self.ends[f - 1] };
            self.records.truncate(r);
            self.ends.truncate(f);
            self.values.truncate(v);
        }
    }
}

/// The state machine of one file. States: 0 start of record, 1 start of field,
/// 2 unquoted, 3 quoted, 4 quote in quoted.
struct Scan {
    path: Arc<str>,
    delimiter: u8,
    state: u8,
    /// Line of the next byte (1-based; only `\n` counts).
    line: u64,
    /// Bytes consumed (after a BOM), and where the current line starts.
    offset: u64,
    line_start: u64,
    /// Line of the record being read.
    start: u64,
}

impl Scan {
    fn error(&self, line: u64, message: impl Into<String>) -> Error {
        Error::data(self.path.to_string(), Some(Position::Line(line)), message)
    }

    fn too_long(&self) -> Error {
        self.error(
            self.line,
            format!("line longer than {MAX_LINE} bytes (the limit of one Arrow string)"),
        )
    }

    /// A `\n` at `pos` (offset in the input).
    fn newline(&mut self, pos: u64) -> Result<()> {
        if pos - self.line_start > MAX_LINE as u64 {
            return Err(self.too_long());
        }
        self.line += 1;
        self.line_start = pos + 1;
        Ok(())
    }

    /// Line breaks inside a quoted span starting at `pos`.
    fn newlines(&mut self, span: &[u8], pos: u64) -> Result<()> {
        if let Some(first) = memchr::memchr(b'\n', span) {
            self.newline(pos + first as u64)?;
            let last = memchr::memrchr(b'\n', span).unwrap_or(first);
            if last > first {
                let more = memchr::memchr_iter(b'\n', &span[first + 1..=last]).count();
                self.line += more as u64;
                self.line_start = pos + last as u64 + 1;
            }
        }
        Ok(())
    }

    /// A scanner of the same file continuing from where this one is (at a record boundary).
    fn resume(&self) -> Scan {
        Scan {
            path: self.path.clone(),
            ..*self
        }
    }

    fn end_record(&mut self, chunk: &mut impl Sink) {
        chunk.end_record(self.start);
        self.state = 0;
    }

    /// Parse `buf` into `chunk`, stopping at a record boundary once the chunk is full;
    /// returns the bytes consumed. On error, the unfinished record is left in the chunk.
    fn scan(
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
                2 => match memchr::memchr3(d, b'\n', b'\r', &buf[i..]) {
                    None => {
                        chunk.extend(&buf[i..]);
                        i = n;
                    }
                    Some(k) => {
                        chunk.extend(&buf[i..i + k]);
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
                3 => {
                    let (k, next) = match memchr::memchr(b'"', &buf[i..]) {
                        None => (n - i, 3),
                        Some(k) => (k, 4),
                    };
                    let span = &buf[i..i + k];
                    chunk.extend(span);
                    self.newlines(span, base + i as u64)?;
                    self.state = next;
                    i += k + usize::from(next == 4);
                }
                _ => {
                    let b = buf[i];
                    if b == b'"' {
                        chunk.extend(b"\"");
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
    fn finish(&mut self, chunk: &mut impl Sink) -> Result<()> {
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

/// Records of one file.
struct Parser {
    input: Box<dyn BufRead + Send>,
    /// Bytes read while looking for a BOM, parsed before `input`.
    head: Vec<u8>,
    scan: Scan,
    /// The largest block split off so far (bytes), to size the next one's buffer.
    block_hint: usize,
}

impl Parser {
    fn open(path: &str, delimiter: u8, compression: Option<Compression>) -> Result<Self> {
        let mut input = open_decoded(path, compression)?;
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
            scan: Scan {
                path: Arc::from(path),
                delimiter,
                state: 0,
                line: 1,
                offset: 0,
                line_start: 0,
                start: 1,
            },
        })
    }

    /// Parse records into `chunk` until it holds `rows` records or `bytes` bytes of fields
    /// (true), or the file ends (false). On error, the records before it stay in the chunk.
    fn fill(&mut self, chunk: &mut Chunk, rows: usize, bytes: usize) -> Result<bool> {
        if !chunk
            .paths
            .last()
            .is_some_and(|p| Arc::ptr_eq(p, &self.scan.path))
        {
            chunk.paths.push(self.scan.path.clone());
        }
        let result = self.fill_inner(chunk, rows, bytes);
        if result.is_err() && self.scan.state != 0 {
            chunk.drop_open();
        }
        result
    }

    fn fill_inner(&mut self, chunk: &mut Chunk, rows: usize, bytes: usize) -> Result<bool> {
        if !self.head.is_empty() {
            let head = std::mem::take(&mut self.head);
            let used = self.scan.scan(&head, chunk, rows, bytes)?;
            if used < head.len() {
                self.head = head[used..].to_vec();
                return Ok(true);
            }
        }
        loop {
            if self.scan.state == 0 && chunk.full(rows, bytes) {
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
            let used = self.scan.scan(buf, chunk, rows, bytes)?;
            self.input.consume(used);
            if used < len {
                return Ok(true);
            }
        }
    }
}

/// Bytes read from the input at a time while splitting it into blocks.
const READ_BYTES: u64 = 1 << 20;

impl Parser {
    /// The next block of whole records of this file, read into `bytes` (a spare buffer):
    /// until it holds `rows` records or `limit` bytes of fields, or the file ends. Records
    /// are only delimited here; the pool parses them. Also returns how many records the
    /// block holds, and whether reading must stop (an error, met again by the pool).
    fn split(&mut self, mut bytes: Vec<u8>, rows: usize, limit: usize) -> (Block, usize, bool) {
        let start = self.scan.resume();
        bytes.clear();
        // Room for a block like the last one: growing the buffer would copy it.
        bytes.reserve(self.block_hint + self.head.len());
        bytes.append(&mut self.head);
        let mut counter = Counter::default();
        let (mut pos, mut last, mut error, mut stop) = (0, false, None, false);
        loop {
            if pos < bytes.len() {
                match self.scan.scan(&bytes[pos..], &mut counter, rows, limit) {
                    Ok(used) => pos += used,
                    Err(_) => {
                        stop = true;
                        break;
                    }
                }
                if pos < bytes.len() {
                    // Full, at a record boundary: the rest starts the next block.
                    self.head = bytes[pos..].to_vec();
                    bytes.truncate(pos);
                    break;
                }
            }
            if let Err(e) = crate::cancel::check() {
                (error, stop) = (Some(e), true);
                break;
            }
            bytes.reserve(READ_BYTES as usize);
            match (&mut self.input).take(READ_BYTES).read_to_end(&mut bytes) {
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
        };
        (block, counter.records, stop)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum CType {
    Int,
    Float,
    Bool,
    Str,
}

fn is_int_syntax(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
}

fn parse_int(text: &str) -> Option<i64> {
    if is_int_syntax(text) {
        text.parse::<i64>().ok()
    } else {
        None
    }
}

fn is_float_syntax(text: &str) -> bool {
    let b = text.as_bytes();
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

fn parse_float(text: &str) -> Option<f64> {
    if !is_float_syntax(text) {
        return None;
    }
    text.parse::<f64>().ok().filter(|f| f.is_finite())
}

fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" => Some(true),
        "false" | "False" => Some(false),
        _ => None,
    }
}

fn record_error(path: &str, line: u64, message: String, mismatch: bool) -> Error {
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

/// Whether every field of `chunk` is valid UTF-8, in one pass over all of them: the
/// concatenation is valid and each field starts on a character boundary (so none ends
/// inside a character). False means some field is not, or may not be: check field by field.
fn chunk_utf8(chunk: &Chunk) -> bool {
    let values = &chunk.values;
    std::str::from_utf8(values).is_ok()
        && chunk
            .ends
            .iter()
            .all(|&e| values.get(e).is_none_or(|&b| (b as i8) >= -0x40))
}

/// The decoding rules, fixed once the types are inferred; shared by the pool's jobs.
struct Decoder {
    width: usize,
    types: Vec<CType>,
    schema: SchemaRef,
    skip_bad: bool,
    /// Field buffers of decoded chunks, handed back to the parser: refilling memory already
    /// in use costs no page faults (at most [`SPARE`] are kept).
    spare: std::sync::Mutex<Vec<Vec<u8>>>,
    /// Input buffers of parsed blocks, handed back to the splitting thread likewise.
    spare_blocks: std::sync::Mutex<Vec<Vec<u8>>>,
}

/// Take a buffer from `spare` (empty if none).
fn take_spare(spare: &std::sync::Mutex<Vec<Vec<u8>>>) -> Vec<u8> {
    let mut spare = spare.lock().unwrap_or_else(|p| p.into_inner());
    spare.pop().unwrap_or_default()
}

/// Hand `buffer` back to `spare` (kept if fewer than [`SPARE`] are there).
fn give_spare(spare: &std::sync::Mutex<Vec<Vec<u8>>>, mut buffer: Vec<u8>) {
    buffer.clear();
    let mut spare = spare.lock().unwrap_or_else(|p| p.into_inner());
    if spare.len() < SPARE {
        spare.push(buffer);
    }
}

/// Whole records of one file as read, split off by the caller's thread for the pool to parse.
struct Block {
    bytes: Vec<u8>,
    /// The scanner's state where `bytes` begin (a record boundary).
    scan: Scan,
    /// The file ends with `bytes` (its last record may lack a line break).
    last: bool,
    /// The reading error met after `bytes` (the records before it still count).
    error: Option<Error>,
}

/// What the pool is given: a block, or the error that ended the input before one.
enum Work {
    Block(Block),
    Failed(Error),
}

/// Spare field buffers kept for reuse.
const SPARE: usize = 4;

impl Decoder {
    /// Why record `r` cannot be read: (message, whether it is a type mismatch).
    /// `utf8_checked`: every field of the chunk is known to be valid UTF-8 (see [`chunk_utf8`]).
    fn problem(&self, chunk: &Chunk, r: usize, utf8_checked: bool) -> Option<(String, bool)> {
        let fields = chunk.fields(r);
        if fields.len() != self.width {
            return Some((
                format!("expected {} fields, found {}", self.width, fields.len()),
                false,
            ));
        }
        if !utf8_checked
            && fields
                .clone()
                .any(|f| std::str::from_utf8(chunk.field(f)).is_err())
        {
            return Some(("invalid UTF-8".to_string(), false));
        }
        for ((f, t), field) in fields.zip(&self.types).zip(self.schema.fields()) {
            if *t == CType::Str || chunk.field(f).is_empty() {
                continue;
            }
            let text = std::str::from_utf8(chunk.field(f)).unwrap_or_default();
            let ok = match t {
                CType::Str => true,
                CType::Int => parse_int(text).is_some(),
                CType::Float => parse_float(text).is_some(),
                CType::Bool => parse_bool(text).is_some(),
            };
            if !ok {
                return Some((
                    format!(
                        "column {:?}: {text:?} is not a {}",
                        field.name(),
                        field.data_type()
                    ),
                    true,
                ));
            }
        }
        None
    }

    fn decode_work(&self, work: Work) -> Decoded {
        match work {
            Work::Block(block) => self.decode_block(block),
            Work::Failed(error) => Decoded {
                batch: None,
                skipped: 0,
                error: Some(error),
            },
        }
    }

    /// Parse a block (the same scanner, from the same state, as the splitting thread ran
    /// over these bytes: the same records, and the same error if it met one) and decode it.
    fn decode_block(&self, block: Block) -> Decoded {
        let Block {
            bytes,
            mut scan,
            last,
            error,
        } = block;
        let mut chunk = Chunk {
            values: take_spare(&self.spare),
            ..Chunk::default()
        };
        // The fields are at most the block's bytes: no growing (copying) of the buffer.
        chunk.values.reserve(bytes.len());
        chunk.paths.push(scan.path.clone());
        let parsed = scan
            .scan(&bytes, &mut chunk, usize::MAX, usize::MAX)
            .and_then(|_| {
                if last {
                    scan.finish(&mut chunk)
                } else {
                    Ok(())
                }
            });
        give_spare(&self.spare_blocks, bytes);
        if scan.state != 0 && (parsed.is_err() || error.is_some()) {
            chunk.drop_open();
        }
        chunk.tail = parsed.err().or(error);
        self.decode_chunk(chunk)
    }

    fn decode_chunk(&self, mut chunk: Chunk) -> Decoded {
        let mut good = Vec::with_capacity(chunk.records.len());
        let (mut skipped, mut error) = (0, None);
        let utf8_checked = chunk_utf8(&chunk);
        for r in 0..chunk.records.len() {
            match self.problem(&chunk, r, utf8_checked) {
                None => good.push(r),
                Some(_) if self.skip_bad => skipped += 1,
                Some((message, mismatch)) => {
                    let line = chunk.records[r].0;
                    error = Some(record_error(chunk.path(r), line, message, mismatch));
                    break;
                }
            }
        }
        let error = error.or(chunk.tail.take());
        let (batch, error) = match (good.is_empty(), error) {
            (true, error) => (None, error),
            (false, error) => match self.build(&chunk, &good) {
                Ok(batch) => (Some(batch), error),
                Err(e) => (None, Some(e)),
            },
        };
        give_spare(&self.spare, std::mem::take(&mut chunk.values));
        Decoded {
            batch,
            skipped,
            error,
        }
    }

    /// The batch of records `good` of `chunk` (checked by [`Decoder::problem`]).
    fn build(&self, chunk: &Chunk, good: &[usize]) -> Result<RecordBatch> {
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.types.len());
        for (i, t) in self.types.iter().enumerate() {
            let cells = good.iter().map(|&r| {
                let bytes = chunk.field(chunk.records[r].1 + i);
                // Checked UTF-8 already; empty is null.
                Some(std::str::from_utf8(bytes).unwrap_or_default()).filter(|s| !s.is_empty())
            });
            let column: ArrayRef = match t {
                CType::Int => {
                    let mut b = Int64Builder::with_capacity(good.len());
                    cells.for_each(|c| b.append_option(c.and_then(parse_int)));
                    Arc::new(b.finish())
                }
                CType::Float => {
                    let mut b = Float64Builder::with_capacity(good.len());
                    cells.for_each(|c| b.append_option(c.and_then(parse_float)));
                    Arc::new(b.finish())
                }
                CType::Bool => {
                    let mut b = BooleanBuilder::with_capacity(good.len());
                    cells.for_each(|c| b.append_option(c.and_then(parse_bool)));
                    Arc::new(b.finish())
                }
                CType::Str => self.strings(chunk, good, i)?,
            };
            columns.push(column);
        }
        batch_of(&self.schema, columns, good.len())
    }

    /// Column `i` as a string array, straight from the chunk's bytes.
    fn strings(&self, chunk: &Chunk, good: &[usize], i: usize) -> Result<ArrayRef> {
        let too_big = || {
            let r = good.first().copied().unwrap_or(0);
            Error::data(
                chunk.path(r),
                Some(Position::Line(chunk.records[r].0)),
                format!(
                    "column {:?} holds more than {} bytes in one chunk",
                    self.schema.field(i).name(),
                    i32::MAX
                ),
            )
        };
        let total: usize = good
            .iter()
            .map(|&r| chunk.field(chunk.records[r].1 + i).len())
            .sum();
        if total > i32::MAX as usize {
            return Err(too_big());
        }
        let mut values = Vec::with_capacity(total);
        let mut offsets = Vec::with_capacity(good.len() + 1);
        offsets.push(0i32);
        let mut nulls = NullBufferBuilder::new(good.len());
        for &r in good {
            let bytes = chunk.field(chunk.records[r].1 + i);
            if bytes.is_empty() {
                nulls.append_null();
            } else {
                values.extend_from_slice(bytes);
                nulls.append_non_null();
            }
            offsets.push(values.len() as i32); // at most `total`, checked above
        }
        // SAFETY: `offsets` start at 0 and never decrease, the last is `values.len()`, and
        // `values` is the concatenation of fields each checked to be valid UTF-8 (by
        // `problem`, or as a whole by `chunk_utf8`): every slice between two offsets is a
        // whole number of fields, so valid UTF-8. Arrow's own check would read the column
        // a second time.
        let array = unsafe {
            StringArray::new_unchecked(
                OffsetBuffer::new_unchecked(offsets.into()),
                values.into(),
                nulls.finish(),
            )
        };
        Ok(Arc::new(array))
    }
}

/// A block ends after this many bytes of fields, or at the next boundary of the output
/// batches (`batch_size` records, at least 1024). Small enough that its buffers (input,
/// fields, the arrays built from them) stay below the allocator's huge-object size and
/// are reused from block to block: memory newly taken from the OS costs a page fault and
/// zeroing per page, more than the one copy that joins blocks into a large batch.
const CHUNK_BYTES: usize = 4 << 20;

pub struct CsvSource {
    paths: Vec<String>,
    next: usize,
    delimiter: u8,
    compression: Option<Compression>,
    current: Option<Parser>,
    header: Option<Vec<String>>,
    skip_bad: bool,
    skipped: u64,
    batch_size: usize,
    num_threads: usize,
    types: Vec<CType>,
    schema: SchemaRef,
    /// Records read while inferring the types.
    buffer: Option<Chunk>,
    decoder: Option<Arc<Decoder>>,
    chunked: Chunked,
    read_done: bool,
    /// Records handed out so far (those of the type inference included).
    gathered: usize,
}

impl CsvSource {
    pub fn open(
        paths: Vec<String>,
        delimiter: u8,
        compression: Option<Compression>,
        batch_size: usize,
        skip_bad: bool,
        num_threads: usize,
    ) -> Result<Self> {
        let mut source = CsvSource {
            paths,
            next: 0,
            delimiter,
            compression,
            current: None,
            header: None,
            skip_bad,
            skipped: 0,
            batch_size,
            num_threads,
            types: Vec::new(),
            schema: Arc::new(Schema::empty()),
            buffer: None,
            decoder: None,
            chunked: Chunked::default(),
            read_done: false,
            gathered: 0,
        };
        source.infer()?;
        Ok(source)
    }

    /// Parse data records (headers consumed and checked) into `chunk` until it holds
    /// `rows` records or `bytes` bytes (true) or the input ends (false).
    fn fill(&mut self, chunk: &mut Chunk, rows: usize, bytes: usize) -> Result<bool> {
        loop {
            let Some(parser) = self.current.as_mut() else {
                if !self.open_next()? {
                    return Ok(false);
                }
                continue;
            };
            if parser.fill(chunk, rows, bytes)? {
                return Ok(true);
            }
            self.current = None;
        }
    }

    /// Open the next file and read its header (false when there is none).
    fn open_next(&mut self) -> Result<bool> {
        if self.next >= self.paths.len() {
            return Ok(false);
        }
        let path = self.paths[self.next].clone();
        self.next += 1;
        let mut parser = Parser::open(&path, self.delimiter, self.compression)?;
        let mut head = Chunk::default();
        parser.fill(&mut head, 1, usize::MAX)?;
        if !head.records.is_empty() {
            let names = head.fields(0).map(|f| head.field(f).to_vec()).collect();
            self.set_header(&path, head.records[0].0, names)?;
        }
        self.current = Some(parser);
        Ok(true)
    }

    fn set_header(&mut self, path: &str, line: u64, fields: Vec<Vec<u8>>) -> Result<()> {
        let position = Some(Position::Line(line));
        let mut names = Vec::with_capacity(fields.len());
        for f in fields {
            match String::from_utf8(f) {
                Ok(s) => names.push(s),
                Err(_) => return Err(Error::data(path, position, "invalid UTF-8 in the header")),
            }
        }
        let unique: std::collections::HashSet<&String> = names.iter().collect();
        if unique.len() != names.len() {
            return Err(Error::data(
                path,
                position,
                "duplicate column names in the header",
            ));
        }
        match &self.header {
            None => self.header = Some(names),
            Some(first) if *first != names => {
                return Err(Error::SchemaMismatch {
                    path: path.to_string(),
                    position,
                    message: format!("header {names:?} differs from the first file's {first:?}"),
                })
            }
            Some(_) => {}
        }
        Ok(())
    }

    fn width(&self) -> usize {
        self.header.as_ref().map(Vec::len).unwrap_or(0)
    }

    fn infer(&mut self) -> Result<()> {
        let mut ints: Vec<bool> = Vec::new();
        let mut floats: Vec<bool> = Vec::new();
        let mut bools: Vec<bool> = Vec::new();
        let mut seen: Vec<bool> = Vec::new();
        let mut buffer = Chunk::default();
        while buffer.records.len() < INFER_ROWS {
            let r = buffer.records.len();
            self.fill(&mut buffer, r + 1, usize::MAX)?;
            if buffer.records.len() == r {
                break;
            }
            // The header is known once the first record is read.
            let probe = Decoder {
                width: self.width(),
                types: Vec::new(),
                schema: self.schema.clone(),
                skip_bad: self.skip_bad,
                spare: Default::default(),
                spare_blocks: Default::default(),
            };
            if let Some((message, mismatch)) = probe.problem(&buffer, r, false) {
                if !self.skip_bad {
                    return Err(record_error(
                        buffer.path(r),
                        buffer.records[r].0,
                        message,
                        mismatch,
                    ));
                }
                self.skipped += 1;
                buffer.truncate(r);
                continue;
            }
            if seen.is_empty() {
                let n = buffer.fields(r).len();
                (ints, floats, bools, seen) =
                    (vec![true; n], vec![true; n], vec![true; n], vec![false; n]);
            }
            for (i, f) in buffer.fields(r).enumerate() {
                let text = std::str::from_utf8(buffer.field(f)).unwrap_or_default();
                if text.is_empty() {
                    continue;
                }
                seen[i] = true;
                if ints[i] && parse_int(text).is_none() {
                    ints[i] = false;
                }
                if floats[i] && parse_float(text).is_none() {
                    floats[i] = false;
                }
                if bools[i] && parse_bool(text).is_none() {
                    bools[i] = false;
                }
            }
        }
        let names = self.header.clone().unwrap_or_default();
        self.types = (0..names.len())
            .map(|i| {
                if seen.is_empty() || !seen[i] {
                    CType::Str
                } else if ints[i] {
                    CType::Int
                } else if floats[i] {
                    CType::Float
                } else if bools[i] {
                    CType::Bool
                } else {
                    CType::Str
                }
            })
            .collect();
        let fields: Vec<Field> = names
            .iter()
            .zip(&self.types)
            .map(|(name, t)| {
                let dt = match t {
                    CType::Int => DataType::Int64,
                    CType::Float => DataType::Float64,
                    CType::Bool => DataType::Boolean,
                    CType::Str => DataType::Utf8,
                };
                Field::new(name, dt, true)
            })
            .collect();
        self.schema = Arc::new(Schema::new(fields));
        self.gathered = buffer.records.len();
        self.buffer = (!buffer.records.is_empty()).then_some(buffer);
        Ok(())
    }

    fn decoder(&mut self) -> Arc<Decoder> {
        if self.decoder.is_none() {
            self.decoder = Some(Arc::new(Decoder {
                width: self.width(),
                types: self.types.clone(),
                schema: self.schema.clone(),
                skip_bad: self.skip_bad,
                spare: Default::default(),
                spare_blocks: Default::default(),
            }));
        }
        self.decoder.clone().expect("set above")
    }

    /// Split off the next block of records (None at the end of the input).
    fn gather(&mut self) -> Option<Work> {
        if self.read_done {
            return None;
        }
        let rows = if self.batch_size >= 1024 {
            self.batch_size - self.gathered % self.batch_size
        } else {
            1024
        };
        let decoder = self.decoder();
        loop {
            let parser = match self.current.as_mut() {
                Some(parser) => parser,
                None => match self.open_next() {
                    Ok(true) => continue,
                    Ok(false) => {
                        self.read_done = true;
                        return None;
                    }
                    Err(e) => {
                        self.read_done = true;
                        return Some(Work::Failed(e));
                    }
                },
            };
            let spare = take_spare(&decoder.spare_blocks);
            let (block, records, stop) = parser.split(spare, rows, CHUNK_BYTES);
            self.gathered += records;
            if stop {
                self.read_done = true;
            } else if block.last {
                self.current = None;
                if records == 0 {
                    give_spare(&decoder.spare_blocks, block.bytes);
                    continue;
                }
            }
            return Some(Work::Block(block));
        }
    }
}

impl Source for CsvSource {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        if let Some(buffer) = self.buffer.take() {
            let good: Vec<usize> = (0..buffer.records.len()).collect();
            return self.decoder().build(&buffer, &good).map(Some);
        }
        // `gather` borrows the source: the read-ahead state is taken out meanwhile.
        let decoder = self.decoder();
        let mut chunked = std::mem::take(&mut self.chunked);
        let batch = chunked.next_batch(
            self.num_threads,
            || self.gather(),
            move |work| decoder.decode_work(work),
        );
        self.chunked = chunked;
        batch
    }

    fn skipped(&self) -> u64 {
        self.skipped + self.chunked.skipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_grammar() {
        for ok in ["0", "-0", "12", "-9223372036854775808"] {
            assert!(parse_int(ok).is_some(), "{ok}");
        }
        for no in ["", "-", "01", "+1", "1.0", "9223372036854775808", " 1"] {
            assert!(parse_int(no).is_none(), "{no}");
        }
        for ok in ["0", "1.5", "-0.0", "1e5", "1E+5", "2.5e-3"] {
            assert!(parse_float(ok).is_some(), "{ok}");
        }
        for no in ["", ".5", "1.", "01.5", "nan", "inf", "1e", "1e400", "+1"] {
            assert!(parse_float(no).is_none(), "{no}");
        }
    }
}
