"""Token packing and multipack bins on a Ray cluster, by ranges of global row numbers.

Both work on consecutive groups of rows that never interact: ``pack`` packs each batch of
``batch_size`` rows on its own (Axolotl's ``encode_streaming`` packs each ``map`` batch so),
``pack_bins`` packs each group of ``group_size`` lengths on its own (bins never span
groups). So the dataset is cut into spans of whole groups (``_blocks.spans``), a task per
span, and the result equals the single-machine function applied group by group.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import ray
import ray.data

from .._inputs import check_choice, check_int, check_optional_int
from ..errors import InvalidArgumentError, UnsupportedTypeError
from ._blocks import Span, block_rows, check_dataset, from_blocks, gather, ordered_blocks, run_spans, spans, target_rows

_OVERFLOW = ("truncate", "split", "error")
PACKED = ("input_ids", "labels", "attention_mask", "position_ids")


def _as_lists(matrix: np.ndarray) -> pa.ListArray:
    """A ``(rows, width)`` int64 matrix as a list<int64> column (as ``datasets`` types it)."""
    rows, width = matrix.shape
    offsets = pa.array(np.arange(0, (rows + 1) * width, width, dtype=np.int32), type=pa.int32())
    return pa.ListArray.from_arrays(offsets, pa.array(matrix.ravel(), type=pa.int64()))


def _column(table: pa.Table, name: str) -> pa.Array:
    if name not in table.column_names:
        raise InvalidArgumentError(f"column {name!r} is not in the dataset (columns: {', '.join(table.column_names)})")
    return table.column(name).combine_chunks()


def _pack_span(span: Span, column: str, batch_size: int, options: dict[str, Any], *tables: pa.Table) -> pa.Table:
    import fast_axolotl as fa

    table = gather(span.pieces, tables) if tables else None
    outputs: dict[str, list[pa.Array]] = {}
    if table is not None:
        values = _column(table, column)
        for start in range(0, len(values), batch_size):
            packed = fa.pack_sequences(values.slice(start, batch_size), **options)
            for name in PACKED:
                if name in packed:
                    outputs.setdefault(name, []).append(_as_lists(packed[name]))
    names = [n for n in PACKED if n != "position_ids" or options["return_position_ids"]]
    arrays = [pa.concat_arrays(outputs[n]) if outputs.get(n) else pa.array([], pa.list_(pa.int64())) for n in names]
    return pa.table(dict(zip(names, arrays, strict=True)))


def pack(
    ds: ray.data.Dataset,
    max_length: int,
    pad_token_id: int,
    eos_token_id: int,
    label_pad_id: int = -100,
    *,
    batch_size: int = 1000,
    column: str = "input_ids",
    overflow: str = "truncate",
    return_position_ids: bool = False,
) -> ray.data.Dataset:
    """``fa.pack_sequences`` over each batch of ``batch_size`` consecutive rows of
    ``column`` (Axolotl's streaming packing packs each ``map`` batch on its own): the rows
    equal those of the single-machine function applied batch by batch, in order, as
    list<int64> columns ``input_ids``, ``labels``, ``attention_mask`` (and ``position_ids``).
    The work runs now."""
    check_dataset(ds)
    check_int("batch_size", batch_size, minimum=1)
    check_int("max_length", max_length, minimum=3)
    check_choice("overflow", overflow, _OVERFLOW)
    options = {
        "max_length": max_length,
        "pad_token_id": check_int("pad_token_id", pad_token_id),
        "eos_token_id": check_int("eos_token_id", eos_token_id),
        "label_pad_id": check_int("label_pad_id", label_pad_id),
        "overflow": overflow,
        "return_position_ids": bool(return_position_ids),
    }
    blocks = ordered_blocks(ds)
    counts = block_rows(blocks)
    plan = spans(counts, batch_size, target_rows(counts))
    results = run_spans(blocks, plan, ray.remote(_pack_span), column, batch_size, options)
    return from_blocks(results, _pack_span(Span(0, 0, ()), column, batch_size, options))


def _lengths(table: pa.Table, column: str) -> np.ndarray:
    values = _column(table, column)
    if pa.types.is_list(values.type) or pa.types.is_large_list(values.type) or pa.types.is_fixed_size_list(values.type):
        lengths = pc.list_value_length(values)
    elif pa.types.is_integer(values.type):
        lengths = values
    else:
        raise UnsupportedTypeError(
            f"column {column!r}: lengths come from a list or an integer column, not {values.type}"
        )
    if lengths.null_count:
        raise InvalidArgumentError(f"column {column!r} holds nulls")
    return np.asarray(lengths.to_numpy(zero_copy_only=False), dtype=np.int64)


def _bins_span(span: Span, column: str, group_size: int, options: dict[str, Any], *tables: pa.Table) -> pa.Table:
    import fast_axolotl as fa

    lengths = _lengths(gather(span.pieces, tables), column) if tables else np.zeros(0, np.int64)
    parts = []
    for start in range(0, len(lengths), group_size):
        indices, offsets = fa.pack_bins(
            lengths[start : start + group_size], group_size=group_size, as_arrays=True, **options
        )
        global_rows = pa.array(indices + span.first + start, type=pa.int64())
        parts.append(pa.ListArray.from_arrays(pa.array(offsets, type=pa.int32()), global_rows))
    bins = pa.concat_arrays(parts) if parts else pa.array([], pa.list_(pa.int64()))
    return pa.table({"indices": bins})


def pack_bins(
    ds: ray.data.Dataset,
    bin_capacity: int,
    *,
    column: str = "input_ids",
    bin_size: int | None = None,
    group_size: int = 100_000,
) -> ray.data.Dataset:
    """Multipack bins (first fit in order, within consecutive groups of ``group_size``
    rows) over the lengths of ``column`` (a list column: its lists' lengths; an integer
    column: the lengths): one row per bin, ``indices`` the dataset's row numbers in it.
    Equal, bin for bin, to ``fa.pack_bins(lengths, bin_capacity, bin_size=...,
    group_size=...)`` on one machine. (``sequential=True``, next fit over the whole dataset,
    is one chain with no independent groups: compute it with ``fa.pack_bins`` from the
    lengths.) The work runs now."""
    check_dataset(ds)
    check_int("bin_capacity", bin_capacity, minimum=1)
    check_optional_int("bin_size", bin_size, minimum=1)
    check_int("group_size", group_size, minimum=1)
    options = {"bin_capacity": bin_capacity, "bin_size": bin_size}
    blocks = ordered_blocks(ds)
    counts = block_rows(blocks)
    plan = spans(counts, group_size, target_rows(counts))
    results = run_spans(blocks, plan, ray.remote(_bins_span), column, group_size, options)
    return from_blocks(results, pa.table({"indices": pa.array([], pa.list_(pa.int64()))}))
