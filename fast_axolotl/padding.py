"""Batch padding and collation (Axolotl ``DataCollatorForSeq2Seq`` and its multipack variants)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

from . import _backend
from ._inputs import Int64Array, check_choice, check_int, check_optional_int, ragged
from ._outputs import ReturnTensors, check_return_tensors, convert, convert_dict
from .errors import ArgumentTypeError, InvalidArgumentError, SequenceTooLongError

PaddingSide = Literal["right", "left"]
Multipack = Literal["batch_sampler", "v2"]
_SIDES = ("right", "left")

__all__ = ["pad_sequences", "collate", "create_padding_mask"]

# What tokenizer.pad fills each key with; labels and position_ids follow Axolotl.
_TOKENIZER_PADDED = {"attention_mask": 0, "token_type_ids": 0, "special_tokens_mask": 1}


def _check_side(padding_side: Any) -> str:
    # The wording of fast-axolotl 0.2.0's message, which callers may match on.
    if not isinstance(padding_side, str) or padding_side not in _SIDES:
        raise InvalidArgumentError(f"padding_side must be 'right' or 'left', got {padding_side!r}")
    return padding_side


def _round_up(length: int, multiple: int | None) -> int:
    if multiple is None:
        return length
    return (length + multiple - 1) // multiple * multiple


# A column of rows: ``(values, offsets)``, or one int64 array per row (padded as is,
# without concatenating them first).
Column = tuple[Int64Array, Int64Array] | list[Int64Array]


def _pad_columns(columns: list[tuple[Column, int, bool]], rows: int, target: int, side: str) -> np.ndarray:
    """``(len(columns), rows, target)``: one allocation for the whole batch."""
    out: np.ndarray = _backend.kernels().pad_block(columns, rows, target, side == "left")
    return out


def _lengths(column: Column) -> Int64Array:
    if isinstance(column, list):
        return np.fromiter((len(row) for row in column), dtype=np.int64, count=len(column))
    return np.diff(column[1])


def _array_rows(rows: list[Any]) -> list[Int64Array] | None:
    """Rows that are all 1-D integer ndarrays, as int64 arrays (copied only when of
    another dtype); None otherwise (they then go through :func:`ragged`)."""
    if all(
        isinstance(row, np.ndarray) and row.ndim == 1 and row.dtype.kind in "iu" and row.dtype != np.uint64
        for row in rows
    ):
        return [np.ascontiguousarray(row, dtype=np.int64) for row in rows]
    return None


def pad_sequences(
    sequences: Any,
    target_length: int | None = None,
    pad_value: int = 0,
    padding_side: PaddingSide = "right",
    pad_to_multiple_of: int | None = None,
    *,
    return_tensors: ReturnTensors = "np",
) -> Any:
    """Pad integer sequences into one ``(n, length)`` int64 array.

    ``length`` is ``target_length`` (default: the longest sequence), rounded up to a
    multiple of ``pad_to_multiple_of`` when given (as ``tokenizer.pad`` does). A
    sequence longer than ``target_length`` raises :class:`SequenceTooLongError`
    (nothing is truncated silently). ``padding_side="left"`` pads before the tokens.
    """
    kernels = _backend.kernels()
    # Lists of lists (the common case) are read straight into the padded output;
    # anything else is flattened first.
    lengths = kernels.list_lengths(sequences) if isinstance(sequences, (list, tuple)) else None
    flat = ragged(sequences) if lengths is None else None
    target = check_optional_int("target_length", target_length, minimum=0)
    pad = check_int("pad_value", pad_value)
    side = _check_side(padding_side)
    multiple = check_optional_int("pad_to_multiple_of", pad_to_multiple_of, minimum=1)
    tensors = check_return_tensors(return_tensors)
    if flat is not None:
        lengths = np.diff(flat[1])
    assert lengths is not None
    longest = int(lengths.max()) if lengths.size else 0
    if target is None:
        target = longest
    elif longest > target:
        row = int(np.argmax(lengths))
        raise SequenceTooLongError(f"sequence {row} has {longest} tokens, more than target_length={target}")
    target = _round_up(target, multiple)
    if flat is None:
        return convert(kernels.pad_lists(sequences, lengths, target, pad, side == "left", "sequences"), tensors)
    return convert(_pad_columns([(flat, pad, False)], len(lengths), target, side)[0], tensors)


def create_padding_mask(current_length: int, target_length: int) -> list[int]:
    """``list(range(target_length - current_length))`` (empty when not longer): the
    position ids Axolotl pads ``position_ids`` with (the 0.2.0 name is kept)."""
    current = check_int("current_length", current_length, minimum=0)
    target = check_int("target_length", target_length, minimum=0)
    return list(range(max(0, target - current)))


def _feature_rows(features: Sequence[Any], key: str) -> list[Any]:
    rows = []
    for index, feature in enumerate(features):
        if key not in feature:
            raise InvalidArgumentError(f"features[{index}] has no {key!r} (features[0] has it)")
        rows.append(feature[key])
    return rows


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (int, np.integer, float, np.floating)) and not isinstance(value, bool)


def _collate_rows(
    columns: dict[str, Column],
    scalars: dict[str, np.ndarray],
    pad_token_id: int,
    label_pad_token_id: int,
    side: str,
    multiple: int | None,
) -> dict[str, np.ndarray]:
    done: dict[str, np.ndarray] = {}
    # Keys padded to the same width share one (keys, rows, width) block.
    groups: dict[int, list[tuple[str, Column, int, bool]]] = {}
    rows = 0
    for key, column in columns.items():
        lengths = _lengths(column)
        rows = len(lengths)
        longest = int(lengths.max()) if lengths.size else 0
        if key == "labels":
            fill = (label_pad_token_id, False)
        elif key == "position_ids":
            fill = (0, True)
        elif key == "input_ids":
            fill = (pad_token_id, False)
        elif key in _TOKENIZER_PADDED:
            fill = (_TOKENIZER_PADDED[key], False)
        else:
            if lengths.size and lengths.min() != longest:
                raise InvalidArgumentError(
                    f"feature {key!r} has rows of different lengths and fast-axolotl does not know its pad value"
                )
            done[key] = np.stack(column) if isinstance(column, list) else column[0].reshape(len(lengths), longest)
            continue
        groups.setdefault(_round_up(longest, multiple), []).append((key, column, *fill))
    for width, members in groups.items():
        block = _pad_columns([(column, value, by_range) for _, column, value, by_range in members], rows, width, side)
        for index, (key, *_) in enumerate(members):
            done[key] = block[index]
    out = {key: done[key] for key in columns}
    out.update(scalars)
    return out


def collate(
    features: Sequence[Any],
    *,
    pad_token_id: int,
    label_pad_token_id: int = -100,
    padding_side: PaddingSide = "right",
    pad_to_multiple_of: int | None = None,
    multipack: Multipack | None = None,
    return_tensors: ReturnTensors = "np",
) -> dict[str, Any]:
    """Collate tokenized features into padded int64 batches, equal to Axolotl's collators.

    ``multipack=None`` is ``DataCollatorForSeq2Seq``: ``features`` is a list of dicts,
    one row each. ``input_ids`` are padded with ``pad_token_id``, ``labels`` with
    ``label_pad_token_id``, ``attention_mask`` with 0, ``position_ids`` with
    ``0, 1, 2...``; each key to its longest row rounded up to ``pad_to_multiple_of``.

    ``multipack="batch_sampler"`` / ``"v2"`` are ``BatchSamplerDataCollatorForSeq2Seq``
    / ``V2BatchSamplerDataCollatorForSeq2Seq``: ``features`` is a list of bins (each a
    list of dicts; a single bin may be passed as a list of dicts); each bin's samples
    are concatenated into one row (``length`` is dropped) and then padded as above.
    With ``"v2"`` the attention mask of the bin's ``i``-th sample is ``i + 1``.
    """
    pad = check_int("pad_token_id", pad_token_id)
    label_pad = check_int("label_pad_token_id", label_pad_token_id)
    side = _check_side(padding_side)
    multiple = check_optional_int("pad_to_multiple_of", pad_to_multiple_of, minimum=1)
    if multipack is not None:
        check_choice("multipack", multipack, ("batch_sampler", "v2"))
    tensors = check_return_tensors(return_tensors)
    if isinstance(features, Mapping) or not isinstance(features, Sequence) or len(features) == 0:
        raise InvalidArgumentError("features must be a non-empty list")

    columns: dict[str, Column] = {}
    scalars: dict[str, np.ndarray] = {}
    if multipack is None:
        if not isinstance(features[0], Mapping):
            raise ArgumentTypeError(f"features must be dicts, got {type(features[0]).__name__}")
        for key in features[0]:
            rows = _feature_rows(features, key)
            if all(_is_scalar(v) for v in rows):
                scalars[key] = np.asarray(rows)
            else:
                arrays = _array_rows(rows)
                columns[key] = arrays if arrays is not None else ragged(rows, key)
    else:
        bins = [features] if isinstance(features[0], Mapping) else list(features)
        columns = _concatenate_bins(bins, multipack)
    out = _collate_rows(columns, scalars, pad, label_pad, side, multiple)
    return convert_dict(out, tensors)


def _concatenate_bins(bins: list[Any], multipack: str) -> dict[str, Column]:
    """Per key, the flat values of every bin's concatenated samples and bin offsets."""
    keys: list[str] = []
    for index, samples in enumerate(bins):
        if not isinstance(samples, Sequence) or not samples or not isinstance(samples[0], Mapping):
            raise ArgumentTypeError(f"features[{index}] must be a non-empty list of dicts (a bin)")
        keys.extend(k for k in samples[0] if k != "length" and k not in keys)
    columns: dict[str, Column] = {}
    for key in keys:
        rows: list[Any] = []
        scale: list[int] = []
        bin_ends = [0]
        for samples in bins:
            if key not in samples[0]:
                raise InvalidArgumentError(f"a bin's first sample has no {key!r} while another bin's has")
            for position, item in enumerate(samples):
                if key in item:
                    rows.append(item[key])
                    scale.append(position + 1)
            bin_ends.append(len(rows))
        values, offsets = ragged(rows, key)
        if key == "attention_mask" and multipack == "v2":
            values = values * np.repeat(np.asarray(scale, dtype=np.int64), np.diff(offsets))
        columns[key] = (values, offsets[np.asarray(bin_ends)])
    return columns
