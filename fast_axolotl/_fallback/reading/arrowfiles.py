"""Parquet and Arrow IPC files and shards."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from ...errors import (
    DataFormatError,
    DatasetReadError,
    SchemaMismatchError,
    UnsupportedFormatError,
)
from .batches import _arrow_error, _same_columns
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


class _ArrowFiles:
    """Parquet / IPC files: the first file's schema; later files must have the same columns."""

    def __init__(self, paths: list[str], fmt: str, compression: str | None) -> None:
        self.paths = paths
        self.fmt = fmt
        self.compression = compression
        self._opened = [self._open(p) for p in paths[:1]]
        self.schema: pa.Schema = self._opened[0][0] if self._opened else pa.schema([])

    def _open(self, path: str) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        if self.fmt == "parquet":
            return self._open_parquet(path)
        return self._open_ipc(path)

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

        def batches() -> Iterator[pa.RecordBatch]:
            rows = 0
            try:
                for i in range(pf.num_row_groups):
                    try:
                        table = pf.read_row_group(i)
                    except (pa.ArrowException, OSError, ValueError) as exc:
                        raise _arrow_error(path, exc, rows) from None
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
            yield from self._nulls_checked(path, batches)

    def _nulls_checked(self, path: str, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """A later shard may declare a column nullable that the first declares non-nullable:
        a null there would break the output schema's promise, so it is a SchemaMismatchError."""
        strict = [i for i, field in enumerate(self.schema) if not field.nullable]
        row = 0
        for batch in batches:
            for i in strict:
                column = batch.column(i)
                if column.null_count:
                    first = next(j for j, valid in enumerate(column.is_valid().to_pylist()) if not valid)
                    if first:
                        yield batch.slice(0, first)  # good rows first
                    position = f"row {row + first}"
                    raise SchemaMismatchError(
                        f"{path}: {position}: a null in column {self.schema.field(i).name!r}, "
                        f"non-nullable in {self.paths[0]}",
                        path,
                        position,
                    )
            row += batch.num_rows
            yield batch
