//! Parsed records of a block or a stream: where each field's bytes lie, per column.

use std::sync::Arc;

use super::values::Values;
use crate::error::Error;

pub(super) const BOM: &[u8] = b"\xef\xbb\xbf";

/// Marks a field position in a column's `aside` bytes rather than in the block.
pub(super) const ASIDE: usize = 1 << (usize::BITS - 1);

/// One column of parsed records: where each field's bytes are. A field read from a block
/// in one piece is a span of the block (no copy); one that is not (a `""` inside quotes,
/// or read from a stream) is copied to `aside`, its span marked with [`ASIDE`].
#[derive(Default)]
pub(super) struct Column {
    pub(super) starts: Vec<usize>,
    pub(super) ends: Vec<usize>,
    pub(super) aside: Vec<u8>,
}

impl Column {
    pub(super) fn with_capacity(fields: usize) -> Column {
        Column {
            starts: Vec::with_capacity(fields),
            ends: Vec::with_capacity(fields),
            aside: Vec::new(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.starts.len()
    }

    /// Field `i`, its span in `source` (the block it was read from) or in `aside`.
    pub(super) fn field<'a>(&'a self, i: usize, source: &'a [u8]) -> &'a [u8] {
        let (start, end) = (self.starts[i], self.ends[i]);
        if start & ASIDE != 0 {
            &self.aside[start & !ASIDE..end & !ASIDE]
        } else {
            &source[start..end]
        }
    }

    /// Keep the first `n` fields (`aside` may keep bytes of dropped ones: unused).
    pub(super) fn truncate(&mut self, n: usize) {
        self.starts.truncate(n);
        self.ends.truncate(n);
    }

    /// The bytes of all fields.
    pub(super) fn bytes(&self) -> usize {
        self.starts.iter().zip(&self.ends).map(|(s, e)| e - s).sum()
    }
}

/// A parsed record: the line it starts on, its file (index into `paths`), how many fields
/// it has, and where its fields past the chunk's width start in `extra`.
pub(super) struct Record {
    pub(super) line: u64,
    pub(super) file: usize,
    pub(super) fields: usize,
    pub(super) extra: usize,
}

/// The field being read: its span so far (`start == end` while empty).
#[derive(Default, Clone, Copy)]
pub(super) struct OpenField {
    pub(super) start: usize,
    pub(super) end: usize,
}

/// Parsed records, by column.
#[derive(Default)]
pub(super) struct Chunk {
    /// The first `width` fields of every record (a record with fewer has empty ones).
    pub(super) columns: Vec<Column>,
    /// The fields past the width (a record with them is an error, or the header).
    pub(super) extra: Column,
    pub(super) records: Vec<Record>,
    pub(super) paths: Vec<Arc<str>>,
    /// The reading error met after these records (they still count).
    pub(super) tail: Option<Error>,
    /// The bytes the fields' spans point into: the block, once parsed (empty for a chunk
    /// read from a stream, whose fields are all aside).
    pub(super) source: Arc<Vec<u8>>,
    /// Fields are spans of the input given to `scan` (a whole block, kept as `source`);
    /// false: every field is copied aside (the input is a stream's passing buffer).
    pub(super) spans: bool,
    /// Every byte of `source` is known to be valid UTF-8.
    pub(super) source_utf8: bool,
    /// Per column, for a block known valid UTF-8: a typed column's values, parsed as its
    /// fields end (their positions not kept; the spans index `source`, set before the
    /// scan). Empty: every column's positions are recorded (or not: `unrecorded`).
    pub(super) typed: Vec<Option<Values>>,
    /// The values of `typed` that did not parse: (row, 1 + column, the field's bytes).
    pub(super) problems: Vec<(usize, usize, Vec<u8>)>,
    /// Per column: its fields are not recorded (a string column outside `columns=` of a
    /// block known valid UTF-8: nothing reads them). Empty: all are.
    pub(super) unrecorded: Vec<bool>,
    /// The field being read in the open record: its index and span.
    pub(super) open_field: usize,
    pub(super) open: OpenField,
}

/// Where [`Scan`] puts what it finds: a [`Chunk`] (the fields), or a [`Counter`] (only
/// where records end, to split the input into blocks of whole records).
pub(super) trait Sink {
    fn begin_record(&mut self);
    /// `buf[start..end]` belongs to the open field (`buf` is the input given to `scan`).
    fn extend(&mut self, buf: &[u8], start: usize, end: usize);
    fn end_field(&mut self);
    /// The record that started on `line` (in the file `paths.last()`) is complete.
    fn end_record(&mut self, line: u64);
    fn full(&self, rows: usize, bytes: usize) -> bool;
}

impl Chunk {
    pub(super) fn open_column(&mut self) -> &mut Column {
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
        if self.unrecorded.get(self.open_field) == Some(&true) {
            return;
        }
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
        let c = self.open_field;
        if let Some(Some(values)) = self.typed.get_mut(c) {
            let open = std::mem::take(&mut self.open);
            let aside = &mut self.columns[c].aside;
            let field = if open.start & ASIDE != 0 {
                &aside[open.start & !ASIDE..open.end & !ASIDE]
            } else {
                &self.source[open.start..open.end]
            };
            if !values.push_or_null(field) {
                self.problems
                    .push((self.records.len(), 1 + c, field.to_vec()));
            }
            aside.clear();
            self.open_field += 1;
            return;
        }
        if self.unrecorded.get(self.open_field) == Some(&true) {
            self.open_field += 1;
            return;
        }
        let open = std::mem::take(&mut self.open);
        let column = self.open_column();
        column.starts.push(open.start);
        column.ends.push(open.end);
        self.open_field += 1;
    }

    fn end_record(&mut self, line: u64) {
        self.end_field();
        for c in self.open_field..self.columns.len() {
            // Missing fields: empty (null).
            match self.typed.get_mut(c) {
                Some(Some(values)) => {
                    values.push_or_null(b"");
                }
                _ => {
                    self.columns[c].starts.push(0);
                    self.columns[c].ends.push(0);
                }
            }
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
pub(super) struct Counter {
    pub(super) records: usize,
    pub(super) bytes: usize,
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
    pub(super) fn new(width: usize) -> Chunk {
        Chunk {
            columns: (0..width).map(|_| Column::default()).collect(),
            ..Chunk::default()
        }
    }

    /// Field `c` of record `r` (`c` below the record's field count).
    pub(super) fn field(&self, r: usize, c: usize) -> &[u8] {
        match self.columns.get(c) {
            Some(column) => column.field(r, &self.source),
            None => self
                .extra
                .field(self.records[r].extra + c - self.columns.len(), &self.source),
        }
    }

    /// The fields of record `r`.
    pub(super) fn record(&self, r: usize) -> impl Iterator<Item = &[u8]> + '_ {
        (0..self.records[r].fields).map(move |c| self.field(r, c))
    }

    pub(super) fn path(&self, r: usize) -> &str {
        &self.paths[self.records[r].file]
    }

    /// Drop the record being read (after an error inside it).
    pub(super) fn drop_open(&mut self) {
        self.truncate(self.records.len());
    }

    /// Drop the records from `r` on (and any field of an unfinished record).
    pub(super) fn truncate(&mut self, r: usize) {
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
        self.typed.iter_mut().flatten().for_each(|v| v.truncate(r));
        self.problems.retain(|p| p.0 < r);
        self.extra.truncate(extra);
    }
}
