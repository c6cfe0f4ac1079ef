"""Parquet and Arrow IPC files and shards."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from ...errors import (
    DataFormatError,
    DatasetReadError,
    InvalidArgumentError,
    SchemaMismatchError,
    UnsupportedFormatError,
)
from .batches import _arrow_error, _same_columns
from .common import _CHUNK
from .ipcguard import _GuardedStream, _ipc_block_refused, _ipc_file_blocks
from .source import _Decoded, _open_file

# ---------------------------------------------------------------------------
# Parquet and Arrow IPC


def _spool(path: str, compression: str) -> str:
    """Decompress into a temporary file (Parquet needs random access); caller deletes it."""
    source = _Decoded(path, compression)
    fd, tmp = tempfile.mkstemp(prefix="fast-axolotl-", suffix=".spool")
    try:
        with os.fdopen(fd, "wb") as out:
            while True:
                chunk = source.read()
                if not chunk:
                    break
                out.write(chunk)
    except BaseException:
        os.unlink(tmp)
        raise
    finally:
        source.close()
    return tmp


#: Nested list/struct levels a column's type may have: the record counts as level 1 of the 63
#: pyarrow's C data import accepts ("Recursion level in ArrowSchema struct exceeded").
MAX_TYPE_NESTING = 62
# Parquet schema nodes from a top-level column to its leaf (a list level takes two): pyarrow's
# Parquet reader refuses deeper schemas ("Parquet schema too deeply nested").
MAX_PARQUET_SCHEMA_DEPTH = 100
_NS_LIMIT_US = (2**63 - 1) // 1000  # the largest |microseconds| a timestamp[ns] holds


def _nesting(kind: pa.DataType) -> int:
    """Nested levels of a type as the C data interface counts them (a map: its entries
    struct inside a list, two levels)."""
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if kind.num_fields == 0:
        return 0
    below = max(_nesting(kind.field(i).type) for i in range(kind.num_fields))
    return below + (2 if pa.types.is_map(kind) else 1)


def _leaves(kind: pa.DataType) -> int:
    """Parquet leaf columns below an Arrow type (they are its leaves, depth first)."""
    if kind.num_fields == 0:
        return 1
    return sum(_leaves(kind.field(i).type) for i in range(kind.num_fields))


def _leaf_columns(schema: pa.Schema, fields: list[int]) -> list[int]:
    """The Parquet leaf columns of these top-level fields (sorted indices)."""
    starts = [0]
    for field in schema:
        starts.append(starts[-1] + _leaves(field.type))
    return [leaf for i in fields for leaf in range(starts[i], starts[i + 1])]


def _outside(micros: pa.Array, target: pa.DataType) -> np.ndarray | None:
    """Per element of ``micros`` (INT96 leaves read as microseconds), whether a value below it
    does not fit ``target`` (those leaves as nanoseconds); None when the types agree."""
    if micros.type.equals(target):
        return None
    valid = np.asarray(micros.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    if pa.types.is_timestamp(micros.type):
        values = np.asarray(micros.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
        return valid & ((values < -_NS_LIMIT_US) | (values > _NS_LIMIT_US))
    if pa.types.is_struct(micros.type):
        rows = None
        for i in range(micros.type.num_fields):
            below = _outside(micros.field(i), target.field(i).type)
            if below is not None:
                rows = below if rows is None else rows | below
        return None if rows is None else rows & valid
    if pa.types.is_list(micros.type) or pa.types.is_large_list(micros.type) or pa.types.is_map(micros.type):
        below = _outside(micros.values, target.field(0).type)
        if below is None:
            return None
        # Items marked before each offset: a row holds one when its span's count grows.
        marked = np.concatenate([[0], np.cumsum(below)])
        offsets = np.asarray(micros.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
        return valid & (marked[offsets[1:]] > marked[offsets[:-1]])
    if pa.types.is_fixed_size_list(micros.type):
        below = _outside(micros.values, target.field(0).type)
        if below is None:
            return None
        size = micros.type.list_size
        start = micros.offset * size
        spans = below[start : start + len(micros) * size].reshape(len(micros), size)
        return valid & spans.any(axis=1)
    return None


def _int96_overflow(handle: Any, group: int, leaves: list[int], table: pa.Table) -> tuple[int, str] | None:
    """(first row, column) of an INT96 value, at any depth, outside timestamp[ns]'s range in
    a row group (``table``, read as pyarrow reads it): read again with INT96 as microseconds
    (which cannot overflow) and compared with the range."""
    wide = pq.ParquetFile(handle, coerce_int96_timestamp_unit="us").reader.read_row_group(group, column_indices=leaves)
    found: tuple[int, str] | None = None
    for name, target in zip(table.column_names, table.schema.types, strict=True):
        outside = _outside(wide.column(name).combine_chunks(), target)
        if outside is None or not outside.any():
            continue
        index = int(np.argmax(outside))
        if found is None or index < found[0]:
            found = (index, name)
    return found


class _ArrowFiles:
    """Parquet / IPC files: the first file's schema; later files must have the same columns."""

    def __init__(
        self, paths: list[str], fmt: str, compression: str | None, row_groups: tuple[int, int] | None = None
    ) -> None:
        self.paths = paths
        #: Parquet, one file: only row groups ``start..stop`` (error rows still of the whole file).
        self.row_groups = row_groups
        self.fmt = fmt
        self.compression = compression
        #: The fields read and delivered (sorted indices of ``schema``); None: all.
        self.projection: list[int] | None = None
        self._opened = [self._open(p) for p in paths[:1]]
        self.schema: pa.Schema = self._opened[0][0] if self._opened else pa.schema([])

    def project(self, sorted_fields: list[int]) -> None:
        """Read only these fields (as the native reader: columns not asked for are not
        decoded, so their values are neither checked nor refused)."""
        self.projection = sorted_fields

    def _open(self, path: str) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        schema, batches = self._open_parquet(path) if self.fmt == "parquet" else self._open_ipc(path)
        for field in schema:
            if _nesting(field.type) > MAX_TYPE_NESTING:
                raise DataFormatError(
                    f"{path}: column {field.name!r} is nested deeper than {MAX_TYPE_NESTING} levels "
                    "(the most Arrow's C data interface carries)",
                    path,
                    None,
                )
        return schema, batches

    def _open_parquet(self, path: str) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        # An Arrow file rather than a Python file object: pyarrow reading Parquet through a
        # Python file can hang or abort at interpreter exit (apache/arrow#50482, #34314).
        handle: Any
        if self.compression is not None:
            tmp = _spool(path, self.compression)
            handle = pa.OSFile(tmp)
            os.unlink(tmp)
        else:
            _open_file(path).close()  # the typed errors of a missing or unreadable file
            try:
                handle = pa.OSFile(path)
            except OSError as exc:
                raise DatasetReadError(f"{path}: {exc}", path) from None
        try:
            pf = pq.ParquetFile(handle)
            schema = pf.schema_arrow
        except (pa.ArrowException, OSError, ValueError) as exc:
            handle.close()
            raise _arrow_error(path, exc) from None
        # pyarrow 26 refuses a schema more than 100 nodes deep when reading; older ones do not
        # check at open. The limit is ours, whatever the pyarrow version (the native reader's).
        for i in range(len(pf.schema)):
            parts = pf.schema.column(i).path.split(".")
            if len(parts) > MAX_PARQUET_SCHEMA_DEPTH:
                handle.close()
                raise DataFormatError(
                    f"{path}: column '{parts[0]}' is nested {len(parts)} Parquet schema levels deep; "
                    f"at most {MAX_PARQUET_SCHEMA_DEPTH} are supported (as pyarrow)",
                    path,
                    None,
                )

        # pyarrow reads INT96 as timestamp[ns] and wraps values outside its range silently.
        has_int96 = any(pf.schema.column(i).physical_type == "INT96" for i in range(len(pf.schema)))

        groups = range(pf.num_row_groups)
        if self.row_groups is not None:
            start, stop = self.row_groups
            if stop > pf.num_row_groups:
                handle.close()
                raise InvalidArgumentError(
                    f"{path}: row_groups {start}..{stop}: the file has {pf.num_row_groups} row group(s)"
                )
            groups = range(start, stop)
        first_row = sum(pf.metadata.row_group(i).num_rows for i in range(groups.start))

        def batches() -> Iterator[pa.RecordBatch]:
            fields = self.projection if self.projection is not None else list(range(len(schema)))
            leaves = _leaf_columns(schema, fields)
            rows = first_row
            try:
                for i in groups:
                    try:
                        table = pf.reader.read_row_group(i, column_indices=leaves)
                        overflow = _int96_overflow(handle, i, leaves, table) if has_int96 else None
                    except (pa.ArrowException, OSError, ValueError) as exc:
                        raise _arrow_error(path, exc, rows) from None
                    if overflow is not None:
                        first, name = overflow
                        yield from table.slice(0, first).to_batches()  # good rows first
                        position = f"row {rows + first}"
                        raise DataFormatError(
                            f"{path}: {position}: INT96 timestamp in column {name!r} is outside the "
                            "nanosecond range (1677-09-21 to 2262-04-11)",
                            path,
                            position,
                        )
                    rows += table.num_rows
                    yield from table.to_batches()
            finally:
                handle.close()

        return schema, batches()

    def _open_ipc(self, path: str) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        source = _Decoded(path, self.compression)
        head = b""
        while len(head) < 8:
            more = source.read(8 - len(head))
            if not more:
                break
            head += more
        if head.startswith(b"FEA1"):
            source.close()
            raise UnsupportedFormatError(
                f"{path}: Feather v1 files are not supported (rewrite as Feather v2 / Arrow IPC)"
            )
        is_file = head.startswith(b"ARROW1")
        try:
            if is_file and self.compression is None:
                source.close()
                handle = _open_file(path)
                try:
                    reader = ipc.open_file(handle)
                    blocks = _ipc_file_blocks(handle)
                    for block in blocks[0] if blocks else []:
                        refused = _ipc_block_refused(handle, block)
                        if refused is not None:
                            raise _arrow_error(path, refused)
                except BaseException:
                    handle.close()
                    raise
                schema = reader.schema

                def file_batches() -> Iterator[pa.RecordBatch]:
                    rows = 0
                    try:
                        for i in range(reader.num_record_batches):
                            refused = (
                                _ipc_block_refused(handle, blocks[1][i]) if blocks and i < len(blocks[1]) else None
                            )
                            if refused is not None:
                                raise _arrow_error(path, refused, rows)
                            try:
                                batch = reader.get_batch(i)
                            except (pa.ArrowException, OSError, ValueError) as exc:
                                raise _arrow_error(path, exc, rows) from None
                            rows += batch.num_rows
                            yield batch
                    finally:
                        handle.close()

                return schema, file_batches()
            if not is_file:
                source.close()
                source = _Decoded(path, self.compression)
            stream = _GuardedStream(source)
            try:
                sreader = ipc.open_stream(stream)
            except (pa.ArrowException, OSError, ValueError):
                if stream.refused is not None:
                    raise _arrow_error(path, stream.refused) from None
                raise
            schema = sreader.schema
        except DataFormatError:
            source.close()
            raise
        except (pa.ArrowException, OSError, ValueError) as exc:
            source.close()
            raise _arrow_error(path, exc) from None

        def stream_batches() -> Iterator[pa.RecordBatch]:
            rows = 0
            try:
                while True:
                    try:
                        batch = sreader.read_next_batch()
                    except StopIteration:
                        if is_file and self.compression is not None:
                            # The rest (the IPC file's footer) must decompress too: a cut or
                            # damaged gzip/zstd file is an error wherever the damage is, as the
                            # native reader finds when it spools the whole file. (An IPC stream
                            # ends at its end-of-stream marker in both readers.)
                            while source.read(_CHUNK):
                                pass
                        return
                    except DataFormatError:
                        raise
                    except (pa.ArrowException, OSError, ValueError) as exc:
                        if stream.error is not None:
                            raise stream.error from None
                        if stream.refused is not None:
                            raise _arrow_error(path, stream.refused, rows) from None
                        raise _arrow_error(path, exc, rows) from None
                    rows += batch.num_rows
                    yield batch
            finally:
                source.close()

        return schema, stream_batches()

    def batches(self) -> Iterator[pa.RecordBatch]:
        fields = self.projection
        delivered = self.schema if fields is None else pa.schema([self.schema.field(i) for i in fields])
        for index, path in enumerate(self.paths):
            if index == 0:
                schema, batches = self._opened[0]
            else:
                schema, batches = self._open(path)
                if not _same_columns(schema, self.schema):
                    raise SchemaMismatchError(
                        f"{path}: its columns ({schema}) differ from those of {self.paths[0]} ({self.schema})",
                        path,
                        None,
                    )
            if fields is not None and self.fmt != "parquet":  # (Parquet reads only those)
                batches = (batch.select(fields) for batch in batches)
            yield from self._nulls_checked(path, batches, delivered)

    def _nulls_checked(
        self, path: str, batches: Iterator[pa.RecordBatch], schema: pa.Schema
    ) -> Iterator[pa.RecordBatch]:
        """A later shard may declare a column nullable that the first declares non-nullable:
        a null there would break the output schema's promise, so it is a SchemaMismatchError
        (in the columns delivered: ``schema``)."""
        strict = [i for i, field in enumerate(schema) if not field.nullable]
        row = 0
        for batch in batches:
            # The earliest null over all non-nullable columns (pc.index: -1 when none).
            nulls = [
                (pc.index(batch.column(i).is_null(), True).as_py(), i) for i in strict if batch.column(i).null_count
            ]
            if nulls:
                first, i = min(nulls)
                if first:
                    yield batch.slice(0, first)  # good rows first
                position = f"row {row + first}"
                raise SchemaMismatchError(
                    f"{path}: {position}: a null in column {schema.field(i).name!r}, non-nullable in {self.paths[0]}",
                    path,
                    position,
                )
            row += batch.num_rows
            yield batch
