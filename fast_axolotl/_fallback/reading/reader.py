"""The kernel: open_reader and the Reader iterator over any format."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from ...errors import (
    DataFormatError,
    FastAxolotlError,
    InvalidArgumentError,
    UnsupportedFormatError,
)
from .arrowfiles import _ArrowFiles
from .batches import _project, _rebatch, _with_rows
from .csv import _CsvRecords
from .json import _JsonRecords
from .source import _sniff_compression, _sniff_format, _spool_stream
from .text import _Text

# ---------------------------------------------------------------------------
# The kernel


class Reader:
    """Iterator of RecordBatches; opens lazily, on the first ``next()`` or ``schema()``."""

    def __init__(
        self,
        paths: list[str],
        format: str,
        compression: str | None,
        batch_size: int,
        columns: list[str] | None,
        on_error: str,
        row_groups: tuple[int, int] | None = None,
    ) -> None:
        if row_groups is not None:
            if len(paths) != 1 or format not in ("parquet", "auto"):
                raise InvalidArgumentError("row_groups: one Parquet file only")
            if row_groups[0] > row_groups[1]:
                raise InvalidArgumentError(f"row_groups: start {row_groups[0]} is after stop {row_groups[1]}")
        self.row_groups = row_groups
        self.paths = [os.fspath(p) for p in paths]
        self.format = format
        self.compression = compression
        self.batch_size = batch_size
        self.columns = list(columns) if columns is not None else None
        self.on_error = on_error
        self.skipped = 0
        self._aliases: dict[str, str] = {}  # temporary copy of a named pipe -> its path
        self._schema: pa.Schema | None = None
        self._batches: Iterator[pa.RecordBatch] | None = None
        self._done = False
        # One reader may be drained from several threads (as the native one, behind a mutex):
        # a generator entered twice at once raises ValueError.
        self._lock = threading.Lock()

    def _resolve_auto(self) -> None:
        """format/compression "auto" (inputs the public layer could not peek at, such as named
        pipes): a pipe is read once into a temporary file (never reopened), then each input's
        compression and format are sniffed from its head. Errors name the original path. A
        pipe is spooled whatever the options (its size says nothing about its content)."""
        resolved: list[str] = []
        for path in self.paths:
            if os.path.exists(path) and not os.path.isfile(path) and not os.path.isdir(path):
                copy = _spool_stream(path)
                self._aliases[copy] = path
                path = copy
            resolved.append(path)
        self.paths = resolved
        if self.format != "auto" and self.compression != "auto":
            return
        if self.compression == "auto":
            found = {_sniff_compression(path) for path in resolved}
            if len(found) > 1:
                shown = self._aliases.get(resolved[0], resolved[0])
                raise InvalidArgumentError(f"{shown}: inputs with different compressions in one read")
            self.compression = found.pop() if found else None
        if self.format == "auto":
            formats = {_sniff_format(path, self.compression, self._aliases.get(path, path)) for path in resolved}
            if len(formats) > 1:
                shown = self._aliases.get(resolved[0], resolved[0])
                raise UnsupportedFormatError(f"{shown}: inputs of different formats ({sorted(formats)}) in one read")
            self.format = formats.pop() if formats else "jsonl"

    def _renamed(self, exc: FastAxolotlError) -> FastAxolotlError:
        """``exc`` naming the original path of a spooled pipe instead of its temporary copy."""
        path = getattr(exc, "path", None)
        if path not in self._aliases:
            return exc
        original = self._aliases[path]
        renamed = type(exc)(str(exc).replace(path, original), original, getattr(exc, "position", None))  # type: ignore[call-arg]
        return renamed

    def _open(self) -> None:
        if self._batches is not None:
            return
        self._resolve_auto()
        source: Any
        if self.row_groups is not None and self.format != "parquet":
            raise InvalidArgumentError("row_groups: one Parquet file only")
        if self.format in ("parquet", "arrow", "feather"):
            source = _ArrowFiles(self.paths, self.format, self.compression, self.row_groups)
        elif self.format in ("jsonl", "json"):
            source = _JsonRecords(self)
        elif self.format in ("csv", "tsv"):
            source = _CsvRecords(self)
        else:
            source = _Text(self)
        full: pa.Schema = source.schema.remove_metadata()
        indices = _project(full, self.columns)
        schema = full if indices is None else pa.schema([full.field(i) for i in indices])
        if any("\x00" in name for name in _all_names(schema)):
            # Arrow's C data interface carries names as C strings, so the native reader
            # cannot hand such a schema over; both implementations refuse it the same way.
            raise DataFormatError(f"{self.paths[0]}: a column name holds a NUL character", self.paths[0])
        self._schema = schema

        # The source decodes only the columns asked for (sorted, as the native push_projection);
        # they come back here in the order asked.
        order: list[int] | None = None
        if indices is not None:
            decoded = sorted(set(indices))
            source.project(decoded)
            order = [decoded.index(i) for i in indices]

        def projected() -> Iterator[pa.RecordBatch]:
            for batch in source.batches():
                if batch.num_rows == 0:
                    continue
                arrays = batch.columns if order is None else [batch.column(i) for i in order]
                yield _with_rows(list(arrays), schema, batch.num_rows)

        self._batches = _rebatch(projected(), self.batch_size)

    def schema(self) -> pa.Schema:
        with self._lock:
            if self._schema is None:
                try:
                    self._open()
                except FastAxolotlError as exc:
                    self._done = True
                    raise self._renamed(exc) from None
                except BaseException:
                    self._done = True
                    raise
            assert self._schema is not None
            return self._schema

    def __iter__(self) -> Reader:
        return self

    def __next__(self) -> pa.RecordBatch:
        with self._lock:
            if self._done:
                raise StopIteration
            try:
                self._open()
                assert self._batches is not None
                return next(self._batches)
            except FastAxolotlError as exc:
                self._done = True
                raise self._renamed(exc) from None
            except BaseException:
                self._done = True
                raise


def _all_names(schema: pa.Schema) -> list[str]:
    """Every field name, nested fields included."""
    names: list[str] = []
    stack = list(schema)
    while stack:
        field = stack.pop()
        names.append(field.name)
        kind = field.type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        stack.extend(kind.field(i) for i in range(kind.num_fields))
    return names


def open_reader(
    paths: list[str],
    format: str,
    compression: str | None,
    batch_size: int,
    columns: list[str] | None,
    on_error: str,
    num_threads: int = 0,
    row_groups: tuple[int, int] | None = None,
) -> Reader:
    del num_threads  # the reference decodes on the caller's thread
    return Reader(paths, format, compression, batch_size, columns, on_error, row_groups)
