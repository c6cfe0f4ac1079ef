"""Reference kernels: greedy token packing (Axolotl ``encode_streaming``) and multipack bins.

Sequences arrive flattened: ``values`` (int64) and ``offsets`` (int64, n+1), so
sequence ``i`` is ``values[offsets[i]:offsets[i+1]]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import InvalidArgumentError, SequenceTooLongError

Int64Array = npt.NDArray[np.int64]


def _pieces(length: int, limit: int, overflow: str, index: int) -> list[tuple[int, int]]:
    """(start, stop) ranges a sample of ``length`` tokens becomes under the overflow policy."""
    if length <= limit:
        return [(0, length)]
    if overflow == "truncate":
        return [(0, limit)]
    if overflow == "split":
        return [(start, min(start + limit, length)) for start in range(0, length, limit)]
    raise SequenceTooLongError(
        f"sequence {index} has {length} tokens; at most {limit} fit in max_length (use overflow='truncate' or 'split')"
    )


def _greedy(
    samples: list[tuple[list[int], list[int], list[int]]],
    max_length: int,
    pad_token_id: int,
    label_pad_id: int,
    with_position_ids: bool,
) -> dict[str, Any]:
    rows_ids: list[list[int]] = []
    rows_labels: list[list[int]] = []
    rows_mask: list[list[int]] = []
    rows_pos: list[list[int]] = []
    seq_lens: list[int] = []
    row_splits: list[int] = [0]
    ids: list[int] = []
    labels: list[int] = []
    mask: list[int] = []
    pos: list[int] = []

    def flush() -> None:
        pad = max_length - len(ids)
        rows_ids.append(ids + [pad_token_id] * pad)
        rows_labels.append(labels + [label_pad_id] * pad)
        rows_mask.append(mask + [0] * pad)
        rows_pos.append(pos + list(range(pad)))
        row_splits.append(len(seq_lens))

    for s_ids, s_labels, s_mask in samples:
        if not s_ids:  # a zero-token sample occupies nothing and is not a segment
            continue
        if ids and len(ids) + len(s_ids) > max_length:
            flush()
            ids, labels, mask, pos = [], [], [], []
        ids = ids + s_ids
        labels = labels + s_labels
        mask = mask + s_mask
        pos = pos + list(range(len(s_ids)))
        seq_lens.append(len(s_ids))
    if ids:
        flush()

    out: dict[str, Any] = {
        "input_ids": np.array(rows_ids, dtype=np.int64).reshape(len(rows_ids), max_length),
        "labels": np.array(rows_labels, dtype=np.int64).reshape(len(rows_ids), max_length),
        "attention_mask": np.array(rows_mask, dtype=np.int64).reshape(len(rows_ids), max_length),
        "seq_lens": np.array(seq_lens, dtype=np.int64),
        "row_splits": np.array(row_splits, dtype=np.int64),
    }
    if with_position_ids:
        out["position_ids"] = np.array(rows_pos, dtype=np.int64).reshape(len(rows_ids), max_length)
    return out


def pack_sequences(
    values: Int64Array,
    offsets: Int64Array,
    max_length: int,
    pad_token_id: int,
    eos_token_id: int,
    label_pad_id: int,
    overflow: str,
    with_position_ids: bool,
) -> dict[str, Any]:
    """Axolotl ``encode_streaming(concatenate=True)`` after tokenization.

    Each sample (truncated/split to ``max_length - 2``) becomes ``ids + [eos, pad]``,
    labels ``ids + [eos, label_pad]``, mask ``[1]*len + [1, 0]``; samples are added
    to the current row while they fit, then the row is padded to ``max_length``.
    """
    tokens = values.tolist()
    samples = []
    for index in range(len(offsets) - 1):
        start, stop = int(offsets[index]), int(offsets[index + 1])
        for a, b in _pieces(stop - start, max_length - 2, overflow, index):
            piece = tokens[start + a : start + b]
            samples.append(
                (
                    piece + [eos_token_id, pad_token_id],
                    piece + [eos_token_id, label_pad_id],
                    [1] * len(piece) + [1, 0],
                )
            )
    return _greedy(samples, max_length, pad_token_id, label_pad_id, with_position_ids)


def concatenate_and_pack(
    ids_values: Int64Array,
    labels_values: Int64Array,
    mask_values: Int64Array,
    offsets: Int64Array,
    max_length: int,
    pad_token_id: int,
    label_pad_id: int,
    overflow: str,
    with_position_ids: bool,
) -> dict[str, Any]:
    """Greedy packing of pre-built (input_ids, labels, attention_mask) triples, nothing inserted."""
    ids_all, labels_all, mask_all = ids_values.tolist(), labels_values.tolist(), mask_values.tolist()
    samples = []
    for index in range(len(offsets) - 1):
        start, stop = int(offsets[index]), int(offsets[index + 1])
        for a, b in _pieces(stop - start, max_length, overflow, index):
            samples.append(
                (
                    ids_all[start + a : start + b],
                    labels_all[start + a : start + b],
                    mask_all[start + a : start + b],
                )
            )
    return _greedy(samples, max_length, pad_token_id, label_pad_id, with_position_ids)


def _first_fit(lengths: list[int], offset: int, capacity: int, bin_size: int) -> list[list[int]]:
    """Axolotl ``pack_group``: first fit in the given order, at most ``bin_size`` items a bin."""
    remaining: list[int] = []
    bins: list[list[int]] = []
    for seq_id, size in enumerate(lengths):
        for bin_idx, space in enumerate(remaining):
            if space >= size and len(bins[bin_idx]) < bin_size:
                remaining[bin_idx] -= size
                bins[bin_idx].append(seq_id + offset)
                break
        else:
            remaining.append(capacity - size)
            bins.append([seq_id + offset])
    return bins


def _next_fit(lengths: list[int], capacity: int) -> list[list[int]]:
    """Axolotl ``allocate_sequentially`` (one rank): next fit, ignores bin_size."""
    bins: list[list[int]] = []
    current: list[int] = []
    remaining = capacity
    for index, size in enumerate(lengths):
        if size <= remaining:
            current.append(index)
            remaining -= size
        else:
            if current:
                bins.append(current)
            current = [index]
            remaining = capacity - size
    if current:
        bins.append(current)
    return bins


def pack_bins(
    lengths: Int64Array,
    capacity: int,
    bin_size: int,
    group_size: int,
    sequential: bool,
    num_threads: int,
) -> tuple[Int64Array, Int64Array]:
    """Bins as (flat item indices, bin offsets)."""
    if capacity < 0 or bin_size < 1 or group_size < 1:
        raise InvalidArgumentError("capacity must be >= 0, bin_size and group_size >= 1")
    items = lengths.tolist()
    if sequential:
        bins = _next_fit(items, capacity)
    else:
        bins = []
        for start in range(0, len(items), group_size):
            bins.extend(_first_fit(items[start : start + group_size], start, capacity, bin_size))
    flat = [index for b in bins for index in b]
    bin_offsets = np.zeros(len(bins) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in bins], out=bin_offsets[1:])
    return np.asarray(flat, dtype=np.int64), bin_offsets


def split_lists(indices: Int64Array, offsets: Int64Array) -> list[list[int]]:
    """``[indices[offsets[k]:offsets[k+1]] for k ...]`` as Python lists."""
    flat = indices.tolist()
    bounds = offsets.tolist()
    return [flat[bounds[k] : bounds[k + 1]] for k in range(len(bounds) - 1)]
