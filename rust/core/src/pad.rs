//! Padding ragged rows into one row-major 2-D buffer.

use rayon::prelude::*;

use crate::{cancel, pool, Error, Result};

#[derive(Clone, Copy, Debug)]
pub enum Fill {
    /// Repeat one value (token ids, labels, masks).
    Value(i64),
    /// `0, 1, 2...` over the padding (how Axolotl pads `position_ids`).
    Range,
}

/// Rows of `rows.len()` x `target`, each row padded on the left or the right.
#[cfg(test)] // the binding pads into a numpy buffer (`pad_slices_into`)
pub fn pad_rows(
    rows: crate::pack::Ragged<'_>,
    target: usize,
    fill: Fill,
    left: bool,
    num_threads: usize,
) -> Result<Vec<i64>> {
    let mut out = vec![0i64; rows.len() * target];
    pad_slices_into(&rows.rows(), target, fill, left, num_threads, &mut out)?;
    Ok(out)
}

/// One output row split into `(body, padding)`: the `len` token slots and the rest,
/// on the left or the right (`len <= row.len()`).
pub fn split_row(row: &mut [i64], len: usize, left: bool) -> (&mut [i64], &mut [i64]) {
    if left {
        let (padding, body) = row.split_at_mut(row.len() - len);
        (body, padding)
    } else {
        row.split_at_mut(len)
    }
}

/// Write the padding of one row.
pub fn fill_padding(padding: &mut [i64], fill: Fill) {
    match fill {
        Fill::Value(v) => padding.fill(v),
        Fill::Range => padding
            .iter_mut()
            .enumerate()
            .for_each(|(j, slot)| *slot = j as i64),
    }
}

/// Rows padded into the caller's `rows.len() * target` buffer (e.g. a numpy array, so
/// the output is allocated once, where it will live). Rows come one slice each: one
/// numpy array per row is padded without being concatenated first.
pub fn pad_slices_into(
    rows: &[&[i64]],
    target: usize,
    fill: Fill,
    left: bool,
    num_threads: usize,
    out: &mut [i64],
) -> Result<()> {
    if let Some((i, row)) = rows.iter().enumerate().find(|(_, r)| r.len() > target) {
        return Err(Error::SequenceTooLong(format!(
            "sequence {i} has {} tokens, more than the target length {target}",
            row.len()
        )));
    }
    if out.len() != rows.len() * target {
        return Err(Error::invalid(format!(
            "the output must hold {} values",
            rows.len() * target
        )));
    }
    if target == 0 {
        return Ok(());
    }
    // Rows skipped after a cancel are never seen: the call returns Interrupted.
    let checker = cancel::checker();
    let write = |(i, row): (usize, &mut [i64])| {
        if checker.cancelled() {
            return;
        }
        let tokens = rows[i];
        let (body, padding) = split_row(row, tokens.len(), left);
        body.copy_from_slice(tokens);
        fill_padding(padding, fill);
    };
    if pool::parallel(num_threads, out.len()) {
        let rows = out.len() / target.max(1);
        pool::install(|| {
            out.par_chunks_mut(target)
                .enumerate()
                .with_min_len(pool::min_len(num_threads, rows))
                .for_each(write)
        })?;
    } else {
        // Small batches are not worth waking the pool for.
        out.chunks_mut(target).enumerate().for_each(write);
    }
    checker.check()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pack::Ragged;

    #[test]
    fn right_left_and_range() {
        let values = [5, 6, 7, 8, 9];
        let rows = Ragged::new(&values, &[0, 3, 5]).unwrap();
        assert_eq!(
            pad_rows(rows, 4, Fill::Value(0), false, 1).unwrap(),
            vec![5, 6, 7, 0, 8, 9, 0, 0]
        );
        assert_eq!(
            pad_rows(rows, 4, Fill::Value(-1), true, 1).unwrap(),
            vec![-1, 5, 6, 7, -1, -1, 8, 9]
        );
        assert_eq!(
            pad_rows(rows, 4, Fill::Range, true, 1).unwrap(),
            vec![0, 5, 6, 7, 0, 1, 8, 9]
        );
        assert!(pad_rows(rows, 2, Fill::Value(0), false, 1).is_err());
    }
}
