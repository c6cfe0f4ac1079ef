"""JSON / JSONL: parsing, type inference and column building (see docs/reading.md)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from ...errors import (
    DataFormatError,
)
from .batches import _with_rows
from .common import _I64_MAX, _I64_MIN, INFER_ROWS, MAX_DEPTH, _Bad
from .records import _Records
from .source import _lines, _read_all

# ---------------------------------------------------------------------------
# JSON / JSONL: parsing and type inference (see docs/reading.md)

NULL, BOOL, INT, FLOAT, STR = ("null",), ("bool",), ("int",), ("float",), ("str",)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_RAW_SURROGATE = re.compile("[\udc80-\udcff]")
_JSON_WS = " \t\n\r"


def _skip_ws(text: str, i: int) -> int:
    n = len(text)
    while i < n and text[i] in _JSON_WS:
        i += 1
    return i


def _reject_constant(name: str) -> Any:
    raise _Bad(f"{name} is not valid JSON")


def _parse_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:  # more digits than int() accepts
        raise _Bad(f"integer {text[:20]}... does not fit in int64") from None
    if not _I64_MIN <= value <= _I64_MAX:
        raise _Bad(f"integer {text} does not fit in int64")
    return value


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Bad(f"number {text} overflows float64")
    return value


def _check_strings(value: Any) -> None:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise _Bad("string holds a lone surrogate escape") from None
    elif isinstance(value, list):
        for item in value:
            _check_strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_strings(key)
            _check_strings(item)


def _too_deep(value: Any) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        children = item.values() if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, (list, dict)):
                stack.append((child, depth + 1))
    return False


def _maybe_too_deep(text: str, value: Any) -> bool:
    return text.count("[") + text.count("{") > MAX_DEPTH and isinstance(value, (list, dict)) and _too_deep(value)


def _decode_value(text: str) -> Any:
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_int=_parse_int, parse_float=_parse_float)
    except json.JSONDecodeError as exc:
        raise _Bad(f"invalid JSON: {exc.msg} (column {exc.colno})") from None
    except RecursionError:
        raise _Bad("JSON nested too deeply") from None
    except ValueError as exc:  # int() digit limit
        raise _Bad(f"invalid JSON number: {exc}") from None
    if _SURROGATE_ESCAPE.search(text):
        _check_strings(value)
    if _maybe_too_deep(text, value):
        raise _Bad(f"nested deeper than {MAX_DEPTH} levels")
    return value


def _type_of(value: Any) -> tuple[Any, ...]:
    if value is None:
        return NULL
    if value is True or value is False:
        return BOOL
    if isinstance(value, int):
        return INT
    if isinstance(value, float):
        return FLOAT
    if isinstance(value, str):
        return STR
    if isinstance(value, list):
        item: tuple[Any, ...] = NULL
        for element in value:
            item = _unify(item, _type_of(element), "[]")
        return ("list", item)
    return ("struct", tuple((key, _type_of(item)) for key, item in value.items()))


def _describe(kind: tuple[Any, ...]) -> str:
    return str(_arrow_type(kind))


def _unify(a: tuple[Any, ...], b: tuple[Any, ...], where: str) -> tuple[Any, ...]:
    if a == b:
        return a
    if a is NULL or a == NULL:
        return b
    if b == NULL:
        return a
    if {a[0], b[0]} == {"int", "float"}:
        return FLOAT
    if a[0] == b[0] == "list":
        return ("list", _unify(a[1], b[1], where + "[]"))
    if a[0] == b[0] == "struct":
        fields = dict(a[1])
        for key, kind in b[1]:
            fields[key] = _unify(fields[key], kind, f"{where}.{key}") if key in fields else kind
        return ("struct", tuple(fields.items()))
    raise _Bad(f"column {where!r}: {_describe(b)} does not mix with {_describe(a)}", mismatch=True)


def _unify_row(schema: dict[str, tuple[Any, ...]], row: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    merged = dict(schema)
    for key, value in row.items():
        kind = _type_of_at(value, key)
        merged[key] = _unify(merged[key], kind, key) if key in merged else kind
    return merged


def _type_of_at(value: Any, where: str) -> tuple[Any, ...]:
    try:
        return _type_of(value)
    except _Bad as exc:
        raise _Bad(f"column {where!r}: {exc}", mismatch=True) from None


def _fits(kind: tuple[Any, ...], value: Any, where: str) -> None:
    if value is None:
        return
    tag = kind[0]
    ok = (
        (tag == "bool" and (value is True or value is False))
        or (tag == "int" and isinstance(value, int) and not isinstance(value, bool))
        or (tag == "float" and isinstance(value, (int, float)) and not isinstance(value, bool))
        or (tag == "str" and isinstance(value, str))
    )
    if tag == "list" and isinstance(value, list):
        for element in value:
            _fits(kind[1], element, where + "[]")
        return
    if tag == "struct" and isinstance(value, dict):
        fields = dict(kind[1])
        for key, item in value.items():
            if key not in fields:
                raise _Bad(f"column {where!r}: key {key!r} is not in the inferred struct", mismatch=True)
            _fits(fields[key], item, f"{where}.{key}")
        return
    if not ok:
        raise _Bad(
            f"column {where!r}: value of JSON type {type(value).__name__} does not fit inferred type {_describe(kind)}",
            mismatch=True,
        )


def _fits_row(schema: dict[str, tuple[Any, ...]], row: dict[str, Any]) -> None:
    for key, value in row.items():
        if key not in schema:
            raise _Bad(f"key {key!r} is not a column of the inferred schema", mismatch=True)
        _fits(schema[key], value, key)


def _arrow_type(kind: tuple[Any, ...]) -> pa.DataType:
    tag = kind[0]
    if tag == "null":
        return pa.null()
    if tag == "bool":
        return pa.bool_()
    if tag == "int":
        return pa.int64()
    if tag == "float":
        return pa.float64()
    if tag == "str":
        return pa.string()
    if tag == "list":
        return pa.list_(_arrow_type(kind[1]))
    return pa.struct([pa.field(key, _arrow_type(item)) for key, item in kind[1]])


def _has_float(kind: tuple[Any, ...]) -> bool:
    if kind[0] == "float":
        return True
    if kind[0] == "list":
        return _has_float(kind[1])
    if kind[0] == "struct":
        return any(_has_float(item) for _, item in kind[1])
    return False


def _normalize(kind: tuple[Any, ...], value: Any) -> Any:
    """Ints in float columns become floats (exactly as float(int))."""
    if value is None:
        return None
    tag = kind[0]
    if tag == "float":
        return float(value)
    if tag == "list":
        return [_normalize(kind[1], v) for v in value]
    if tag == "struct":
        return {key: _normalize(item, value.get(key)) for key, item in kind[1]}
    return value


class _JsonRecords(_Records):
    def records(self) -> Iterator[tuple[str, str, Any]]:
        reader = self.reader
        if reader.format == "jsonl":
            for path in reader.paths:
                for number, line in _lines(path, reader.compression):
                    if not line.strip(b" \t\r"):
                        continue
                    yield path, f"line {number}", line
        else:
            for path in reader.paths:
                yield from self._array(path)

    def _array(self, path: str) -> Iterator[tuple[str, str, Any]]:
        """The elements of a top-level array, one at a time, in the order a streaming
        parser meets them: a syntax error in element N is raised after elements < N were
        processed (the native reader streams the document)."""
        data = _read_all(path, self.reader.compression)
        text = data.decode("utf-8", "surrogateescape")  # invalid bytes: checked per element
        decoder = json.JSONDecoder(
            parse_constant=_fatal_constant,
            parse_int=lambda s: ("int", s),
            parse_float=lambda s: ("float", s),
            object_pairs_hook=_Object.from_pairs,
        )
        deep = text.count("[") + text.count("{") > MAX_DEPTH
        n = len(text)

        def fatal(message: str, position: str | None) -> DataFormatError:
            where = f"{position}: " if position else ""
            return DataFormatError(f"{path}: {where}{message}", path, position)

        i = _skip_ws(text, 0)
        if i >= n or text[i] != "[":
            raise fatal("a .json file must hold a top-level array of objects", None)
        i = _skip_ws(text, i + 1)
        if i < n and text[i] == "]":
            if _skip_ws(text, i + 1) != n:
                raise fatal("extra data after the top-level array", None)
            return
        index = 0
        while True:
            if i >= n:
                raise fatal("unexpected end of input inside the array", None)
            index += 1
            row = f"row {index}"
            try:
                element, end = decoder.raw_decode(text, i)
            except (ValueError, RecursionError) as exc:  # JSONDecodeError, NaN/Infinity
                raise fatal(f"invalid JSON: {exc}", row) from None
            chunk = text[i:end]
            if _RAW_SURROGATE.search(chunk):
                raise fatal("invalid UTF-8", row)
            if _SURROGATE_ESCAPE.search(chunk) and _has_surrogate(element):
                raise fatal("invalid JSON: lone surrogate escape", row)
            if deep and isinstance(element, (list, dict)) and _too_deep(element):
                raise fatal(f"invalid JSON: nested deeper than {MAX_DEPTH} levels", row)
            yield path, row, element
            i = _skip_ws(text, end)
            if i < n and text[i] == ",":
                i = _skip_ws(text, i + 1)
                continue
            if i < n and text[i] == "]":
                if _skip_ws(text, i + 1) != n:
                    raise fatal("extra data after the top-level array", None)
                return
            raise fatal("expected ',' or ']' after an array element", row)

    def _decode(self, raw: Any) -> dict[str, Any]:
        if isinstance(raw, bytes):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise _Bad("invalid UTF-8") from None
            value = _decode_value(text)
        else:
            value = _restore(raw)
        if not isinstance(value, dict):
            raise _Bad(f"expected a JSON object, found {type(value).__name__}")
        return value

    def _infer(self) -> None:
        schema: dict[str, tuple[Any, ...]] = {}
        prefix = self._prefix()
        for path, position, raw in prefix:
            try:
                row = self._decode(raw)
                schema = _unify_row(schema, row)
            except _Bad as bad:
                if self._reject(bad, path, position):
                    continue
                break
            self._buffer.append(row)
            if len(self._buffer) >= INFER_ROWS:
                break
        self.kinds = schema
        self.schema = pa.schema([pa.field(k, _arrow_type(v)) for k, v in schema.items()])
        self._floaty = {k: _has_float(v) for k, v in schema.items()}

    def rows(self) -> Iterator[dict[str, Any]]:
        yield from self._buffered()
        for path, position, raw in self._source:
            try:
                row = self._decode(raw)
                _fits_row(self.kinds, row)
            except _Bad as bad:
                self._fail(bad, path, position)
                continue
            yield row

    def batches(self) -> Iterator[pa.RecordBatch]:
        for chunk in self._chunks(self.rows()):
            yield self._build(chunk)

    def _build(self, rows: list[dict[str, Any]]) -> pa.RecordBatch:
        arrays = []
        built = self._built(self.schema)
        for i in built:
            field = self.schema.field(i)
            kind = self.kinds[field.name]
            values = [row.get(field.name) for row in rows]
            if self._floaty[field.name]:
                values = [_normalize(kind, v) for v in values]
            arrays.append(pa.array(values, type=field.type))
        return _with_rows(arrays, pa.schema([self.schema.field(i) for i in built]), len(rows))


def _fatal_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _restore(value: Any) -> Any:
    """Undo the number hooks of the whole-document parse, checking numbers per element."""
    if isinstance(value, tuple):
        kind, text = value
        return _parse_int(text) if kind == "int" else _parse_float(text)
    if isinstance(value, list):
        return [_restore(v) for v in value]
    if isinstance(value, dict):
        for overwritten in getattr(value, "overwritten", ()):
            _restore(overwritten)  # every value in the text is checked, as json.loads does
        return {k: _restore(v) for k, v in value.items()}
    return value


class _Object(dict[str, Any]):
    """An object of the whole-document parse: the last value of a duplicate key wins (as
    json.loads), and the values it replaced are kept so that their numbers are still checked."""

    overwritten: list[Any]

    @classmethod
    def from_pairs(cls, pairs: list[tuple[str, Any]]) -> _Object:
        result = cls()
        result.overwritten = []
        for key, value in pairs:
            if key in result:
                result.overwritten.append(result[key])
            result[key] = value
        return result


def _has_surrogate(value: Any) -> bool:
    try:
        _check_strings(value)
    except _Bad:
        return True
    return False
