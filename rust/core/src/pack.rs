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

    /// Every sequence as a slice of `values`.
    pub fn rows(&self) -> Vec<&'a [i64]> {
        (0..self.len())
            .map(|i| {
                let (start, end) = self.range(i);
                &self.values[start..end]
            })
            .collect()
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
#[cfg(test)] // the bindings fill numpy buffers in place
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

/// Where every packed piece goes: computed first, so the caller can allocate the
/// output (e.g. as numpy arrays) before [`fill`] writes it.
pub struct Plan {
    pieces: Vec<Piece>,
    /// `rows + 1` offsets into the pieces.
    row_splits: Vec<i64>,
    extra: usize,
}

impl Plan {
    pub fn rows(&self) -> usize {
        self.row_splits.len() - 1
    }

    /// Length of each packed sample (extras included), in order.
    pub fn seq_lens(&self) -> Vec<i64> {
        self.pieces
            .iter()
            .map(|p| (p.len + self.extra) as i64)
            .collect()
    }

    pub fn row_splits(&self) -> &[i64] {
        &self.row_splits
    }
}

/// The caller's output buffers, each `rows * max_length` long, row-major.
pub struct PackOut<'a> {
    pub input_ids: &'a mut [i64],
    pub labels: &'a mut [i64],
    pub attention_mask: &'a mut [i64],
    pub position_ids: Option<&'a mut [i64]>,
}

/// Cut samples into pieces (per the overflow policy) and assign them to rows greedily.
pub fn plan(input: &PackInput<'_>) -> Result<Plan> {
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
    Ok(Plan {
        pieces,
        row_splits,
        extra,
    })
}

/// Write every row of `plan` into `out` (rows in parallel when large).
pub fn fill(
    input: &PackInput<'_>,
    plan: &Plan,
    out: PackOut<'_>,
    num_threads: usize,
) -> Result<()> {
    let width = input.max_length;
    let size = plan.rows() * width;
    let PackOut {
        input_ids,
        labels,
        attention_mask,
        position_ids,
    } = out;
    if input_ids.len() != size
        || labels.len() != size
        || attention_mask.len() != size
        || position_ids.as_ref().is_some_and(|p| p.len() != size)
        || position_ids.is_some() != input.with_position_ids
    {
        return Err(Error::invalid(format!(
            "output buffers must hold {size} values each"
        )));
    }
    let extra = plan.extra;
    let pieces = &plan.pieces;
    let splits = &plan.row_splits;
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
    if size == 0 {
        return Ok(());
    }
    if pool::parallel(num_threads, size) {
        let rows = input_ids.len() / width.max(1);
        pool::install(|| {
            let rows_iter = input_ids
                .par_chunks_mut(width)
                .zip(labels.par_chunks_mut(width))
                .zip(attention_mask.par_chunks_mut(width))
                .enumerate()
                .with_min_len(pool::min_len(num_threads, rows));
            match position_ids {
                Some(positions) => rows_iter.zip(positions.par_chunks_mut(width)).for_each(
                    |((r, ((ids, labels), mask)), pos)| write(r, ids, labels, mask, Some(pos)),
                ),
                None => rows_iter
                    .for_each(|(r, ((ids, labels), mask))| write(r, ids, labels, mask, None)),
            }
        })?;
    } else {
        // Small outputs: the caller's thread, no pool wake-up.
        let rows_iter = input_ids
            .chunks_mut(width)
            .zip(labels.chunks_mut(width))
            .zip(attention_mask.chunks_mut(width))
            .enumerate();
        match position_ids {
            Some(positions) => rows_iter.zip(positions.chunks_mut(width)).for_each(
                |((r, ((ids, labels), mask)), pos)| write(r, ids, labels, mask, Some(pos)),
            ),
            None => {
                rows_iter.for_each(|(r, ((ids, labels), mask))| write(r, ids, labels, mask, None))
            }
        }
    }
    checker.check()
}

/// [`plan`] then [`fill`] into freshly allocated vectors.
#[cfg(test)] // the bindings fill numpy buffers in place
pub fn pack(input: &PackInput<'_>, num_threads: usize) -> Result<Packed> {
    let plan = plan(input)?;
    let size = plan.rows() * input.max_length;
    let mut out = Packed {
        rows: plan.rows(),
        input_ids: vec![0; size],
        labels: vec![0; size],
        attention_mask: vec![0; size],
        position_ids: input.with_position_ids.then(|| vec![0; size]),
        seq_lens: plan.seq_lens(),
        row_splits: plan.row_splits.clone(),
    };
    fill(
        input,
        &plan,
        PackOut {
            input_ids: &mut out.input_ids,
            labels: &mut out.labels,
            attention_mask: &mut out.attention_mask,
            position_ids: out.position_ids.as_deref_mut(),
        },
        num_threads,
    )?;
    Ok(out)
}

/// Bins as flat item indices plus `bins + 1` offsets.
#[cfg(test)] // the bindings fill numpy buffers in place
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Bins {
    pub indices: Vec<i64>,
    pub offsets: Vec<i64>,
}

/// The room left in a bin as the search tree stores it: `i32` when the capacity
/// allows (half the memory, so a group's tree stays in cache), else `i64`.
/// Negative room is stored as -1: no item (all sizes are >= 0) fits it either way.
trait Room: Copy + Ord + Send {
    const CLOSED: Self;
    fn from_i64(value: i64) -> Self;
}

impl Room for i32 {
    const CLOSED: i32 = i32::MIN;
    fn from_i64(value: i64) -> i32 {
        value.clamp(-1, i32::MAX as i64) as i32
    }
}

impl Room for i64 {
    const CLOSED: i64 = i64::MIN;
    fn from_i64(value: i64) -> i64 {
        value.max(-1)
    }
}

/// A max-segment tree over bins: the leftmost bin with room for an item in
/// O(log bins). It grows by doubling as bins open, so its size follows the bins
/// actually used (about a quarter of the items in typical multipack groups).
struct OpenBins<T> {
    leaves: usize,
    used: usize,
    tree: Vec<T>,
}

impl<T: Room> OpenBins<T> {
    fn new() -> Self {
        let leaves = 1024;
        OpenBins {
            leaves,
            used: 0,
            tree: vec![T::CLOSED; 2 * leaves],
        }
    }

    fn grow(&mut self) {
        let old = self.leaves;
        let leaves = 2 * old;
        let mut tree = vec![T::CLOSED; 2 * leaves];
        tree[leaves..leaves + old].copy_from_slice(&self.tree[old..2 * old]);
        for node in (1..leaves).rev() {
            tree[node] = tree[2 * node].max(tree[2 * node + 1]);
        }
        self.leaves = leaves;
        self.tree = tree;
    }

    /// Open a bin with `room` left; its index.
    fn open(&mut self, room: T) -> usize {
        if self.used == self.leaves {
            self.grow();
        }
        self.used += 1;
        self.set(self.used - 1, room);
        self.used - 1
    }

    fn set(&mut self, bin: usize, room: T) {
        let mut node = bin + self.leaves;
        self.tree[node] = room;
        while node > 1 {
            node /= 2;
            let best = self.tree[2 * node].max(self.tree[2 * node + 1]);
            if self.tree[node] == best {
                break; // unchanged here, so unchanged above
            }
            self.tree[node] = best;
        }
    }

    /// Leftmost bin whose room is >= size.
    fn first_fit(&self, size: T) -> Option<usize> {
        if self.tree[1] < size {
            return None;
        }
        let mut node = 1;
        while node < self.leaves {
            node = 2 * node + usize::from(self.tree[2 * node] < size);
        }
        Some(node - self.leaves)
    }
}

/// Axolotl `pack_group` for one group: first fit in the given order, at most
/// `bin_size` items a bin; an item larger than the capacity opens a bin of its own.
/// Writes the group's item indices (`offset + k`), bin after bin, into `out`
/// (one slot per item) and returns the number of items of each bin.
fn first_fit_group<T: Room>(
    lengths: &[i64],
    offset: usize,
    capacity: i64,
    bin_size: u64,
    out: &mut [i64],
) -> Vec<u64> {
    let mut open = OpenBins::<T>::new();
    let mut room: Vec<i64> = Vec::new();
    let mut counts: Vec<u64> = Vec::new();
    let mut bin_of: Vec<usize> = Vec::with_capacity(lengths.len());
    let too_big = capacity.saturating_add(1);
    for &size in lengths {
        let need = T::from_i64(size.min(too_big));
        let bin = match open.first_fit(need) {
            Some(b) => {
                room[b] -= size;
                counts[b] += 1;
                let left = if counts[b] >= bin_size {
                    T::CLOSED
                } else {
                    T::from_i64(room[b])
                };
                open.set(b, left);
                b
            }
            None => {
                room.push(capacity - size.min(too_big));
                counts.push(1);
                let left = if bin_size <= 1 {
                    T::CLOSED
                } else {
                    T::from_i64(capacity - size.min(too_big))
                };
                open.open(left)
            }
        };
        bin_of.push(bin);
    }
    // A stable counting sort by bin: items keep their order inside each bin.
    let mut next: Vec<usize> = Vec::with_capacity(counts.len());
    let mut at = 0usize;
    for &c in &counts {
        next.push(at);
        at += c as usize;
    }
    for (k, &bin) in bin_of.iter().enumerate() {
        out[next[bin]] = (offset + k) as i64;
        next[bin] += 1;
    }
    counts
}

/// Axolotl `allocate_sequentially` for one rank: next fit, no item limit per bin.
/// Bins are runs of consecutive items, so only the offsets are computed.
fn next_fit_offsets(lengths: &[i64], capacity: i64) -> Vec<i64> {
    let mut offsets = vec![0i64];
    let mut in_bin = 0usize;
    let mut remaining = capacity;
    for (index, &size) in lengths.iter().enumerate() {
        if size <= remaining {
            in_bin += 1;
            remaining -= size;
        } else {
            if in_bin > 0 {
                offsets.push(index as i64);
            }
            in_bin = 1;
            remaining = capacity.saturating_sub(size);
        }
    }
    if in_bin > 0 {
        offsets.push(lengths.len() as i64);
    }
    offsets
}

/// Multipack bins written into `indices` (one slot per item: every item lands in
/// exactly one bin, and bins never span groups, so group `g` fills its own slice).
/// Returns the `bins + 1` offsets.
pub fn pack_bins_into(
    lengths: &[i64],
    capacity: i64,
    bin_size: u64,
    group_size: usize,
    sequential: bool,
    num_threads: usize,
    indices: &mut [i64],
) -> Result<Vec<i64>> {
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
    if indices.len() != lengths.len() {
        return Err(Error::invalid("indices must have one slot per length"));
    }
    if sequential {
        for (k, slot) in indices.iter_mut().enumerate() {
            *slot = k as i64;
        }
        return Ok(next_fit_offsets(lengths, capacity));
    }
    let narrow = capacity < i32::MAX as i64;
    let group = |(g, (chunk, out)): (usize, (&[i64], &mut [i64]))| {
        if narrow {
            first_fit_group::<i32>(chunk, g * group_size, capacity, bin_size, out)
        } else {
            first_fit_group::<i64>(chunk, g * group_size, capacity, bin_size, out)
        }
    };
    let counts: Vec<Vec<u64>> =
        if lengths.len() <= group_size || !pool::parallel(num_threads, lengths.len()) {
            lengths
                .chunks(group_size)
                .zip(indices.chunks_mut(group_size))
                .enumerate()
                .map(group)
                .collect()
        } else {
            let groups = lengths.len().div_ceil(group_size);
            pool::install(|| {
                lengths
                    .par_chunks(group_size)
                    .zip(indices.par_chunks_mut(group_size))
                    .enumerate()
                    .with_min_len(pool::min_len(num_threads, groups))
                    .map(group)
                    .collect()
            })?
        };
    let mut offsets = Vec::with_capacity(counts.iter().map(Vec::len).sum::<usize>() + 1);
    offsets.push(0i64);
    let mut at = 0i64;
    for c in counts.iter().flatten() {
        at += *c as i64;
        offsets.push(at);
    }
    cancel::check()?;
    Ok(offsets)
}

#[cfg(test)] // the bindings fill numpy buffers in place (`fill`, `pack_bins_into`)
pub fn pack_bins(
    lengths: &[i64],
    capacity: i64,
    bin_size: u64,
    group_size: usize,
    sequential: bool,
    num_threads: usize,
) -> Result<Bins> {
    let mut indices = vec![0i64; lengths.len()];
    let offsets = pack_bins_into(
        lengths,
        capacity,
        bin_size,
        group_size,
        sequential,
        num_threads,
        &mut indices,
    )?;
    Ok(Bins { indices, offsets })
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
