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
//! scanner from that state over the block (so it finds the same records, lines and errors),
//! noting where each field lies in the block (a field with a `""` inside is copied aside);
//! then checks the records (field count, UTF-8 once per block, types). The blocks of one
//! output batch form a [`Group`]: the job that finishes last joins them into the batch of
//! `batch_size` rows (a string field's bytes copied once, from its block into the batch's
//! buffer, blocks in parallel), so the calling thread only reads and splits.

use std::io::{BufRead, Read};
use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_buffer::{BooleanBuffer, NullBuffer, NullBufferBuilder, OffsetBuffer};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use super::ahead::{Chunked, Decoded};
use super::source::{read_error, Input, Inputs, MAX_LINE};
use super::{batch_of, Compression, Source, INFER_ROWS};
use crate::error::{Error, Position, Result};

const BOM: &[u8] = b"\xef\xbb\xbf";

/// Marks a field position in a column's `aside` bytes rather than in the block.
const ASIDE: usize = 1 << (usize::BITS - 1);

/// One column of parsed records: where each field's bytes are. A field read from a block
/// in one piece is a span of the block (no copy); one that is not (a `""` inside quotes,
/// or read from a stream) is copied to `aside`, its span marked with [`ASIDE`].
#[derive(Default)]
struct Column {
    starts: Vec<usize>,
    ends: Vec<usize>,
    aside: Vec<u8>,
}

impl Column {
    fn with_capacity(fields: usize) -> Column {
        Column {
            starts: Vec::with_capacity(fields),
            ends: Vec::with_capacity(fields),
            aside: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        self.starts.len()
    }

    /// Field `i`, its span in `source` (the block it was read from) or in `aside`.
    fn field<'a>(&'a self, i: usize, source: &'a [u8]) -> &'a [u8] {
        let (start, end) = (self.starts[i], self.ends[i]);
        if start & ASIDE != 0 {
            &self.aside[start & !ASIDE..end & !ASIDE]
        } else {
            &source[start..end]
        }
    }

    /// Keep the first `n` fields (`aside` may keep bytes of dropped ones: unused).
    fn truncate(&mut self, n: usize) {
        self.starts.truncate(n);
        self.ends.truncate(n);
    }

    /// The bytes of all fields.
    fn bytes(&self) -> usize {
        self.starts.iter().zip(&self.ends).map(|(s, e)| e - s).sum()
    }
}

/// A parsed record: the line it starts on, its file (index into `paths`), how many fields
/// it has, and where its fields past the chunk's width start in `extra`.
struct Record {
    line: u64,
    file: usize,
    fields: usize,
    extra: usize,
}

/// The field being read: its span so far (`start == end` while empty).
#[derive(Default, Clone, Copy)]
struct OpenField {
    start: usize,
    end: usize,
}

/// Parsed records, by column.
#[derive(Default)]
struct Chunk {
    /// The first `width` fields of every record (a record with fewer has empty ones).
    columns: Vec<Column>,
    /// The fields past the width (a record with them is an error, or the header).
    extra: Column,
    records: Vec<Record>,
    paths: Vec<Arc<str>>,
    /// The reading error met after these records (they still count).
    tail: Option<Error>,
    /// The bytes the fields' spans point into: the block, once parsed (empty for a chunk
    /// read from a stream, whose fields are all aside).
    source: Arc<Vec<u8>>,
    /// Fields are spans of the input given to `scan` (a whole block, kept as `source`);
    /// false: every field is copied aside (the input is a stream's passing buffer).
    spans: bool,
    /// Every byte of `source` is known to be valid UTF-8.
    source_utf8: bool,
    /// The field being read in the open record: its index and span.
    open_field: usize,
    open: OpenField,
}

/// Where [`Scan`] puts what it finds: a [`Chunk`] (the fields), or a [`Counter`] (only
/// where records end, to split the input into blocks of whole records).
trait Sink {
    fn begin_record(&mut self);
    /// `buf[start..end]` belongs to the open field (`buf` is the input given to `scan`).
    fn extend(&mut self, buf: &[u8], start: usize, end: usize);
    fn end_field(&mut self);
    /// The record that started on `line` (in the file `paths.last()`) is complete.
    fn end_record(&mut self, line: u64);
    fn full(&self, rows: usize, bytes: usize) -> bool;
}

impl Chunk {
    fn open_column(&mut self) -> &mut Column {
        self.columns
            .get_mut(self.open_field)
            .unwrap_or(&mut self.extra)
    }
}

impl Sink for Chunk {
    fn begin_record(&mut self) {
        self.open_field = 0;
        self.open = OpenField::default();
    }

    fn extend(&mut self, buf: &[u8], start: usize, end: usize) {
        let open = self.open;
        let empty = open.start == open.end && open.start & ASIDE == 0;
        if self.spans && empty {
            self.open = OpenField { start, end };
        } else if self.spans && open.start & ASIDE == 0 && open.end == start {
            self.open.end = end;
        } else {
            // Not one piece of the input: the field's bytes so far, then these, aside.
            let spans = self.spans;
            let column = self.open_column();
            let mut from = open.start & !ASIDE;
            if open.start & ASIDE == 0 {
                from = column.aside.len();
                if spans {
                    column.aside.extend_from_slice(&buf[open.start..open.end]);
                }
            }
            column.aside.extend_from_slice(&buf[start..end]);
            let to = column.aside.len();
            self.open = OpenField {
                start: from | ASIDE,
                end: to | ASIDE,
            };
        }
    }

    fn end_field(&mut self) {
        let open = std::mem::take(&mut self.open);
        let column = self.open_column();
        column.starts.push(open.start);
        column.ends.push(open.end);
        self.open_field += 1;
    }

    fn end_record(&mut self, line: u64) {
        self.end_field();
        for column in self.columns.iter_mut().skip(self.open_field) {
            column.starts.push(0); // missing fields: empty
            column.ends.push(0);
        }
        let extra = self.extra.len() - self.open_field.saturating_sub(self.columns.len());
        self.records.push(Record {
            line,
            file: self.paths.len() - 1,
            fields: self.open_field,
            extra,
        });
    }

    /// A chunk is filled by records only: blocks are cut by bytes when split (`Counter`).
    fn full(&self, rows: usize, _bytes: usize) -> bool {
        self.records.len() >= rows
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

    fn extend(&mut self, _buf: &[u8], start: usize, end: usize) {
        self.bytes += end - start;
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
    /// A chunk for records of `width` fields (0: all go to `extra`, as a header's), copied
    /// aside as read from a stream.
    fn new(width: usize) -> Chunk {
        Chunk {
            columns: (0..width).map(|_| Column::default()).collect(),
            ..Chunk::default()
        }
    }

    /// Field `c` of record `r` (`c` below the record's field count).
    fn field(&self, r: usize, c: usize) -> &[u8] {
        match self.columns.get(c) {
            Some(column) => column.field(r, &self.source),
            None => self
                .extra
                .field(self.records[r].extra + c - self.columns.len(), &self.source),
        }
    }

    /// The fields of record `r`.
    fn record(&self, r: usize) -> impl Iterator<Item = &[u8]> + '_ {
        (0..self.records[r].fields).map(move |c| self.field(r, c))
    }

    fn path(&self, r: usize) -> &str {
        &self.paths[self.records[r].file]
    }

    /// Drop the record being read (after an error inside it).
    fn drop_open(&mut self) {
        self.truncate(self.records.len());
    }

    /// Drop the records from `r` on (and any field of an unfinished record).
    fn truncate(&mut self, r: usize) {
        let extra = match self.records.get(r) {
            Some(record) => record.extra,
            None => self.records.last().map_or(0, |last| {
                last.extra + last.fields.saturating_sub(self.columns.len())
            }),
        };
        self.records.truncate(r);
        for column in &mut self.columns {
            column.truncate(r);
        }
        self.extra.truncate(extra);
    }
}

/// The state machine of one file. States: 0 start of record, 1 start of field,
/// 2 unquoted, 3 quoted, 4 quote in quoted. A clone continues from where it is.
#[derive(Clone)]
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
    /// The parser of one input (opened by the shared [`Inputs`]; decompression is below it).
    fn new(input: Input, delimiter: u8) -> Result<Self> {
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

    /// Parse records into `chunk` until it holds `rows` records (true), or the file ends
    /// (false). On error, the records before it stay in the chunk.
    fn fill(&mut self, chunk: &mut Chunk, rows: usize) -> Result<bool> {
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

    fn fill_inner(&mut self, chunk: &mut Chunk, rows: usize) -> Result<bool> {
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
const READ_BYTES: usize = 1 << 20;
const MIN_READ: usize = 64 << 10;

/// How much to read next into a block that holds `consumed` bytes of whole records
/// (counted by `counter`) and ends at `rows` records or `limit` bytes of fields: about what
/// it still lacks, as far as its records so far tell, so that little is read past its end
/// (those bytes are copied to start the next block).
fn read_size(counter: &Counter, consumed: usize, rows: usize, limit: usize) -> usize {
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
    fn split(&mut self, rows: usize, limit: usize) -> (Block, usize, bool) {
        let start = self.scan.clone();
        // Room for a block like the largest so far and a read past it: growing the buffer
        // would copy it.
        let mut bytes = Vec::with_capacity(self.block_hint + self.head.len() + 2 * READ_BYTES);
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

#[derive(Debug, Clone, Copy, PartialEq)]
enum CType {
    Int,
    Float,
    Bool,
    Str,
}

// The value parsers take a field's bytes: its text is checked for UTF-8 elsewhere, and a
// number's is ASCII by its syntax.

fn is_int_syntax(digits: &[u8]) -> bool {
    let digits = digits.strip_prefix(b"-").unwrap_or(digits);
    !digits.is_empty()
        && digits.iter().all(u8::is_ascii_digit)
        && (digits == b"0" || digits[0] != b'0')
}

/// The text of bytes checked to be ASCII.
fn ascii(text: &[u8]) -> &str {
    std::str::from_utf8(text).unwrap_or_default()
}

fn parse_int(text: &[u8]) -> Option<i64> {
    if is_int_syntax(text) {
        ascii(text).parse::<i64>().ok()
    } else {
        None
    }
}

fn is_float_syntax(b: &[u8]) -> bool {
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

fn parse_float(text: &[u8]) -> Option<f64> {
    if !is_float_syntax(text) {
        return None;
    }
    ascii(text).parse::<f64>().ok().filter(|f| f.is_finite())
}

fn parse_bool(text: &[u8]) -> Option<bool> {
    match text {
        b"true" | b"True" => Some(true),
        b"false" | b"False" => Some(false),
        _ => None,
    }
}

/// Why record `r` of `chunk` cannot be a row of `width` fields: (message, false: not a
/// type mismatch). `utf8_checked`: every field of the chunk is known to be valid UTF-8.
fn shape_problem(
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
struct Values {
    data: Data,
    /// Per value: not null.
    valid: Vec<bool>,
}

enum Data {
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
    fn new(t: CType, rows: usize, keep: bool) -> Option<Values> {
        let data = match t {
            CType::Str => return None,
            _ if !keep => Data::Check(t),
            CType::Int => Data::Int(Vec::with_capacity(rows)),
            CType::Float => Data::Float(Vec::with_capacity(rows)),
            CType::Bool => Data::Bool(Vec::with_capacity(rows)),
        };
        Some(Values {
            data,
            valid: Vec::with_capacity(rows),
        })
    }

    /// Append a field's value (empty: null); false if it is not of the column's type.
    fn push(&mut self, field: &[u8]) -> bool {
        let empty = field.is_empty();
        let ok = match &mut self.data {
            Data::Int(v) => push_parsed(v, field, parse_int),
            Data::Float(v) => push_parsed(v, field, parse_float),
            Data::Bool(v) => push_parsed(v, field, parse_bool),
            Data::Check(t) => empty || check(*t, field),
        };
        if ok {
            self.valid.push(!empty);
        }
        ok
    }

    fn truncate(&mut self, rows: usize) {
        self.valid.truncate(rows);
        match &mut self.data {
            Data::Int(v) => v.truncate(rows),
            Data::Float(v) => v.truncate(rows),
            Data::Bool(v) => v.truncate(rows),
            Data::Check(_) => {}
        }
    }

    /// The column's array (None for a checked-only column).
    fn finish(self) -> Option<ArrayRef> {
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

/// Whether a non-empty field parses as type `t` (a string always does: UTF-8 is checked
/// with the record).
fn check(t: CType, field: &[u8]) -> bool {
    match t {
        CType::Int => parse_int(field).is_some(),
        CType::Float => parse_float(field).is_some(),
        CType::Bool => parse_bool(field).is_some(),
        CType::Str => true,
    }
}

/// Append `parse(field)` to `values` (the type's default if `field` is empty: null); false
/// if it does not parse.
fn push_parsed<T: Default>(
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

/// A string column's fields in the blocks of a batch, back to back (`total` bytes): each
/// piece's fields copied into its own region of the new buffer, the pieces in parallel on
/// the pool when called from it (the copy and the page faults of the new memory are most of
/// a batch's join).
fn join_fields(pieces: &[Strings], total: usize) -> Vec<u8> {
    use rayon::prelude::*;
    use std::mem::MaybeUninit;
    let mut values = Vec::with_capacity(total);
    // Not zeroed first: each byte is written once, by the copy.
    let mut rest: &mut [MaybeUninit<u8>] = &mut values.spare_capacity_mut()[..total];
    let mut copies = Vec::with_capacity(pieces.len());
    for piece in pieces {
        let (into, tail) = rest.split_at_mut(piece.bytes);
        copies.push((into, piece));
        rest = tail;
    }
    assert!(rest.is_empty(), "the pieces hold `total` bytes");
    let copy = |(into, piece): (&mut [MaybeUninit<u8>], &Strings)| {
        let mut at = 0;
        for i in 0..piece.column.len() {
            let field = piece.column.field(i, &piece.source);
            let to = &mut into[at..at + field.len()];
            // SAFETY: `to` has `field.len()` bytes (sliced so above); a new allocation and a
            // field do not overlap.
            unsafe {
                std::ptr::copy_nonoverlapping(field.as_ptr(), to.as_mut_ptr().cast(), field.len())
            };
            at += field.len();
        }
        assert_eq!(at, into.len(), "a piece's fields hold its `bytes`");
    };
    if rayon::current_thread_index().is_some() {
        copies.into_par_iter().for_each(copy);
    } else {
        // Not on the pool (one thread): rayon would use its global pool.
        copies.into_iter().for_each(copy);
    }
    // SAFETY: the pieces' regions cover the first `total` bytes of the capacity (asserted
    // above), each filled by its fields (asserted in `copy`).
    unsafe { values.set_len(total) };
    values
}

/// The decoding rules, fixed once the types are inferred; shared by the pool's jobs.
struct Decoder {
    width: usize,
    types: Vec<CType>,
    /// The full schema (of every column checked).
    schema: SchemaRef,
    skip_bad: bool,
    /// Per column: whether it is built (in `columns=`); the others are only checked.
    built: Vec<bool>,
    /// The built columns, in order (indices of `schema`).
    kept: Vec<usize>,
    /// The schema of the batches: the built columns.
    output: SchemaRef,
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
    /// How many records `bytes` hold (as the splitting scanner counted them).
    records: usize,
}

/// The good records of a block, decoded: per column, an Arrow array, or for a string
/// column where its fields are (one per row, empty is null), copied once, into the batch.
enum PartColumn {
    Str(Strings),
    Array(ArrayRef),
}

/// A string column's fields in a block.
struct Strings {
    source: Arc<Vec<u8>>,
    column: Column,
    /// The bytes of its fields.
    bytes: usize,
}

/// A decoded block: its good records, how many it skipped, the error that ended it.
#[derive(Default)]
struct Part {
    columns: Vec<PartColumn>,
    rows: usize,
    skipped: u64,
    error: Option<Error>,
    /// The file and line of its first row (to name in an error about the whole batch).
    origin: Option<(Arc<str>, u64)>,
}

/// The blocks of one output batch: each pool job leaves its decoded block here, and the
/// job that finishes last joins them into the batch (so the join runs on the pool, not
/// on the thread reading the input).
struct Group {
    state: std::sync::Mutex<GroupState>,
}

struct GroupState {
    parts: Vec<Option<Part>>,
    /// Jobs not finished, plus one until the group's last job is queued.
    pending: usize,
}

impl Group {
    fn new() -> Arc<Group> {
        Arc::new(Group {
            state: std::sync::Mutex::new(GroupState {
                parts: Vec::new(),
                pending: 1,
            }),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, GroupState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn is_empty(&self) -> bool {
        self.state().parts.is_empty()
    }

    /// Reserve the slot of the next job's part.
    fn add(&self) -> usize {
        let mut state = self.state();
        state.pending += 1;
        state.parts.push(None);
        state.parts.len() - 1
    }

    /// Leave job `index`'s part; the parts of all jobs if it was the last to finish.
    fn finish(&self, index: usize, part: Part, seals: bool) -> Option<Vec<Part>> {
        let mut state = self.state();
        state.parts[index] = Some(part);
        state.pending -= 1 + usize::from(seals);
        if state.pending == 0 {
            Some(
                std::mem::take(&mut state.parts)
                    .into_iter()
                    .flatten()
                    .collect(),
            )
        } else {
            None
        }
    }
}

/// A job of the pool: a block, or the error that ended the input before one, or the end of
/// the input; `seals` if it is the last job of its group.
struct Work {
    group: Arc<Group>,
    index: usize,
    seals: bool,
    what: What,
}

enum What {
    Block(Block),
    Failed(Error),
    End,
}

impl Decoder {
    /// `keep`: the columns built (sorted indices of `schema`; None: all).
    fn new(
        width: usize,
        types: Vec<CType>,
        schema: SchemaRef,
        skip_bad: bool,
        keep: Option<&[usize]>,
    ) -> Decoder {
        let kept = match keep {
            None => (0..types.len()).collect(),
            Some(keep) => keep.to_vec(),
        };
        let mut built = vec![false; types.len()];
        kept.iter().for_each(|&c| built[c] = true);
        let output = Arc::new(Schema::new(
            kept.iter()
                .map(|&c| schema.field(c).clone())
                .collect::<Vec<_>>(),
        ));
        Decoder {
            width,
            types,
            schema,
            skip_bad,
            built,
            kept,
            output,
        }
    }

    /// Parse the typed fields of record `r` onto `values` (one per column, `None` for a
    /// string column), all or none: the message of the first that is not of its column's
    /// type. Empty is null.
    fn parse_record(
        &self,
        chunk: &Chunk,
        r: usize,
        values: &mut [Option<Values>],
    ) -> Option<String> {
        for (c, column) in values.iter_mut().enumerate() {
            let Some(column) = column else { continue };
            let bytes = chunk.field(r, c);
            if column.push(bytes) {
                continue;
            }
            let rows = column.valid.len();
            values.iter_mut().flatten().for_each(|v| v.truncate(rows));
            let field = self.schema.field(c);
            let text = String::from_utf8_lossy(bytes);
            return Some(format!(
                "column {:?}: {text:?} is not a {}",
                field.name(),
                field.data_type()
            ));
        }
        None
    }

    /// Run a job: decode its block, and if it finishes its group, join the group's parts.
    fn decode_work(&self, work: Work) -> Decoded {
        let part = match work.what {
            What::Block(block) => self.decode_block(block),
            What::Failed(error) => Part {
                error: Some(error),
                ..Part::default()
            },
            What::End => Part::default(),
        };
        match work.group.finish(work.index, part, work.seals) {
            Some(parts) => self.join(parts),
            None => Decoded {
                batch: None,
                skipped: 0,
                error: None,
            },
        }
    }

    /// A chunk for a block of `records` records, its fields spans of the block.
    fn chunk(&self, records: usize) -> Chunk {
        Chunk {
            columns: (0..self.width)
                .map(|_| Column::with_capacity(records))
                .collect(),
            records: Vec::with_capacity(records),
            spans: true,
            ..Chunk::default()
        }
    }

    /// Parse a block (the same scanner, from the same state, as the splitting thread ran
    /// over these bytes: the same records, and the same error if it met one) and decode it.
    fn decode_block(&self, block: Block) -> Part {
        let Block {
            bytes,
            mut scan,
            last,
            error,
            records,
        } = block;
        let mut chunk = self.chunk(records);
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
        chunk.drop_open();
        // Fields are cut at ASCII bytes: all are valid UTF-8 if the block is.
        chunk.source_utf8 = simdutf8::basic::from_utf8(&bytes).is_ok();
        chunk.source = Arc::new(bytes);
        chunk.tail = parsed.err().or(error);
        self.decode_chunk(chunk)
    }

    /// Check the records of `chunk` (all of them, or up to the first bad one) and decode
    /// the good ones (typed values parsed as they are checked: one pass over the fields).
    fn decode_chunk(&self, mut chunk: Chunk) -> Part {
        let n = chunk.records.len();
        let mut good = Vec::with_capacity(n);
        let (mut skipped, mut error) = (0, None);
        let utf8_checked = chunk.source_utf8;
        let mut values: Vec<Option<Values>> = self
            .types
            .iter()
            .zip(&self.built)
            .map(|(&t, &keep)| Values::new(t, n, keep))
            .collect();
        for r in 0..n {
            let problem = shape_problem(self.width, &chunk, r, utf8_checked).or_else(|| {
                let message = self.parse_record(&chunk, r, &mut values)?;
                Some((message, true))
            });
            match problem {
                None => good.push(r),
                Some(_) if self.skip_bad => skipped += 1,
                Some((message, mismatch)) => {
                    let line = chunk.records[r].line;
                    error = Some(record_error(chunk.path(r), line, message, mismatch));
                    break;
                }
            }
        }
        let error = error.or(chunk.tail.take());
        let origin = good.first().map(|&r| {
            (
                chunk.paths[chunk.records[r].file].clone(),
                chunk.records[r].line,
            )
        });
        let columns = if good.is_empty() {
            Vec::new()
        } else {
            self.columns(&mut chunk, &good, values)
        };
        Part {
            columns,
            rows: good.len(),
            skipped,
            error,
            origin,
        }
    }

    /// The columns of records `good` of `chunk` (checked by [`shape_problem`]), their typed
    /// values parsed (`values`). String columns are taken out of the chunk (their fields'
    /// spans, not their bytes).
    fn columns(
        &self,
        chunk: &mut Chunk,
        good: &[usize],
        values: Vec<Option<Values>>,
    ) -> Vec<PartColumn> {
        let all = good.len() == chunk.records.len();
        let mut columns = Vec::with_capacity(self.kept.len());
        for (c, typed) in values.into_iter().enumerate() {
            if !self.built[c] {
                // Outside `columns=`: checked with the record, never built.
                continue;
            }
            match typed.and_then(Values::finish) {
                Some(array) => columns.push(PartColumn::Array(array)),
                None => {
                    let mut column = std::mem::take(&mut chunk.columns[c]);
                    if !all {
                        column.starts = good.iter().map(|&r| column.starts[r]).collect();
                        column.ends = good.iter().map(|&r| column.ends[r]).collect();
                    }
                    let bytes = column.bytes();
                    let source = chunk.source.clone();
                    columns.push(PartColumn::Str(Strings {
                        source,
                        column,
                        bytes,
                    }));
                }
            }
        }
        columns
    }

    /// The batch of the parts of a group, in order: their rows up to the first error, then
    /// that error.
    fn join(&self, parts: Vec<Part>) -> Decoded {
        let mut skipped = 0;
        let mut error = None;
        let mut used = Vec::with_capacity(parts.len());
        for mut part in parts {
            skipped += part.skipped;
            error = part.error.take();
            if part.rows > 0 {
                used.push(part);
            }
            if error.is_some() {
                break;
            }
        }
        let batch = if used.is_empty() {
            None
        } else {
            match self.batch(used) {
                Ok(batch) => Some(batch),
                Err(e) => {
                    error = Some(e);
                    None
                }
            }
        };
        Decoded {
            batch,
            skipped,
            error,
        }
    }

    fn batch(&self, parts: Vec<Part>) -> Result<RecordBatch> {
        let rows: usize = parts.iter().map(|p| p.rows).sum();
        let origin = (parts[0].origin.clone()).unwrap_or_else(|| (Arc::from(""), 0));
        let mut by_column: Vec<Vec<PartColumn>> = (0..self.kept.len())
            .map(|_| Vec::with_capacity(parts.len()))
            .collect();
        for part in parts {
            for (c, column) in part.columns.into_iter().enumerate() {
                by_column[c].push(column);
            }
        }
        let mut arrays = Vec::with_capacity(by_column.len());
        for (&c, pieces) in self.kept.iter().zip(by_column) {
            arrays.push(self.join_column(c, pieces, rows, &origin)?);
        }
        batch_of(&self.output, arrays, rows)
    }

    /// Column `c` of a batch, from its pieces in the batch's blocks.
    fn join_column(
        &self,
        c: usize,
        pieces: Vec<PartColumn>,
        rows: usize,
        origin: &(Arc<str>, u64),
    ) -> Result<ArrayRef> {
        let mut strings = Vec::with_capacity(pieces.len());
        let mut arrays = Vec::with_capacity(pieces.len());
        for piece in pieces {
            match piece {
                PartColumn::Str(column) => strings.push(column),
                PartColumn::Array(array) => arrays.push(array),
            }
        }
        if !arrays.is_empty() {
            if arrays.len() == 1 {
                return Ok(arrays.pop().expect("one array"));
            }
            let refs: Vec<&dyn arrow_array::Array> = arrays.iter().map(|a| a.as_ref()).collect();
            return arrow_select::concat::concat(&refs).map_err(|e| {
                Error::data(
                    origin.0.to_string(),
                    Some(Position::Line(origin.1)),
                    e.to_string(),
                )
            });
        }
        let total: usize = strings.iter().map(|s| s.bytes).sum();
        if total > i32::MAX as usize {
            return Err(Error::data(
                origin.0.to_string(),
                Some(Position::Line(origin.1)),
                format!(
                    "column {:?} holds more than {} bytes in one batch (use a smaller batch_size)",
                    self.schema.field(c).name(),
                    i32::MAX
                ),
            ));
        }
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0i32);
        let mut nulls = NullBufferBuilder::new(rows);
        let mut end = 0;
        for piece in &strings {
            for (start, stop) in piece.column.starts.iter().zip(&piece.column.ends) {
                let len = stop - start;
                nulls.append(len > 0);
                end += len;
                offsets.push(end as i32); // at most `total`, checked above
            }
        }
        let values = join_fields(&strings, total).into();
        drop(strings);
        // SAFETY: `offsets` start at 0 and never decrease, the last is `values.len()`, and
        // `values` is the concatenation of the fields in order, each checked to be valid
        // UTF-8 (by `problem`, or as part of its valid block): every slice between two
        // offsets is one field. Arrow's own check would read the column a second time.
        let array = unsafe {
            StringArray::new_unchecked(
                OffsetBuffer::new_unchecked(offsets.into()),
                values,
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

/// Blocks split ahead beyond one per pool thread (plus one).
const GROUP_AHEAD: usize = 4;
/// The same when a batch spans several blocks: the job that ends a group joins its batch
/// (one copy of up to a batch's bytes, ~64 MB for 65536 rows of 1 KB) while the splitting
/// thread waits for it in order, so the other threads keep busy only on blocks split
/// before. Interleaved 15-run duels on a 226 MB CSV, batch 65536, 12 vs 4: median 130 vs
/// 151 ms and 134 vs 139 ms; at most 8 more blocks (CHUNK_BYTES each) in flight.
const GROUP_AHEAD_LARGE: usize = 12;

pub struct CsvSource {
    inputs: Inputs,
    delimiter: u8,
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
    /// The group of the output batch being split off.
    group: Option<Arc<Group>>,
    chunked: Chunked,
    read_done: bool,
    /// Records handed out so far (those of the type inference included).
    gathered: usize,
    /// The error that ended the inference prefix, returned after its good records.
    deferred: Option<Error>,
    /// The columns to build (`columns=`), sorted; None: all.
    projection: Option<Vec<usize>>,
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
            inputs: Inputs::new(paths, compression),
            delimiter,
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
            group: None,
            chunked: Chunked::default(),
            read_done: false,
            gathered: 0,
            deferred: None,
            projection: None,
        };
        // A group's last job joins the batch: more blocks are split meanwhile.
        source.chunked.extra_depth = if batch_size > 1024 {
            GROUP_AHEAD_LARGE
        } else {
            GROUP_AHEAD
        };
        source.infer()?;
        Ok(source)
    }

    /// Parse data records (headers consumed and checked) into `chunk` until it holds
    /// `rows` records (true) or the input ends (false).
    fn fill(&mut self, chunk: &mut Chunk, rows: usize) -> Result<bool> {
        loop {
            let Some(parser) = self.current.as_mut() else {
                if !self.open_next()? {
                    return Ok(false);
                }
                continue;
            };
            if parser.fill(chunk, rows)? {
                return Ok(true);
            }
            self.current = None;
        }
    }

    /// Open the next file and read its header (false when there is none).
    fn open_next(&mut self) -> Result<bool> {
        let Some(input) = self.inputs.next_input()? else {
            return Ok(false);
        };
        let path = input.path.to_string();
        let mut parser = Parser::new(input, self.delimiter)?;
        let mut head = Chunk::default();
        parser.fill(&mut head, 1)?;
        if !head.records.is_empty() {
            let names = head.record(0).map(<[u8]>::to_vec).collect();
            self.set_header(&path, head.records[0].line, names)?;
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
        // The header (of the first file with a record) gives the width.
        while self.header.is_none() && self.open_next()? {}
        let mut buffer = Chunk::new(self.width());
        while buffer.records.len() < INFER_ROWS {
            let r = buffer.records.len();
            if let Err(e) = self.fill(&mut buffer, r + 1) {
                // Good rows first: the schema comes from the records before the error,
                // they are delivered, then the error. With none, opening fails.
                buffer.truncate(r);
                if r == 0 {
                    return Err(e);
                }
                self.deferred = Some(e);
                break;
            }
            if buffer.records.len() == r {
                break;
            }
            // The header is known once the first record is read.
            if let Some((message, mismatch)) = shape_problem(self.width(), &buffer, r, false) {
                // A record of the wrong shape is skippable by kind (shape_problem only
                // reports record-level problems; grammar errors come from `fill`).
                let error = record_error(buffer.path(r), buffer.records[r].line, message, mismatch);
                buffer.truncate(r);
                if self.skip_bad {
                    self.skipped += 1;
                    continue;
                }
                if r == 0 {
                    return Err(error);
                }
                self.deferred = Some(error);
                break;
            }
            if seen.is_empty() {
                let n = buffer.records[r].fields;
                (ints, floats, bools, seen) =
                    (vec![true; n], vec![true; n], vec![true; n], vec![false; n]);
            }
            for (i, text) in buffer.record(r).enumerate() {
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
            self.decoder = Some(Arc::new(Decoder::new(
                self.width(),
                self.types.clone(),
                self.schema.clone(),
                self.skip_bad,
                self.projection.as_deref(),
            )));
        }
        self.decoder.clone().expect("set above")
    }

    /// Split off the next block of records as a job of its output batch's group (None at
    /// the end of the input).
    fn gather(&mut self) -> Option<Work> {
        if self.read_done {
            return None;
        }
        let decoder = self.decoder();
        let group = self.group.get_or_insert_with(Group::new).clone();
        if let Some(buffer) = self.buffer.take() {
            // The records read to infer the types start the first batch.
            let index = group.add();
            let part = decoder.decode_chunk(buffer);
            group.finish(index, part, false);
        }
        if let Some(error) = self.deferred.take() {
            // The error that ended the inference prefix, after its good records.
            self.read_done = true;
            let index = group.add();
            self.group = None;
            return Some(Work {
                group,
                index,
                seals: true,
                what: What::Failed(error),
            });
        }
        let rows = if self.batch_size >= 1024 {
            self.batch_size - self.gathered % self.batch_size
        } else {
            1024
        };
        let (what, seals) = loop {
            let parser = match self.current.as_mut() {
                Some(parser) => parser,
                None => match self.open_next() {
                    Ok(true) => continue,
                    Ok(false) => {
                        self.read_done = true;
                        if group.is_empty() {
                            self.group = None;
                            return None;
                        }
                        break (What::End, true);
                    }
                    Err(e) => {
                        self.read_done = true;
                        break (What::Failed(e), true);
                    }
                },
            };
            let (block, records, stop) = parser.split(rows, CHUNK_BYTES);
            self.gathered += records;
            if stop {
                self.read_done = true;
            } else if block.last {
                self.current = None;
                if records == 0 {
                    continue;
                }
            }
            // A group is one output batch (small batches: one block, sliced by the reader).
            let seals = stop || self.batch_size < 1024 || self.gathered % self.batch_size == 0;
            break (What::Block(block), seals);
        };
        let index = group.add();
        if seals {
            self.group = None;
        }
        Some(Work {
            group,
            index,
            seals,
            what,
        })
    }
}

impl Source for CsvSource {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn push_projection(&mut self, sorted: &[usize]) -> Result<bool> {
        if self.decoder.is_some() || sorted.iter().any(|&c| c >= self.types.len()) {
            // Decoding has begun (or the indices are not ours): the reader projects.
            return Ok(false);
        }
        self.projection = Some(sorted.to_vec());
        Ok(true)
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
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

    fn temp(name: &str, data: &[u8]) -> String {
        let dir = std::env::temp_dir().join(format!("fa-csv-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, data).unwrap();
        path.display().to_string()
    }

    fn open(paths: Vec<String>, batch_size: usize, skip_bad: bool) -> Result<CsvSource> {
        CsvSource::open(paths, b',', None, batch_size, skip_bad, 1)
    }

    /// Rows until the end or the first error, and that error.
    fn drain(source: &mut CsvSource) -> (usize, Option<Error>) {
        let mut rows = 0;
        loop {
            match source.next_batch() {
                Ok(Some(b)) => rows += b.num_rows(),
                Ok(None) => return (rows, None),
                Err(e) => return (rows, Some(e)),
            }
        }
    }

    #[test]
    fn good_rows_before_an_error_inside_the_inference_prefix() {
        // Line 6 is ragged: the schema comes from lines 2-5, those rows come out, then the error.
        let path = temp("ragged.csv", b"a,b\n1,x\n2,y\n3,z\n4,w\n5\n6,v\n");
        let mut source = open(vec![path.clone()], 1000, false).unwrap();
        assert_eq!(source.schema().field(0).data_type(), &DataType::Int64);
        let (rows, error) = drain(&mut source);
        assert_eq!(rows, 4);
        match error {
            Some(Error::DataFormat {
                path: p, position, ..
            }) => {
                assert_eq!(p, path);
                assert_eq!(position, Some(Position::Line(6)));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(source.next_batch().unwrap().is_none());
    }

    #[test]
    fn good_rows_before_a_grammar_error_inside_the_prefix() {
        let path = temp("quote.csv", b"a\n1\n2\n\"3\n");
        let mut source = open(vec![path], 1000, false).unwrap();
        let (rows, error) = drain(&mut source);
        assert_eq!(rows, 2);
        assert!(matches!(error, Some(Error::DataFormat { .. })), "{error:?}");
    }

    #[test]
    fn good_rows_before_an_error_after_the_prefix() {
        let mut data = String::from("a,b\n");
        for i in 0..1500 {
            data.push_str(&format!("{i},s{i}\n"));
        }
        data.push_str("1,2,3\n7,t\n");
        let path = temp("late.csv", data.as_bytes());
        let mut source = open(vec![path], 1000, false).unwrap();
        let (rows, error) = drain(&mut source);
        assert_eq!(rows, 1500);
        assert!(matches!(
            error,
            Some(Error::DataFormat {
                position: Some(Position::Line(1502)),
                ..
            })
        ));
    }

    #[test]
    fn open_fails_only_without_a_good_row_first() {
        let path = temp("first.csv", b"a,b\n1\n2,3\n");
        assert!(matches!(
            open(vec![path], 10, false),
            Err(Error::DataFormat { .. })
        ));
    }

    #[test]
    fn skip_counts_each_dropped_row_once_prefix_included() {
        let mut data = String::from("a,b\n1,x\n2\n");
        for i in 0..1200 {
            data.push_str(&format!("{i},s\n"));
            if i % 400 == 0 {
                data.push_str("1,2,3\n");
            }
        }
        let path = temp("skip.csv", data.as_bytes());
        for batch_size in [1, 7, 1000, 5000] {
            let mut source = open(vec![path.clone()], batch_size, true).unwrap();
            let (rows, error) = drain(&mut source);
            assert!(error.is_none());
            assert_eq!((rows, source.skipped()), (1201, 4), "batch {batch_size}");
        }
    }

    #[test]
    fn second_file_header_mismatch_after_the_first_files_rows() {
        let a = temp("h1.csv", b"a,b\n1,2\n3,4\n");
        let b = temp("h2.csv", b"a,c\n5,6\n");
        let mut source = open(vec![a, b.clone()], 1000, false).unwrap();
        let (rows, error) = drain(&mut source);
        assert_eq!(rows, 2);
        match error {
            Some(Error::SchemaMismatch { path, .. }) => assert_eq!(path, b),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn projection_builds_only_the_selected_columns_and_checks_every_row() {
        let mut data = String::from("a,b,c\n");
        for i in 0..3000 {
            data.push_str(&format!("{i},s{i},{}\n", i % 2 == 0));
        }
        let good = temp("proj.csv", data.as_bytes());
        let mut source = open(vec![good.clone()], 1000, false).unwrap();
        assert!(source.push_projection(&[1]).unwrap());
        let batch = source.next_batch().unwrap().unwrap();
        assert_eq!(batch.num_columns(), 1);
        assert_eq!(batch.schema().field(0).name(), "b");
        let (rows, error) = drain(&mut source);
        assert_eq!((rows + batch.num_rows(), error.is_none()), (3000, true));
        // A bad value in an unselected column (after the prefix) is the same error either way.
        data.push_str("x,s,true\n");
        let bad = temp("proj-bad.csv", data.as_bytes());
        let mut errors = Vec::new();
        for projection in [None, Some(vec![1]), Some(vec![2])] {
            let mut source = open(vec![bad.clone()], 1000, false).unwrap();
            if let Some(p) = &projection {
                assert!(source.push_projection(p).unwrap());
            }
            let (rows, error) = drain(&mut source);
            assert_eq!(rows, 3000);
            errors.push(error.expect("an error").to_string());
        }
        assert!(errors.iter().all(|e| *e == errors[0]), "{errors:?}");
        assert!(errors[0].contains("line 3002"), "{}", errors[0]);
    }

    #[test]
    fn reader_columns_in_any_order_through_the_pushed_projection() {
        use super::super::{Format, ReadOptions, Reader};
        let path = temp("order.csv", b"a,b,c\n1,x,true\n2,y,false\n");
        let options = ReadOptions {
            format: Format::Csv,
            compression: None,
            batch_size: 10,
            columns: Some(vec!["c".into(), "a".into()]),
            skip_bad: false,
            num_threads: 1,
        };
        let mut reader = Reader::new(vec![path], options).unwrap();
        let batch = reader.next_batch().unwrap().unwrap();
        let schema = batch.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["c", "a"]);
        assert_eq!(batch.column(0).data_type(), &DataType::Boolean);
        assert_eq!(batch.column(1).data_type(), &DataType::Int64);
    }

    #[test]
    fn number_grammar() {
        for ok in ["0", "-0", "12", "-9223372036854775808"] {
            assert!(parse_int(ok.as_bytes()).is_some(), "{ok}");
        }
        for no in ["", "-", "01", "+1", "1.0", "9223372036854775808", " 1"] {
            assert!(parse_int(no.as_bytes()).is_none(), "{no}");
        }
        for ok in ["0", "1.5", "-0.0", "1e5", "1E+5", "2.5e-3"] {
            assert!(parse_float(ok.as_bytes()).is_some(), "{ok}");
        }
        for no in ["", ".5", "1.", "01.5", "nan", "inf", "1e", "1e400", "+1"] {
            assert!(parse_float(no.as_bytes()).is_none(), "{no}");
        }
    }
}
