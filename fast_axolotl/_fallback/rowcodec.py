"""The canonical row encoding hashed by ``hash_table`` (reference implementation).

A row is encoded from the Python values Hugging Face ``datasets`` yields for it
(``Table.to_pylist()``), so two rows encode equally exactly when Axolotl's
``str(row)`` would be equal: column names and order count, ``1`` differs from
``1.0`` and ``True``, every NaN is the same, ``-0.0`` differs from ``0.0``.
The grammar (all integers little-endian, ``u64`` = 8 bytes) is documented in
``docs/row-encoding.md``; the native kernel implements the same bytes.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import pyarrow as pa

from ..errors import UnsupportedTypeError

_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1
_CANONICAL_NAN = struct.pack("<Q", 0x7FF8000000000000)
_WIDTH_CODES = (
    (1, "b", -(2**7), 2**7 - 1),
    (2, "h", -(2**15), 2**15 - 1),
    (4, "i", -(2**31), 2**31 - 1),
    (8, "q", _I64_MIN, _I64_MAX),
)


def _u64(n: int) -> bytes:
    return struct.pack("<Q", n)


def check_hashable_type(field_name: str, data_type: pa.DataType) -> None:
    """Raise UnsupportedTypeError for Arrow types whose Python value is not a plain scalar/list/dict."""
    t = pa.types
    if (
        t.is_null(data_type)
        or t.is_boolean(data_type)
        or t.is_integer(data_type)
        or t.is_floating(data_type)
        or t.is_string(data_type)
        or t.is_large_string(data_type)
        or t.is_binary(data_type)
        or t.is_large_binary(data_type)
        or t.is_fixed_size_binary(data_type)
    ):
        return
    if t.is_list(data_type) or t.is_large_list(data_type) or t.is_fixed_size_list(data_type):
        check_hashable_type(field_name, data_type.value_type)
        return
    if t.is_struct(data_type):
        for i in range(data_type.num_fields):
            check_hashable_type(field_name, data_type.field(i).type)
        return
    if t.is_dictionary(data_type):
        check_hashable_type(field_name, data_type.value_type)
        return
    raise UnsupportedTypeError(f"column {field_name!r}: Arrow type {data_type} is not supported for row hashing")


def _encode_int(out: bytearray, value: int) -> None:
    if value > _I64_MAX:
        out += b"U"
        out += struct.pack("<Q", value)
    else:
        out += b"I"
        out += struct.pack("<q", value)


def encode_value(out: bytearray, value: Any) -> None:
    kind = type(value)
    if value is None:
        out += b"N"
    elif kind is bool:
        out += b"B\x01" if value else b"B\x00"
    elif kind is int:
        _encode_int(out, value)
    elif kind is float:
        out += b"F"
        out += _CANONICAL_NAN if math.isnan(value) else struct.pack("<d", value)
    elif kind is str:
        data = value.encode("utf-8")
        out += b"S"
        out += _u64(len(data))
        out += data
    elif kind is bytes:
        out += b"Y"
        out += _u64(len(value))
        out += value
    elif kind is list:
        _encode_list(out, value)
    elif kind is dict:
        out += b"D"
        out += _u64(len(value))
        for key, item in value.items():
            _encode_key(out, key)
            encode_value(out, item)
    else:  # pragma: no cover - guarded by check_hashable_type
        raise UnsupportedTypeError(f"value of type {kind.__name__} is not supported for row hashing")


def _encode_list(out: bytearray, values: list[Any]) -> None:
    if values and all(type(v) is int and _I64_MIN <= v <= _I64_MAX for v in values):
        low, high = min(values), max(values)
        if low == high and len(values) > 1:
            out += b"K"
            out += _u64(len(values))
            out += struct.pack("<q", low)
            return
        for width, code, lo, hi in _WIDTH_CODES:
            if lo <= low and high <= hi:
                out += b"J"
                out += _u64(len(values))
                out.append(width)
                out += struct.pack(f"<{len(values)}{code}", *values)
                return
    out += b"L"
    out += _u64(len(values))
    for item in values:
        encode_value(out, item)


def _encode_key(out: bytearray, key: str) -> None:
    data = key.encode("utf-8")
    out += _u64(len(data))
    out += data


def encode_row(names: list[str], values: list[Any]) -> bytes:
    out = bytearray(b"R")
    out += _u64(len(names))
    for name, value in zip(names, values, strict=True):
        _encode_key(out, name)
        encode_value(out, value)
    return bytes(out)
