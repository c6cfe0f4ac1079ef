"""``prepare --multipack``: one output row per multipack bin.

Each bin (from :func:`fast_axolotl.pack_bins`, Axolotl's ``pack_parallel``) becomes
one row holding its samples concatenated, in the layout Axolotl's
``V2BatchSamplerDataCollatorForSeq2Seq`` gives a bin (before padding):
``input_ids`` and ``labels`` concatenated, ``attention_mask`` holding the 1-based
index of the sample inside the row (times the input mask, if there is one),
``position_ids`` restarting at 0 for every sample, and ``length`` (tokens in the row).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InvalidArgumentError

TOKEN_COLUMNS = ("input_ids", "labels", "attention_mask", "position_ids")


def sample_lengths(table: pa.Table) -> np.ndarray:
    """Tokens per row of ``input_ids`` (an error names the first null row)."""
    if "input_ids" not in table.column_names:
        raise InvalidArgumentError(
            f"packing needs an input_ids column (tokenized rows); the input has {table.column_names}"
        )
    lengths = pc.list_value_length(table.column("input_ids"))
    if lengths.null_count:
        first = int(np.flatnonzero(lengths.is_null().to_numpy(zero_copy_only=False))[0])
        raise InvalidArgumentError(f"input_ids is null in row {first}")
    return np.asarray(lengths.to_numpy(zero_copy_only=False), dtype=np.int64)


def _flat(table: pa.Table, name: str, order: pa.Array, lengths: np.ndarray) -> np.ndarray:
    column = table.column(name)
    column_lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
    if column_lengths.shape != lengths.shape or not np.array_equal(column_lengths, lengths):
        row = int(np.flatnonzero(column_lengths != lengths)[0])
        raise InvalidArgumentError(
            f"row {row}: {name} has {column_lengths[row]} values but input_ids has {lengths[row]}"
        )
    taken = column.combine_chunks().take(order) if isinstance(column, pa.ChunkedArray) else column.take(order)
    return np.asarray(taken.flatten().to_numpy(zero_copy_only=False), dtype=np.int64)


def bins_table(table: pa.Table, lengths: np.ndarray, indices: np.ndarray, bin_offsets: np.ndarray) -> pa.Table:
    """The rows of every bin, concatenated (see the module docstring)."""
    order = pa.array(indices, type=pa.int64())
    ordered_lengths = lengths[indices]
    counts = np.diff(bin_offsets)
    row_tokens = np.add.reduceat(ordered_lengths, bin_offsets[:-1]) if counts.size else np.zeros(0, np.int64)
    row_offsets = np.concatenate([[0], np.cumsum(row_tokens)]).astype(np.int64)
    sample_in_row = np.arange(indices.size) - np.repeat(bin_offsets[:-1], counts) + 1

    input_ids = _flat(table, "input_ids", order, lengths)
    columns: dict[str, Any] = {"input_ids": input_ids}
    columns["labels"] = _flat(table, "labels", order, lengths) if "labels" in table.column_names else input_ids
    mask = np.repeat(sample_in_row, ordered_lengths)
    if "attention_mask" in table.column_names:
        mask = mask * _flat(table, "attention_mask", order, lengths)
    columns["attention_mask"] = mask
    if "position_ids" in table.column_names:
        columns["position_ids"] = _flat(table, "position_ids", order, lengths)
    else:  # range(len) per sample, what Axolotl's add_position_ids writes
        sample_starts = np.concatenate([[0], np.cumsum(ordered_lengths)[:-1]]).astype(np.int64)
        columns["position_ids"] = np.arange(int(row_offsets[-1])) - np.repeat(sample_starts, ordered_lengths)
    # 32-bit offsets (plain `list`, what datasets writes) unless the tokens need 64.
    large = int(row_offsets[-1]) > np.iinfo(np.int32).max
    offsets = pa.array(row_offsets, type=pa.int64() if large else pa.int32())
    make = pa.LargeListArray.from_arrays if large else pa.ListArray.from_arrays
    out = {name: make(offsets, pa.array(values)) for name, values in columns.items()}
    out["length"] = pa.array(row_tokens, type=pa.int64())
    return pa.table(out)
