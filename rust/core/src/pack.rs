//! Greedy token packing (Axolotl `encode_streaming(concatenate=True)`) and multipack
//! bin packing (Axolotl `pack_group` / `pack_parallel` / `allocate_sequentially`).

use rayon::prelude::*;

use crate::{cancel, pool, Error, Result};

/// Ragged sequences: sequence `i` is `values[offsets[i]..offsets[i + 1]]`.
#[derive(Clone, Copy)]
pub struct Ragged<'a> {
    pub values: &'a [i64],
    pub offsets: &'a [i64],
}

impl<'a> Ragged<'a> {
    /// Check the offsets describe `values` (the binding trusts nothing from Python).
    pub fn new(values: &'a [i64], offsets: &'a [i64]) -> Result<Self> {
        if offsets.is_empty() {
            return Err(Error::invalid("offsets must hold at least one element"));
        }
        let mut previous = offsets[0];
        if previous < 0 {
            return Err(Error::invalid(
                "offsets must start at a non-negative position",
            ));
        }
        for &o in &offsets[1..] {
            if o < previous {
                return Err(Error::invalid("offsets must be non-decreasing"));
            }
            previous = o;
        }
        if previous as u64 > values.len() as u64 {
            return Err(Error::invalid(format!(
                "offsets end at {previous} but there are {} values",
                values.len()
            )));
        }
        Ok(Ragged { values, offsets })
    }

    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn range(&self, i: usize) -> (usize, usize) {
        (self.offsets[i] as usize, self.offsets[i + 1] as usize)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overflow {
    Truncate,
    Split,
    Error,
}

impl Overflow {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "truncate" => Ok(Overflow::Truncate),
            "split" => Ok(Overflow::Split),
            "error" => Ok(Overflow::Error),
            other => Err(Error::invalid(format!(
                "overflow must be one of 'truncate', 'split', 'error', got {other:?}"
            ))),
        }
    }
}

/// What a packed sample is made of.
pub struct PackInput<'a> {
    pub ids: Ragged<'a>,
    /// Labels values aligned with `ids` (None: labels are the ids).
    pub labels: Option<&'a [i64]>,
    /// Attention-mask values aligned with `ids` (None: all ones).
    pub mask: Option<&'a [i64]>,
    /// `Some((eos, pad))`: append `[eos, pad]` / `[eos, label_pad]` / `[1, 0]` to each sample.
    pub separator: Option<(i64, i64)>,
    pub max_length: usize,
    pub pad_token_id: i64,
    pub label_pad_id: i64,
    pub overflow: Overflow,
    pub with_position_ids: bool,
}

/// Rows of exactly `max_length` tokens, flattened row-major.
#[derive(Debug, Default)]
pub struct Packed {
    pub rows: usize,
    pub input_ids: Vec<i64>,
    pub labels: Vec<i64>,
    pub attention_mask: Vec<i64>,
    pub position_ids: Option<Vec<i64>>,
    /// Length of each packed sample (extras included), in order.
    pub seq_lens: Vec<i64>,
    /// `rows + 1` offsets into `seq_lens`.
    pub row_splits: Vec<i64>,
}

/// A piece of one input sequence placed in a row.
#[derive(Clone, Copy)]
struct Piece {
    start: usize,
    len: usize,
}

pub fn pack(input: &PackInput<'_>, num_threads: usize) -> Result<Packed> {
    let extra = if input.separator.is_some() { 2 } else { 0 };
    if input.max_length <= extra {
        return Err(Error::invalid(format!(
            "max_length must be > {extra}, got {}",
            input.max_length
        )));
    }
    let total = input.ids.offsets[input.ids.len()] as usize;
    for (name, other) in [("labels", input.labels), ("attention_mask", input.mask)] {
        if let Some(values) = other {
            if values.len() < total {
                return Err(Error::invalid(format!(
                    "{name} has fewer values than input_ids"
                )));
            }
        }
    }
    let limit = input.max_length - extra;

    // 1. Cut samples into pieces that fit, per the overflow policy.
    let mut pieces: Vec<Piece> = Vec::with_capacity(input.ids.len());
    for i in 0..input.ids.len() {
        if i % cancel::EVERY == 0 {
            cancel::check()?;
        }
        let (start, end) = input.ids.range(i);
        let len = end - start;
        if len <= limit {
            pieces.push(Piece { start, len });
            continue;
        }
        match input.overflow {
            Overflow::Truncate => pieces.push(Piece { start, len: limit }),
            Overflow::Split => {
                let mut at = start;
                while at < end {
                    let n = limit.min(end - at);
                    pieces.push(Piece { start: at, len: n });
                    at += n;
                }
            }
            Overflow::Error => {
                return Err(Error::SequenceTooLong(format!(
                    "sequence {i} has {len} tokens; at most {limit} fit in max_length \
                     (use overflow='truncate' or 'split')"
                )))
            }
        }
    }
    if extra == 0 {
        pieces.retain(|p| p.len > 0);
    }

    // 2. Greedy fill: a piece joins the current row while the row stays within max_length.
    let mut row_splits: Vec<i64> = vec![0];
    let mut fill = 0usize;
    for (k, piece) in pieces.iter().enumerate() {
        if k % cancel::EVERY == 0 {
            cancel::check()?;
        }
        let size = piece.len + extra;
        if fill > 0 && fill + size > input.max_length {
            row_splits.push(k as i64);
            fill = 0;
        }
        fill += size;
    }
    if fill > 0 {
        row_splits.push(pieces.len() as i64);
    }
    let rows = row_splits.len() - 1;
    let width = input.max_length;

    // 3. Write every row in parallel.
    let mut out = Packed {
        rows,
        input_ids: vec![0; rows * width],
        labels: vec![0; rows * width],
        attention_mask: vec![0; rows * width],
        position_ids: input.with_position_ids.then(|| vec![0; rows * width]),
        seq_lens: pieces.iter().map(|p| (p.len + extra) as i64).collect(),
        row_splits,
    };
    let splits = &out.row_splits;
    let mut positions_dummy: Vec<i64> = Vec::new();
    let positions: &mut [i64] = match out.position_ids.as_mut() {
        Some(p) => p,
        None => &mut positions_dummy,
    };
    let with_positions = input.with_position_ids;
    // Rows skipped after a cancel are never seen: the call returns Interrupted.
    let checker = cancel::checker();
    let write = |r: usize,
                 ids: &mut [i64],
                 labels: &mut [i64],
                 mask: &mut [i64],
                 pos: Option<&mut [i64]>| {
        if checker.cancelled() {
            return;
        }
        let mut at = 0usize;
        let mut pos = pos;
        for piece in &pieces[splits[r] as usize..splits[r + 1] as usize] {
            let src = piece.start..piece.start + piece.len;
            let n = piece.len;
            ids[at..at + n].copy_from_slice(&input.ids.values[src.clone()]);
            match input.labels {
                Some(l) => labels[at..at + n].copy_from_slice(&l[src.clone()]),
                None => labels[at..at + n].copy_from_slice(&input.ids.values[src.clone()]),
            }
            match input.mask {
                Some(m) => mask[at..at + n].copy_from_slice(&m[src]),
                None => mask[at..at + n].fill(1),
            }
            if let Some((eos, pad)) = input.separator {
                ids[at + n] = eos;
                ids[at + n + 1] = pad;
                labels[at + n] = eos;
                labels[at + n + 1] = input.label_pad_id;
                mask[at + n] = 1;
                mask[at + n + 1] = 0;
            }
            if let Some(p) = pos.as_deref_mut() {
                for (j, slot) in p[at..at + n + extra].iter_mut().enumerate() {
                    *slot = j as i64;
                }
            }
            at += n + extra;
        }
        ids[at..].fill(input.pad_token_id);
        labels[at..].fill(input.label_pad_id);
        mask[at..].fill(0);
        if let Some(p) = pos {
            for (j, slot) in p[at..].iter_mut().enumerate() {
                *slot = j as i64;
            }
        }
    };
    if pool::parallel(num_threads, rows * width) {
        pool::install(num_threads, || {
            let rows_iter = out
                .input_ids
                .par_chunks_mut(width)
                .zip(out.labels.par_chunks_mut(width))
                .zip(out.attention_mask.par_chunks_mut(width))
                .enumerate();
            if with_positions {
                rows_iter.zip(positions.par_chunks_mut(width)).for_each(
                    |((r, ((ids, labels), mask)), pos)| write(r, ids, labels, mask, Some(pos)),
                );
            } else {
                rows_iter.for_each(|(r, ((ids, labels), mask))| write(r, ids, labels, mask, None));
            }
        })?;
    } else {
        // Small outputs: the caller's thread, no pool wake-up.
        let rows_iter = out
            .input_ids
            .chunks_mut(width)
            .zip(out.labels.chunks_mut(width))
            .zip(out.attention_mask.chunks_mut(width))
            .enumerate();
        if with_positions {
            rows_iter.zip(positions.chunks_mut(width)).for_each(
                |((r, ((ids, labels), mask)), pos)| write(r, ids, labels, mask, Some(pos)),
            );
        } else {
            rows_iter.for_each(|(r, ((ids, labels), mask))| write(r, ids, labels, mask, None));
        }
    }
    if checker.cancelled() {
        cancel::discard(out);
        return Err(Error::Interrupted);
    }
    Ok(out)
}

/// Bins as flat item indices plus `bins + 1` offsets.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Bins {
    pub indices: Vec<i64>,
    pub offsets: Vec<i64>,
}

impl Bins {
    fn from_lists(lists: impl IntoIterator<Item = Vec<Vec<i64>>>) -> Self {
        let mut bins = Bins {
            indices: Vec::new(),
            offsets: vec![0],
        };
        for group in lists {
            for b in group {
                bins.indices.extend_from_slice(&b);
                bins.offsets.push(bins.indices.len() as i64);
            }
        }
        bins
    }
}

/// A max-segment tree over bins: the leftmost bin with room for an item in O(log bins).
struct OpenBins {
    leaves: usize,
    tree: Vec<i64>,
}

const CLOSED: i64 = i64::MIN;

impl OpenBins {
    fn new(capacity_hint: usize) -> Self {
        let leaves = capacity_hint.max(1).next_power_of_two();
        OpenBins {
            leaves,
            tree: vec![CLOSED; 2 * leaves],
        }
    }

    fn set(&mut self, bin: usize, remaining: i64) {
        let mut node = bin + self.leaves;
        self.tree[node] = remaining;
        while node > 1 {
            node /= 2;
            self.tree[node] = self.tree[2 * node].max(self.tree[2 * node + 1]);
        }
    }

    /// Leftmost bin whose remaining room is >= size.
    fn first_fit(&self, size: i64) -> Option<usize> {
        if self.tree[1] < size {
            return None;
        }
        let mut node = 1;
        while node < self.leaves {
            node = if self.tree[2 * node] >= size {
                2 * node
            } else {
                2 * node + 1
            };
        }
        Some(node - self.leaves)
    }
}

/// Axolotl `pack_group`: first fit in the given order, at most `bin_size` items a bin;
/// an item larger than the capacity opens a bin of its own.
pub fn first_fit_group(
    lengths: &[i64],
    offset: usize,
    capacity: i64,
    bin_size: u64,
) -> Vec<Vec<i64>> {
    let mut open = OpenBins::new(lengths.len());
    let mut remaining: Vec<i64> = Vec::new();
    let mut bins: Vec<Vec<i64>> = Vec::new();
    for (k, &size) in lengths.iter().enumerate() {
        let index = (offset + k) as i64;
        let bin = match open.first_fit(size) {
            Some(b) => {
                remaining[b] -= size;
                bins[b].push(index);
                b
            }
            None => {
                remaining.push(capacity - size);
                bins.push(vec![index]);
                bins.len() - 1
            }
        };
        let full = bins[bin].len() as u64 >= bin_size;
        open.set(bin, if full { CLOSED } else { remaining[bin] });
    }
    bins
}

/// Axolotl `allocate_sequentially` for one rank: next fit, no item limit per bin.
pub fn next_fit(lengths: &[i64], capacity: i64) -> Vec<Vec<i64>> {
    let mut bins = Vec::new();
    let mut current: Vec<i64> = Vec::new();
    let mut remaining = capacity;
    for (index, &size) in lengths.iter().enumerate() {
        if size <= remaining {
            current.push(index as i64);
            remaining -= size;
        } else {
            if !current.is_empty() {
                bins.push(std::mem::take(&mut current));
            }
            current.push(index as i64);
            remaining = capacity - size;
        }
    }
    if !current.is_empty() {
        bins.push(current);
    }
    bins
}

pub fn pack_bins(
    lengths: &[i64],
    capacity: i64,
    bin_size: u64,
    group_size: usize,
    sequential: bool,
    num_threads: usize,
) -> Result<Bins> {
    if capacity < 0 {
        return Err(Error::invalid("bin_capacity must be >= 0"));
    }
    if bin_size == 0 || group_size == 0 {
        return Err(Error::invalid("bin_size and group_size must be >= 1"));
    }
    if let Some(i) = lengths.iter().position(|&l| l < 0) {
        return Err(Error::invalid(format!(
            "lengths must be >= 0 (item {i} is {})",
            lengths[i]
        )));
    }
    if sequential {
        return Ok(Bins::from_lists([next_fit(lengths, capacity)]));
    }
    if lengths.len() <= group_size || !pool::parallel(num_threads, lengths.len()) {
        let groups = lengths
            .chunks(group_size)
            .enumerate()
            .map(|(g, chunk)| first_fit_group(chunk, g * group_size, capacity, bin_size));
        return Ok(Bins::from_lists(groups));
    }
    cancel::check()?;
    let groups: Vec<Vec<Vec<i64>>> = pool::install(num_threads, || {
        lengths
            .par_chunks(group_size)
            .enumerate()
            .map(|(g, chunk)| first_fit_group(chunk, g * group_size, capacity, bin_size))
            .collect()
    })?;
    Ok(Bins::from_lists(groups))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lists(b: &Bins) -> Vec<Vec<i64>> {
        b.offsets
            .windows(2)
            .map(|w| b.indices[w[0] as usize..w[1] as usize].to_vec())
            .collect()
    }

    #[test]
    fn axolotl_examples() {
        let lengths = [5, 3000, 7, 2, 9, 9, 9];
        let bins = pack_bins(&lengths, 16, u64::MAX, 100_000, false, 1).unwrap();
        assert_eq!(
            lists(&bins),
            vec![vec![0, 2, 3], vec![1], vec![4], vec![5], vec![6]]
        );
        let bins = pack_bins(&lengths, 16, 2, 100_000, false, 1).unwrap();
        assert_eq!(
            lists(&bins),
            vec![vec![0, 2], vec![1], vec![3, 4], vec![5], vec![6]]
        );
        let bins = pack_bins(&lengths, 16, 2, 100_000, true, 1).unwrap();
        assert_eq!(
            lists(&bins),
            vec![vec![0], vec![1], vec![2, 3], vec![4], vec![5], vec![6]]
        );
    }

    #[test]
    fn groups_are_independent() {
        let lengths = [4, 4, 4, 4];
        let bins = pack_bins(&lengths, 8, u64::MAX, 3, false, 2).unwrap();
        assert_eq!(lists(&bins), vec![vec![0, 1], vec![2], vec![3]]);
    }

    #[test]
    fn greedy_packing_matches_encode_streaming() {
        let values = [1, 2, 3, 4, 5, 6];
        let offsets = [0, 3, 4, 6];
        let input = PackInput {
            ids: Ragged::new(&values, &offsets).unwrap(),
            labels: None,
            mask: None,
            separator: Some((9, 0)),
            max_length: 8,
            pad_token_id: 0,
            label_pad_id: -100,
            overflow: Overflow::Truncate,
            with_position_ids: true,
        };
        let out = pack(&input, 1).unwrap();
        assert_eq!(out.rows, 2);
        assert_eq!(&out.input_ids[..8], &[1, 2, 3, 9, 0, 4, 9, 0]);
        assert_eq!(&out.input_ids[8..], &[5, 6, 9, 0, 0, 0, 0, 0]);
        assert_eq!(&out.labels[8..], &[5, 6, 9, -100, -100, -100, -100, -100]);
        assert_eq!(&out.attention_mask[..8], &[1, 1, 1, 1, 0, 1, 1, 0]);
        assert_eq!(out.position_ids.unwrap()[..8], [0, 1, 2, 3, 4, 0, 1, 2]);
        assert_eq!(out.seq_lens, vec![5, 3, 4]);
        assert_eq!(out.row_splits, vec![0, 2, 3]);
    }

    #[test]
    fn overflow_error_and_bad_offsets_are_errors() {
        let values = [1, 2, 3, 4];
        let input = PackInput {
            ids: Ragged::new(&values, &[0, 4]).unwrap(),
            labels: None,
            mask: None,
            separator: Some((9, 0)),
            max_length: 4,
            pad_token_id: 0,
            label_pad_id: -100,
            overflow: Overflow::Error,
            with_position_ids: false,
        };
        assert!(matches!(pack(&input, 1), Err(Error::SequenceTooLong(_))));
        assert!(Ragged::new(&values, &[0, 5]).is_err());
        assert!(Ragged::new(&values, &[2, 1]).is_err());
    }
}
