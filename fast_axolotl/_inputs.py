"""Argument validation and input normalization shared by both implementations.

Every public function validates here, once, before dispatching to a kernel, so
both backends see identical, well-formed inputs and raise identical errors.
Ragged integer sequences travel as ``(values, offsets)``: two int64 arrays, the
layout of an Arrow list array, which numpy/Arrow inputs reach without a Python loop.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from .errors import ArgumentTypeError, InvalidArgumentError

Int64Array = npt.NDArray[np.int64]
_I64 = np.iinfo(np.int64)


def check_int(name: str, value: Any, *, minimum: int | None = None) -> int:
    """An exact integer (bool rejected) that fits int64, optionally bounded below."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArgumentTypeError(f"{name} must be an int, got {type(value).__name__}")
    number = int(value)
    if not _I64.min <= number <= _I64.max:
        raise InvalidArgumentError(f"{name}={number} does not fit in int64")
    if minimum is not None and number < minimum:
        raise InvalidArgumentError(f"{name} must be >= {minimum}, got {number}")
    return number


def check_optional_int(name: str, value: Any, *, minimum: int | None = None) -> int | None:
    """Like :func:`check_int`, but ``None`` passes through."""
    return None if value is None else check_int(name, value, minimum=minimum)


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise InvalidArgumentError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def _int_values(array: np.ndarray, name: str) -> Int64Array:
    """Validate an integer ndarray and view/convert it to contiguous int64."""
    if array.dtype.kind not in "iu":
        if array.size == 0:
            return np.zeros(0, dtype=np.int64)
        raise ArgumentTypeError(f"{name} must hold integers, got dtype {array.dtype}")
    if array.dtype.kind == "u" and array.dtype.itemsize == 8 and array.size and array.max() > _I64.max:
        raise InvalidArgumentError(f"{name} holds a value larger than int64 allows")
    return np.ascontiguousarray(array, dtype=np.int64).reshape(-1)


def _from_arrow(array: pa.Array, name: str) -> tuple[Int64Array, Int64Array]:
    kind = array.type
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)):
        raise ArgumentTypeError(f"{name} must be a list array of integers, got Arrow type {kind}")
    if array.null_count:
        raise InvalidArgumentError(f"{name} has a null sequence (row {array.is_null().to_pylist().index(True)})")
    flat = array.flatten()
    if not pa.types.is_integer(flat.type):
        raise ArgumentTypeError(f"{name} must hold integers, got Arrow type {kind}")
    if flat.null_count:
        raise InvalidArgumentError(f"{name} has a null token")
    values = _int_values(flat.to_numpy(zero_copy_only=False), name)
    if pa.types.is_fixed_size_list(kind):
        offsets = np.arange(0, len(array) * kind.list_size + 1, kind.list_size, dtype=np.int64)
    else:
        raw = array.offsets.to_numpy()
        offsets = np.ascontiguousarray(raw - raw[0], dtype=np.int64) if len(raw) else np.zeros(1, np.int64)
    return values, offsets


def ragged(sequences: Any, name: str = "sequences") -> tuple[Int64Array, Int64Array]:
    """``(values, offsets)`` of a batch of integer sequences.

    Accepts a list/tuple of lists, tuples or 1-D arrays; a 2-D integer ndarray;
    a pyarrow (Large/FixedSize)ListArray or ChunkedArray of one. Array inputs are
    not copied element by element.
    """
    if isinstance(sequences, pa.ChunkedArray):
        sequences = sequences.combine_chunks() if sequences.num_chunks != 1 else sequences.chunk(0)
    if isinstance(sequences, pa.Array):
        return _from_arrow(sequences, name)
    if isinstance(sequences, np.ndarray) and sequences.dtype != object:
        if sequences.ndim != 2:
            raise ArgumentTypeError(f"{name} must be 2-D when given as an ndarray, got {sequences.ndim}-D")
        rows, width = sequences.shape
        values = _int_values(sequences, name)
        return values, np.arange(rows + 1, dtype=np.int64) * width
    if isinstance(sequences, (str, bytes)) or not isinstance(sequences, (Sequence, np.ndarray)):
        raise ArgumentTypeError(f"{name} must be a sequence of integer sequences, got {type(sequences).__name__}")
    from . import _backend

    flattened = _backend.kernels().ragged_from_lists(sequences, name)
    if flattened is not None:  # every row was a list or tuple
        return flattened  # type: ignore[no-any-return]
    if all(
        isinstance(seq, np.ndarray) and seq.ndim == 1 and seq.dtype.kind in "iu" and seq.dtype != np.uint64
        for seq in sequences
    ):
        # One C-level concatenate instead of a Python step per row (every dtype fits int64).
        offsets = np.zeros(len(sequences) + 1, dtype=np.int64)
        np.cumsum([seq.shape[0] for seq in sequences], out=offsets[1:])
        flat = np.concatenate(sequences, dtype=np.int64) if len(sequences) else np.zeros(0, np.int64)
        return flat, offsets
    parts: list[Int64Array] = []
    for index, seq in enumerate(sequences):
        if isinstance(seq, (pa.Array, pa.ChunkedArray)):
            if seq.null_count or not pa.types.is_integer(seq.type):
                raise ArgumentTypeError(f"{name}[{index}] must be an Arrow array of non-null integers, got {seq.type}")
            part = _int_values(seq.to_numpy(), f"{name}[{index}]")
        elif isinstance(seq, np.ndarray) and seq.ndim == 1:
            part = _int_values(seq, f"{name}[{index}]")
        elif isinstance(seq, (list, tuple)):
            part = _backend_lists([seq], f"{name}[{index}]")
        else:
            raise ArgumentTypeError(
                f"{name}[{index}] must be a list, tuple or 1-D array of ints, got {type(seq).__name__}"
            )
        parts.append(part)
    offsets = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum([len(p) for p in parts], out=offsets[1:])
    values = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    return np.ascontiguousarray(values, dtype=np.int64), offsets


def _backend_lists(sequences: Sequence[Any], name: str) -> Int64Array:
    from . import _backend

    values, _ = _backend.kernels().ragged_from_lists(sequences, name)
    return values  # type: ignore[no-any-return]


def lengths_of(offsets: Int64Array) -> Int64Array:
    return np.diff(offsets)


def int_vector(values: Any, name: str) -> Int64Array:
    """A 1-D integer vector (lengths) from a list, ndarray or Arrow array."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        if values.null_count:
            raise InvalidArgumentError(f"{name} has a null")
        values = values.to_numpy() if isinstance(values, pa.Array) else values.to_numpy()
    if isinstance(values, (str, bytes)):
        raise ArgumentTypeError(f"{name} must be a sequence of ints, got {type(values).__name__}")
    try:
        array = np.asarray(values)
    except (ValueError, TypeError) as exc:
        raise ArgumentTypeError(f"{name} must be a sequence of ints ({exc})") from None
    if array.ndim != 1:
        if array.size == 0:
            return np.zeros(0, np.int64)
        raise ArgumentTypeError(f"{name} must be 1-D, got shape {array.shape}")
    if array.dtype == object or array.dtype.kind == "b":
        raise ArgumentTypeError(f"{name} must hold ints")
    return _int_values(array, name)
