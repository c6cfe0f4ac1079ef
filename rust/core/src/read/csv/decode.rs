//! Typed decoding of blocks on the pool (projection applied here); `join` makes the
//! batches.

use std::sync::Arc;

use arrow_array::ArrayRef;
use arrow_schema::{Schema, SchemaRef};

use super::super::ahead::Decoded;
use super::chunk::*;
use super::join::Group;
use super::split::*;
use super::values::*;
use crate::error::Error;

/// The decoding rules, fixed once the types are inferred; shared by the pool's jobs.
pub(super) struct Decoder {
    pub(super) width: usize,
    pub(super) types: Vec<CType>,
    /// The full schema (of every column checked).
    pub(super) schema: SchemaRef,
    pub(super) skip_bad: bool,
    /// Per column: whether it is built (in `columns=`); the others are only checked.
    pub(super) built: Vec<bool>,
    /// The built columns, in order (indices of `schema`).
    pub(super) kept: Vec<usize>,
    /// The schema of the batches: the built columns.
    pub(super) output: SchemaRef,
    /// Block buffers whose records are decoded and joined, for the splitting thread to
    /// fill again: memory already faulted in (a fresh buffer costs a page fault and the
    /// kernel's zeroing per page, more than reading into it).
    pub(super) spare: std::sync::Mutex<Vec<Vec<u8>>>,
}

/// Spare block buffers kept at most (a few blocks of memory).
const SPARE_BUFFERS: usize = 4;

/// Whole records of one file as read, split off by the caller's thread for the pool to parse.
pub(super) struct Block {
    pub(super) bytes: Vec<u8>,
    /// The scanner's state where `bytes` begin (a record boundary).
    pub(super) scan: Scan,
    /// The file ends with `bytes` (its last record may lack a line break).
    pub(super) last: bool,
    /// The reading error met after `bytes` (the records before it still count).
    pub(super) error: Option<Error>,
    /// How many records `bytes` hold (as the splitting scanner counted them).
    pub(super) records: usize,
}

/// The good records of a block, decoded: per column, an Arrow array, or for a string
/// column where its fields are (one per row, empty is null), copied once, into the batch.
pub(super) enum PartColumn {
    Str(Strings),
    Array(ArrayRef),
}

/// A string column's fields in a block.
pub(super) struct Strings {
    pub(super) source: Arc<Vec<u8>>,
    pub(super) column: Column,
    /// The bytes of its fields.
    pub(super) bytes: usize,
}

/// A decoded block: its good records, how many it skipped, the error that ended it.
#[derive(Default)]
pub(super) struct Part {
    pub(super) columns: Vec<PartColumn>,
    pub(super) rows: usize,
    pub(super) skipped: u64,
    pub(super) error: Option<Error>,
    /// The file and line of its first row (to name in an error about the whole batch).
    pub(super) origin: Option<(Arc<str>, u64)>,
}

/// A job of the pool: a block, or the error that ended the input before one, or the end of
/// the input; `seals` if it is the last job of its group.
pub(super) struct Work {
    pub(super) group: Arc<Group>,
    pub(super) index: usize,
    pub(super) seals: bool,
    pub(super) what: What,
}

pub(super) enum What {
    Block(Block),
    Failed(Error),
    End,
}

impl Decoder {
    /// `keep`: the columns built (sorted indices of `schema`; None: all).
    pub(super) fn new(
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
            spare: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// A block buffer no longer needed (its last reference): kept to be filled again.
    pub(super) fn release(&self, source: Arc<Vec<u8>>) {
        if let Ok(mut bytes) = Arc::try_unwrap(source) {
            let mut spare = self.spare.lock().unwrap_or_else(|p| p.into_inner());
            if spare.len() < SPARE_BUFFERS && bytes.capacity() > 0 {
                bytes.clear();
                spare.push(bytes);
            }
        }
    }

    /// A spare block buffer of at least `capacity` bytes, if there is one (smaller ones,
    /// from before blocks grew, are dropped).
    pub(super) fn take_spare(&self, capacity: usize) -> Option<Vec<u8>> {
        let mut spare = self.spare.lock().unwrap_or_else(|p| p.into_inner());
        spare.retain(|b| b.capacity() >= capacity);
        spare.pop()
    }

    /// Parse the typed fields of record `r` onto `values` (one per column, `None` for a
    /// string column), all or none: the message of the first that is not of its column's
    /// type. Empty is null. `rows`: the values each column holds before this record.
    pub(super) fn parse_record(
        &self,
        chunk: &Chunk,
        r: usize,
        rows: usize,
        values: &mut [Option<Values>],
    ) -> Option<String> {
        for (c, column) in values.iter_mut().enumerate() {
            let Some(column) = column else { continue };
            let bytes = chunk.field(r, c);
            if column.push(bytes) {
                continue;
            }
            values.iter_mut().flatten().for_each(|v| v.truncate(rows));
            return Some(self.type_message(c, bytes));
        }
        None
    }

    /// Why `bytes` is not a value of column `c`.
    pub(super) fn type_message(&self, c: usize, bytes: &[u8]) -> String {
        let field = self.schema.field(c);
        let text = String::from_utf8_lossy(bytes);
        format!(
            "column {:?}: {text:?} is not a {}",
            field.name(),
            field.data_type()
        )
    }

    /// Run a job: decode its block, and if it finishes its group, join the group's parts.
    pub(super) fn decode_work(&self, work: Work) -> Decoded {
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
    pub(super) fn chunk(&self, records: usize) -> Chunk {
        self.chunk_for(records, &vec![true; self.width])
    }

    /// The same, room made only for the columns marked in `positions`.
    pub(super) fn chunk_for(&self, records: usize, positions: &[bool]) -> Chunk {
        Chunk {
            columns: (positions.iter())
                .map(|&room| Column::with_capacity(if room { records } else { 0 }))
                .collect(),
            records: Vec::with_capacity(records),
            spans: true,
            ..Chunk::default()
        }
    }

    /// Parse a block (the same scanner, from the same state, as the splitting thread ran
    /// over these bytes: the same records, and the same error if it met one) and decode it.
    pub(super) fn decode_block(&self, block: Block) -> Part {
        let Block {
            bytes,
            mut scan,
            last,
            error,
            records,
        } = block;
        // Fields are cut at ASCII bytes: all are valid UTF-8 if the block is. Then a string
        // column outside `columns=` needs no field positions (its values are valid strings).
        // Then too typed values are parsed as the scanner ends their fields: no positions
        // kept for them, no second pass; room for positions only where they are kept.
        let utf8 = simdutf8::basic::from_utf8(&bytes).is_ok();
        let mut chunk = if utf8 {
            let positions: Vec<bool> = (self.types.iter().zip(&self.built))
                .map(|(&t, &built)| t == CType::Str && built)
                .collect();
            self.chunk_for(records, &positions)
        } else {
            self.chunk(records)
        };
        chunk.paths.push(scan.path.clone());
        chunk.source_utf8 = utf8;
        if chunk.source_utf8 {
            chunk.unrecorded = (self.types.iter().zip(&self.built))
                .map(|(&t, &built)| t == CType::Str && !built)
                .collect();
            chunk.typed = (self.types.iter().zip(&self.built))
                .map(|(&t, &keep)| Values::new(t, records, keep))
                .collect();
        }
        let bytes = Arc::new(bytes);
        chunk.source = bytes.clone();
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
        chunk.tail = parsed.err().or(error);
        self.decode_chunk(chunk)
    }

    /// Check the records of `chunk` (all of them, or up to the first bad one) and decode
    /// the good ones (typed values parsed as they are checked: one pass over the fields).
    pub(super) fn decode_chunk(&self, chunk: Chunk) -> Part {
        if chunk.source_utf8 {
            return self.decode_by_column(chunk);
        }
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
                let message = self.parse_record(&chunk, r, good.len(), &mut values)?;
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
        self.part(chunk, good, values, skipped, error)
    }

    /// [`Decoder::decode_chunk`] of a chunk known to be valid UTF-8, column by column (a
    /// tight loop per typed column): the same rows, skips and first error as record by
    /// record. A record's problem is its shape first, then its first column in order whose
    /// value is not of the column's type.
    pub(super) fn decode_by_column(&self, mut chunk: Chunk) -> Part {
        let n = chunk.records.len();
        // (row, 0) for a record of the wrong shape, (row, 1 + c) for a bad value in column c.
        let mut problems: Vec<(usize, usize)> = Vec::new();
        for (r, record) in chunk.records.iter().enumerate() {
            if record.fields != self.width {
                problems.push((r, 0));
            }
        }
        let mut values = std::mem::take(&mut chunk.typed);
        if values.is_empty() {
            // Not parsed by the scanner: from the fields' positions.
            values = (self.types.iter().zip(&self.built))
                .map(|(&t, &keep)| Values::new(t, n, keep))
                .collect();
            let mut bad = Vec::new();
            for (c, column) in values.iter_mut().enumerate() {
                let Some(column) = column else { continue };
                bad.clear();
                column.push_column(&chunk.columns[c], &chunk.source, &mut bad);
                problems.extend(bad.iter().map(|&r| (r, 1 + c)));
            }
        } else {
            problems.extend(chunk.problems.iter().map(|p| (p.0, p.1)));
        }
        let (mut skipped, mut error) = (0, None);
        let good: Vec<usize> = if problems.is_empty() {
            (0..n).collect()
        } else if self.skip_bad {
            let mut keep = vec![true; n];
            problems.iter().for_each(|&(r, _)| keep[r] = false);
            values.iter_mut().flatten().for_each(|v| v.retain(&keep));
            skipped = keep.iter().filter(|&&k| !k).count() as u64;
            (0..n).filter(|&r| keep[r]).collect()
        } else {
            let &(r, what) = problems.iter().min().expect("not empty");
            values.iter_mut().flatten().for_each(|v| v.truncate(r));
            let (message, mismatch) = match what {
                0 => shape_problem(self.width, &chunk, r, true).expect("a shape problem"),
                _ => {
                    let parsed = chunk.problems.iter().find(|p| (p.0, p.1) == (r, what));
                    let text = match parsed {
                        Some(p) => &p.2[..],
                        None => chunk.field(r, what - 1),
                    };
                    (self.type_message(what - 1, text), true)
                }
            };
            let line = chunk.records[r].line;
            error = Some(record_error(chunk.path(r), line, message, mismatch));
            (0..r).collect()
        };
        self.part(chunk, good, values, skipped, error)
    }

    /// The part of the `good` records of `chunk`, their typed `values` parsed.
    pub(super) fn part(
        &self,
        mut chunk: Chunk,
        good: Vec<usize>,
        values: Vec<Option<Values>>,
        skipped: u64,
        error: Option<Error>,
    ) -> Part {
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
        // Without string columns built, nothing holds the block any more.
        self.release(std::mem::take(&mut chunk.source));
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
    pub(super) fn columns(
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
}
