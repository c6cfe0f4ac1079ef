"""Reference kernel: pad columns of ragged rows into one 3-D int64 array."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import InvalidArgumentError, SequenceTooLongError
from .inputs import ragged_from_lists


def pad_rows(
    values: npt.NDArray[np.int64],
    offsets: npt.NDArray[np.int64],
    target_length: int,
    pad_value: int,
    left: bool,
    range_padding: bool,
) -> npt.NDArray[np.int64]:
    """Row ``i`` is ``values[offsets[i]:offsets[i+1]]`` padded to ``target_length``.

    The padding is ``pad_value`` repeated or, with ``range_padding``, ``0, 1, 2...``
    (how Axolotl pads ``position_ids``); ``left`` puts it before the tokens.
    Rows longer than ``target_length`` are the caller's error (checked before).
    """
    rows = len(offsets) - 1
    out = np.empty((rows, target_length), dtype=np.int64)
    tokens = values.tolist()
    for row in range(rows):
        seq = tokens[int(offsets[row]) : int(offsets[row + 1])]
        count = target_length - len(seq)
        padding = list(range(count)) if range_padding else [pad_value] * count
        out[row, :] = padding + seq if left else seq + padding
    return out


def pad_block(columns: list[tuple[Any, int, bool]], rows: int, target_length: int, left: bool) -> npt.NDArray[np.int64]:
    """``(len(columns), rows, target_length)``: column ``k`` is its rows padded as
    :func:`pad_rows` does. A column's rows are ``(values, offsets)`` or a list of
    1-D int64 arrays, one per row."""
    out = np.empty((len(columns), rows, target_length), dtype=np.int64)
    for k, (data, pad_value, range_padding) in enumerate(columns):
        if isinstance(data, list):
            offsets = np.zeros(len(data) + 1, dtype=np.int64)
            np.cumsum([len(row) for row in data], out=offsets[1:])
            values = np.concatenate(data) if data else np.zeros(0, np.int64)
        else:
            values, offsets = data
            if len(offsets) == 0 or offsets[0] < 0 or np.any(np.diff(offsets) < 0) or offsets[-1] > len(values):
                raise InvalidArgumentError("offsets do not describe the values")
        if len(offsets) - 1 != rows:
            raise InvalidArgumentError(f"a column has {len(offsets) - 1} rows, expected {rows}")
        lengths = np.diff(offsets)
        if lengths.size and lengths.max() > target_length:
            row = int(np.argmax(lengths > target_length))
            raise SequenceTooLongError(
                f"sequence {row} has {int(lengths[row])} tokens, more than the target length {target_length}"
            )
        out[k] = pad_rows(values, offsets, target_length, pad_value, left, range_padding)
    return out


def pad_lists(
    sequences: Any, lengths: npt.NDArray[np.int64], target_length: int, pad_value: int, left: bool, name: str
) -> npt.NDArray[np.int64]:
    """Rows of lists/tuples of ints (``lengths`` from ``list_lengths``) padded into one
    ``(rows, target_length)`` array, as ``ragged_from_lists`` then ``pad_rows`` give."""
    bad = np.flatnonzero((lengths < 0) | (lengths > target_length))
    if bad.size:
        i = int(bad[0])
        raise InvalidArgumentError(f"lengths[{i}] is {int(lengths[i])}, outside 0..={target_length}")
    if len(sequences) != len(lengths):
        raise InvalidArgumentError(f"{name} has {len(sequences)} rows, lengths has {len(lengths)}")
    flat = ragged_from_lists(sequences, name)
    if flat is None:
        raise InvalidArgumentError(f"{name} holds a row that is not a list or tuple")
    values, offsets = flat
    changed = np.flatnonzero(np.diff(offsets) != lengths)
    if changed.size:
        raise InvalidArgumentError(f"{name}[{int(changed[0])}] changed size while it was read")
    return pad_rows(values, offsets, target_length, pad_value, left, False)
