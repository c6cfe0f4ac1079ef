//! The join of a group of decoded blocks into one output batch, on the pool: the group
//! (where each job leaves its part, the last one to finish joins), and the copy of each
//! column's pieces into the batch's arrays.

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_buffer::{NullBufferBuilder, OffsetBuffer};

use super::super::ahead::Decoded;
use super::super::batch_of;
use super::decode::*;
use crate::error::{Error, Position, Result};

/// A string column's fields in the blocks of a batch, back to back (`total` bytes): each
/// piece's fields copied into its own region of the new buffer, the pieces in parallel on
/// the pool when called from it (the copy and the page faults of the new memory are most of
/// a batch's join).
pub(super) fn join_fields(pieces: &[Strings], total: usize) -> Vec<u8> {
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
/// The blocks of one output batch: each pool job leaves its decoded block here, and the
/// job that finishes last joins them into the batch (so the join runs on the pool, not
/// on the thread reading the input).
pub(super) struct Group {
    pub(super) state: std::sync::Mutex<GroupState>,
}

pub(super) struct GroupState {
    pub(super) parts: Vec<Option<Part>>,
    /// Jobs not finished, plus one until the group's last job is queued.
    pub(super) pending: usize,
}

impl Group {
    pub(super) fn new() -> Arc<Group> {
        Arc::new(Group {
            state: std::sync::Mutex::new(GroupState {
                parts: Vec::new(),
                pending: 1,
            }),
        })
    }

    pub(super) fn state(&self) -> std::sync::MutexGuard<'_, GroupState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn is_empty(&self) -> bool {
        self.state().parts.is_empty()
    }

    /// Reserve the slot of the next job's part.
    pub(super) fn add(&self) -> usize {
        let mut state = self.state();
        state.pending += 1;
        state.parts.push(None);
        state.parts.len() - 1
    }

    /// Leave job `index`'s part; the parts of all jobs if it was the last to finish.
    pub(super) fn finish(&self, index: usize, part: Part, seals: bool) -> Option<Vec<Part>> {
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

impl Decoder {
    /// The batch of the parts of a group, in order: their rows up to the first error, then
    /// that error.
    pub(super) fn join(&self, parts: Vec<Part>) -> Decoded {
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

    pub(super) fn batch(&self, parts: Vec<Part>) -> Result<RecordBatch> {
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
    pub(super) fn join_column(
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
        for piece in strings {
            self.release(piece.source);
        }
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
