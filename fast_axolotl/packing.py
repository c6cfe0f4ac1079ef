"""Token packing (Axolotl ``encode_streaming``) and multipack bin packing (``pack_group``)."""

from __future__ import annotations

from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from . import _backend
from ._compat import UNSET, renamed, required
from ._inputs import check_choice, check_int, check_optional_int, int_vector, ragged
from ._outputs import ReturnTensors, check_return_tensors, convert, convert_dict
from .errors import ArgumentTypeError, InvalidArgumentError

Overflow = Literal["truncate", "split", "error"]
_OVERFLOW = ("truncate", "split", "error")

__all__ = ["pack_sequences", "concatenate_and_pack", "pack_bins", "position_ids", "cu_seqlens", "lengths_from"]


def _finish(raw: dict[str, Any], return_seq_lens: bool, return_tensors: ReturnTensors) -> dict[str, Any]:
    seq_lens, row_splits = raw.pop("seq_lens"), raw.pop("row_splits")
    out = convert_dict(raw, return_tensors)
    if return_seq_lens:
        out["seq_lens"] = (
            [convert(part, return_tensors) for part in np.split(seq_lens, row_splits[1:-1])]
            if len(row_splits) > 1
            else []
        )
    return out


def pack_sequences(
    sequences: Any,
    max_length: int,
    pad_token_id: int,
    eos_token_id: int,
    label_pad_id: int = -100,
    *,
    overflow: Overflow = "truncate",
    return_position_ids: bool = False,
    return_seq_lens: bool = False,
    return_tensors: ReturnTensors = "np",
) -> dict[str, Any]:
    """Pack tokenized samples into rows of exactly ``max_length`` tokens, as Axolotl's
    ``encode_streaming(concatenate=True)`` does after tokenizing.

    Each sample becomes ``ids + [eos, pad]`` (labels ``ids + [eos, label_pad_id]``,
    attention mask ``[1]*len(ids) + [1, 0]``). Samples are appended to the current
    row while it stays within ``max_length``; then the row is padded (``pad_token_id``,
    ``label_pad_id``, mask 0) and a new row starts. A sample longer than
    ``max_length - 2`` is handled by ``overflow``: ``"truncate"`` keeps its first
    ``max_length - 2`` tokens (Axolotl's tokenizer call), ``"split"`` cuts it into
    pieces of that size, ``"error"`` raises :class:`SequenceTooLongError`.

    Returns int64 arrays of shape ``(rows, max_length)``: ``input_ids``, ``labels``,
    ``attention_mask``; with ``return_position_ids`` also ``position_ids`` (restarting
    at 0 for each sample, and ``0, 1, 2...`` over the row padding); with
    ``return_seq_lens`` a list with, per row, the lengths of its samples.
    """
    values, offsets = ragged(sequences)
    max_length = check_int("max_length", max_length, minimum=3)
    pad = check_int("pad_token_id", pad_token_id)
    eos = check_int("eos_token_id", eos_token_id)
    label_pad = check_int("label_pad_id", label_pad_id)
    check_choice("overflow", overflow, _OVERFLOW)
    tensors = check_return_tensors(return_tensors)
    raw = _backend.kernels().pack_sequences(
        values, offsets, max_length, pad, eos, label_pad, overflow, bool(return_position_ids)
    )
    return _finish(raw, return_seq_lens, tensors)


@overload
def concatenate_and_pack(
    input_ids: Any,
    labels: Any,
    attention_mask: Any,
    max_length: int,
    pad_token_id: int,
    label_pad_id: int = -100,
    *,
    overflow: Overflow = "truncate",
    return_position_ids: bool = False,
    return_seq_lens: bool = False,
    return_tensors: ReturnTensors = "np",
) -> dict[str, Any]: ...
@overload
def concatenate_and_pack(
    input_ids: Any,
    labels: Any,
    *,
    attention_masks: Any,
    max_length: int,
    pad_token_id: int,
    label_pad_id: int = -100,
    overflow: Overflow = "truncate",
    return_position_ids: bool = False,
    return_seq_lens: bool = False,
    return_tensors: ReturnTensors = "np",
) -> dict[str, Any]: ...
def concatenate_and_pack(
    input_ids: Any,
    labels: Any,
    attention_mask: Any = UNSET,
    max_length: Any = UNSET,
    pad_token_id: Any = UNSET,
    label_pad_id: int = -100,
    *,
    attention_masks: Any = UNSET,
    overflow: Overflow = "truncate",
    return_position_ids: bool = False,
    return_seq_lens: bool = False,
    return_tensors: ReturnTensors = "np",
) -> dict[str, Any]:
    """Greedily pack already-built ``(input_ids, labels, attention_mask)`` samples into rows
    of ``max_length`` (nothing inserted between samples; rows padded with ``pad_token_id``,
    ``label_pad_id`` and 0). The three inputs must have the same number of samples and
    each sample the same length in all three, else :class:`InvalidArgumentError`.
    A sample longer than ``max_length`` follows ``overflow`` (limit ``max_length``).
    Zero-length samples occupy nothing and are not reported in ``seq_lens``.
    ``attention_masks=`` is the fast-axolotl 0.2.0 name of ``attention_mask``.
    """
    attention_mask = renamed(
        "concatenate_and_pack", "attention_mask", attention_mask, "attention_masks", attention_masks
    )
    max_length = required("concatenate_and_pack", "max_length", max_length)
    pad_token_id = required("concatenate_and_pack", "pad_token_id", pad_token_id)
    ids_values, offsets = ragged(input_ids, "input_ids")
    labels_values, label_offsets = ragged(labels, "labels")
    mask_values, mask_offsets = ragged(attention_mask, "attention_mask")
    for name, other in (("labels", label_offsets), ("attention_mask", mask_offsets)):
        if len(other) != len(offsets):
            raise InvalidArgumentError(f"{name} has {len(other) - 1} samples but input_ids has {len(offsets) - 1}")
        if not np.array_equal(other, offsets):
            row = int(np.flatnonzero(np.diff(other) != np.diff(offsets))[0])
            raise InvalidArgumentError(
                f"sample {row}: {name} has {int(other[row + 1] - other[row])} tokens "
                f"but input_ids has {int(offsets[row + 1] - offsets[row])}"
            )
    max_length = check_int("max_length", max_length, minimum=1)
    pad = check_int("pad_token_id", pad_token_id)
    label_pad = check_int("label_pad_id", label_pad_id)
    check_choice("overflow", overflow, _OVERFLOW)
    tensors = check_return_tensors(return_tensors)
    raw = _backend.kernels().concatenate_and_pack(
        ids_values,
        labels_values,
        mask_values,
        offsets,
        max_length,
        pad,
        label_pad,
        overflow,
        bool(return_position_ids),
    )
    return _finish(raw, return_seq_lens, tensors)


def pack_bins(
    lengths: Any,
    bin_capacity: int,
    *,
    bin_size: int | None = None,
    group_size: int = 100_000,
    sequential: bool = False,
    num_threads: int = 0,
    as_arrays: bool = False,
) -> Any:
    """Multipack bins, identical to Axolotl's ``pack_parallel`` (``sequential=False``) or
    ``allocate_sequentially`` for one rank (``sequential=True``).

    First fit in the given order (no sorting): each item goes to the first open bin
    with enough room and fewer than ``bin_size`` items, else opens a new bin; an item
    longer than ``bin_capacity`` gets a bin of its own. Items are packed in
    consecutive groups of ``group_size``; bins never span groups. ``sequential``
    is next fit (a new bin whenever the item does not fit the last) and ignores
    ``bin_size``, as Axolotl does.

    Returns a list of bins (lists of item indices), or with ``as_arrays`` a pair
    ``(indices, bin_offsets)`` of int64 arrays (bin ``k`` is
    ``indices[bin_offsets[k]:bin_offsets[k+1]]``).
    """
    values = int_vector(lengths, "lengths")
    if values.size and values.min() < 0:
        raise InvalidArgumentError(f"lengths must be >= 0 (item {int(np.argmin(values))} is {int(values.min())})")
    capacity = check_int("bin_capacity", bin_capacity, minimum=1)
    size = check_optional_int("bin_size", bin_size, minimum=1)
    group = check_int("group_size", group_size, minimum=1)
    threads = check_int("num_threads", num_threads, minimum=0)
    indices, bin_offsets = _backend.kernels().pack_bins(
        values, capacity, size if size is not None else np.iinfo(np.int64).max, group, bool(sequential), threads
    )
    if as_arrays:
        return indices, bin_offsets
    return _backend.kernels().split_lists(indices, bin_offsets)


def position_ids(lengths: Any, *, return_tensors: ReturnTensors = "np") -> Any:
    """Concatenated ``range(n)`` for each length: the position ids of packed samples."""
    values = int_vector(lengths, "lengths")
    if values.size and values.min() < 0:
        raise InvalidArgumentError("lengths must be >= 0")
    tensors = check_return_tensors(return_tensors)
    total = int(values.sum())
    starts = np.repeat(np.cumsum(values) - values, values)
    out: npt.NDArray[np.int64] = np.arange(total, dtype=np.int64) - starts
    return convert(out, tensors)


def cu_seqlens(lengths: Any, *, return_tensors: ReturnTensors = "np") -> Any:
    """``[0, l0, l0+l1, ...]`` as int32, the ``cu_seqlens`` of varlen (flash) attention."""
    values = int_vector(lengths, "lengths")
    if values.size and values.min() < 0:
        raise InvalidArgumentError("lengths must be >= 0")
    tensors = check_return_tensors(return_tensors)
    total = int(values.sum())
    if total > np.iinfo(np.int32).max:
        raise InvalidArgumentError(f"total length {total} does not fit in int32")
    out = np.zeros(values.size + 1, dtype=np.int32)
    np.cumsum(values, out=out[1:])
    return convert(out, tensors)


def _list_lengths(column: Any, name: str) -> npt.NDArray[np.int64]:
    """Lengths of an Arrow list column, from its offsets (no element is touched)."""
    if isinstance(column, pa.ChunkedArray):
        parts = [_list_lengths(chunk, name) for chunk in column.chunks]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    if not isinstance(column, pa.Array) or not (
        pa.types.is_list(column.type) or pa.types.is_large_list(column.type) or pa.types.is_fixed_size_list(column.type)
    ):
        raise ArgumentTypeError(
            f"{name} must be an Arrow list column, got {getattr(column, 'type', type(column).__name__)}"
        )
    if column.null_count:
        raise InvalidArgumentError(f"{name} has a null row")
    if pa.types.is_fixed_size_list(column.type):
        return np.full(len(column), column.type.list_size, dtype=np.int64)
    offsets: npt.NDArray[np.int64] = column.offsets.to_numpy().astype(np.int64, copy=False)
    return np.diff(offsets)


def lengths_from(data: Any, *, from_arrow: bool = False) -> npt.NDArray[np.int64]:
    """Sequence lengths, as Axolotl's ``get_dataset_lengths`` computes them, read from Arrow.

    ``data`` is a pyarrow list array / chunked array (lengths from its offsets) or a
    Hugging Face ``Dataset``: its ``length`` column when present, else the last
    ``position_ids`` + 1, else the lengths of ``input_ids``. As in Axolotl,
    ``from_arrow=True`` reads ``input_ids`` from the underlying table, ignoring an
    indices mapping; otherwise the dataset's row order (``select``/``shuffle``) applies.
    """
    if isinstance(data, (pa.Array, pa.ChunkedArray)):
        return _list_lengths(data, "data")
    if not (hasattr(data, "column_names") and hasattr(data, "data")):
        raise ArgumentTypeError(f"expected a pyarrow list array or a datasets.Dataset, got {type(data).__name__}")
    table = data.data.table if hasattr(data.data, "table") else data.data
    indices = None
    if getattr(data, "_indices", None) is not None:
        indices = np.asarray(data._indices.column(0).to_numpy(), dtype=np.int64)

    def ordered(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        return values if indices is None else values[indices]

    names = data.column_names
    if "length" in names:
        column = table.column("length")
        if column.null_count or not pa.types.is_integer(column.type):
            raise InvalidArgumentError("the length column must hold non-null integers")
        return ordered(column.to_numpy().astype(np.int64, copy=False))
    if "position_ids" in names:
        column = table.column("position_ids").combine_chunks()
        lengths = _list_lengths(column, "position_ids")
        if (lengths == 0).any():
            raise InvalidArgumentError(f"position_ids row {int(np.argmin(lengths))} is empty")
        values = column.flatten().to_numpy()
        ends = np.cumsum(lengths) - 1
        return ordered(values[ends].astype(np.int64) + 1)
    if "input_ids" not in names:
        raise InvalidArgumentError("the dataset has none of the columns length, position_ids, input_ids")
    lengths = _list_lengths(table.column("input_ids"), "input_ids")
    return lengths if from_arrow else ordered(lengths)
