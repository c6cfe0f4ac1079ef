"""Reference kernel: flatten a list of integer lists into ``(values, offsets)``."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import ArgumentTypeError, InvalidArgumentError

_MIN, _MAX = -(2**63), 2**63 - 1


def ragged_from_lists(
    sequences: Sequence[Any], name: str
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None:
    """Every element must be an integer (anything with ``__index__`` except bool) fitting int64.

    ``None`` when a row is not a list or tuple (the caller then takes its general path).
    """
    if not _all_lists(sequences):
        return None
    values: list[int] = []
    offsets = [0]
    for row, seq in enumerate(sequences):
        for value in seq:
            if isinstance(value, (bool, np.bool_)):
                raise ArgumentTypeError(f"{name}[{row}] holds a bool; token ids must be ints")
            try:
                number = operator.index(value)
            except TypeError:
                raise ArgumentTypeError(f"{name}[{row}] holds {type(value).__name__} {value!r}; expected int") from None
            if not _MIN <= number <= _MAX:
                raise InvalidArgumentError(f"{name}[{row}] holds {number}, which does not fit in int64")
            values.append(number)
        offsets.append(len(values))
    return np.array(values, dtype=np.int64), np.array(offsets, dtype=np.int64)


def list_lengths(sequences: Sequence[Any]) -> npt.NDArray[np.int64] | None:
    """The length of every row when each is a list or tuple, else ``None``."""
    if not _all_lists(sequences):
        return None
    return np.array([len(seq) for seq in sequences], dtype=np.int64)


def _all_lists(sequences: Sequence[Any]) -> bool:
    """Whether every row is a list or tuple (what the list fast paths accept)."""
    return all(isinstance(seq, (list, tuple)) for seq in sequences)
