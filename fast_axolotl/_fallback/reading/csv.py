"""CSV / TSV: one grammar (see docs/reading.md), inference and typed columns."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from ...errors import (
    DataFormatError,
    SchemaMismatchError,
)
from .batches import _with_rows
from .common import _I64_MAX, _I64_MIN, INFER_ROWS, _Bad
from .records import _Records
from .source import _lines

# ---------------------------------------------------------------------------
# CSV / TSV (one grammar, see docs/reading.md) and text

_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_BOOLS = {"true": True, "false": False, "True": True, "False": False}


def _is_int(text: str) -> bool:
    return _INT.fullmatch(text) is not None and _I64_MIN <= int(text) <= _I64_MAX


def _is_float(text: str) -> bool:
    return _FLOAT.fullmatch(text) is not None and math.isfinite(float(text))


def _csv_records(path: str, compression: str | None, delimiter: bytes) -> Iterator[tuple[int, list[bytes]]]:
    """(start line, raw fields) of each record; blank lines are skipped.

    States: 0 start of record, 1 start of field, 2 unquoted field, 3 quoted field,
    4 quote inside a quoted field."""
    delim = delimiter[0]
    state = 0
    fields: list[bytes] = []
    field = bytearray()
    start = 0
    for number, line in _lines(path, compression):
        if state == 0 and 34 not in line and 13 not in line:
            if line:
                yield number, line.split(delimiter)
            continue
        for byte in line + b"\n":
            if state == 0:
                if byte == 13 or byte == 10:
                    continue
                start = number
                state = 1
            if state == 1:
                if byte == 34:
                    state = 3
                elif byte == delim:
                    fields.append(b"")
                elif byte == 13 or byte == 10:
                    fields.append(b"")
                    yield start, fields
                    fields, state = [], 0
                else:
                    field.append(byte)
                    state = 2
            elif state == 2:
                if byte == delim:
                    fields.append(bytes(field))
                    field.clear()
                    state = 1
                elif byte == 13 or byte == 10:
                    fields.append(bytes(field))
                    field.clear()
                    yield start, fields
                    fields, state = [], 0
                else:
                    field.append(byte)
            elif state == 3:
                if byte == 34:
                    state = 4
                else:
                    field.append(byte)
            else:  # state 4
                if byte == 34:
                    field.append(34)
                    state = 3
                elif byte == delim:
                    fields.append(bytes(field))
                    field.clear()
                    state = 1
                elif byte == 13 or byte == 10:
                    fields.append(bytes(field))
                    field.clear()
                    yield start, fields
                    fields, state = [], 0
                else:
                    raise DataFormatError(
                        f"{path}: line {number}: unexpected character after a closing quote",
                        path,
                        f"line {number}",
                    )
    if state == 3:
        raise DataFormatError(f"{path}: line {start}: unterminated quoted field", path, f"line {start}")


class _CsvRecords(_Records):
    def records(self) -> Iterator[tuple[str, str, Any]]:
        reader = self.reader
        delimiter = b"\t" if reader.format == "tsv" else b","
        self.header: list[str] | None = None
        for path in reader.paths:
            first = True
            for number, fields in _csv_records(path, reader.compression, delimiter):
                if first:
                    first = False
                    self._set_header(path, number, fields)
                    continue
                yield path, f"line {number}", fields

    def _set_header(self, path: str, number: int, fields: list[bytes]) -> None:
        try:
            names = [f.decode("utf-8") for f in fields]
        except UnicodeDecodeError:
            raise DataFormatError(
                f"{path}: line {number}: invalid UTF-8 in the header", path, f"line {number}"
            ) from None
        if len(set(names)) != len(names):
            raise DataFormatError(
                f"{path}: line {number}: duplicate column names in the header", path, f"line {number}"
            )
        if self.header is None:
            self.header = names
        elif names != self.header:
            raise SchemaMismatchError(
                f"{path}: line {number}: header {names} differs from the first file's {self.header}",
                path,
                f"line {number}",
            )

    def _decode(self, fields: list[bytes]) -> list[str]:
        assert self.header is not None
        if len(fields) != len(self.header):
            raise _Bad(f"expected {len(self.header)} fields, found {len(fields)}")
        try:
            return [f.decode("utf-8") for f in fields]
        except UnicodeDecodeError:
            raise _Bad("invalid UTF-8") from None

    def _infer(self) -> None:
        ints: list[bool] = []
        floats: list[bool] = []
        bools: list[bool] = []
        seen: list[bool] = []
        prefix = self._prefix()
        for path, position, raw in prefix:
            try:
                row = self._decode(raw)
            except _Bad as bad:
                if self._reject(bad, path, position):
                    continue
                break
            if not seen:
                n = len(row)
                ints, floats, bools, seen = [True] * n, [True] * n, [True] * n, [False] * n
            for i, text in enumerate(row):
                if text == "":
                    continue
                seen[i] = True
                if ints[i] and not _is_int(text):
                    ints[i] = False
                if floats[i] and not _is_float(text):
                    floats[i] = False
                if bools[i] and text not in _BOOLS:
                    bools[i] = False
            self._buffer.append(row)
            if len(self._buffer) >= INFER_ROWS:
                break
        names = self.header or []
        kinds = []
        for i in range(len(names)):
            if not seen or not seen[i]:
                kinds.append(pa.string())
            elif ints[i]:
                kinds.append(pa.int64())
            elif floats[i]:
                kinds.append(pa.float64())
            elif bools[i]:
                kinds.append(pa.bool_())
            else:
                kinds.append(pa.string())
        self.schema = pa.schema([pa.field(n, t) for n, t in zip(names, kinds, strict=True)])

    def _convert(self, row: list[str]) -> list[Any]:
        out: list[Any] = []
        for text, field in zip(row, self.schema, strict=True):
            kind = field.type
            if text == "":
                out.append(None)
            elif kind == pa.string():
                out.append(text)
            elif kind == pa.int64():
                if not _is_int(text):
                    raise _Bad(f"column {field.name!r}: {text!r} is not an int64", mismatch=True)
                out.append(int(text))
            elif kind == pa.float64():
                if not _is_float(text):
                    raise _Bad(f"column {field.name!r}: {text!r} is not a float64", mismatch=True)
                out.append(float(text))
            else:
                if text not in _BOOLS:
                    raise _Bad(f"column {field.name!r}: {text!r} is not a bool", mismatch=True)
                out.append(_BOOLS[text])
        return out

    def rows(self) -> Iterator[list[Any]]:
        for row in self._buffered():
            yield self._convert(row)
        for path, position, raw in self._source:
            try:
                row = self._convert(self._decode(raw))
            except _Bad as bad:
                self._fail(bad, path, position)
                continue
            yield row

    def batches(self) -> Iterator[pa.RecordBatch]:
        for chunk in self._chunks(self.rows()):
            yield self._build(chunk)

    def _build(self, rows: list[list[Any]]) -> pa.RecordBatch:
        built = self._built(self.schema)
        arrays = [pa.array([row[i] for row in rows], type=self.schema.field(i).type) for i in built]
        return _with_rows(arrays, pa.schema([self.schema.field(i) for i in built]), len(rows))
