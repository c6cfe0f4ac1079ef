"""Our reader as a Ray Data datasource: one read task per file, files in sorted order."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa
import ray.data
from ray.data.block import BlockMetadata
from ray.data.datasource import Datasource, ReadTask

from .. import reading
from .._inputs import check_int
from ..errors import InvalidArgumentError, SchemaMismatchError

#: Rows per block a read task yields (Ray Data splits larger blocks further by bytes).
BLOCK_ROWS = 65_536


def _format_name(base: str, compression: str | None) -> str:
    return base if compression is None else f"{base}.{compression}"


def _read_file(
    path: str, fmt: str, columns: list[str] | None, batch_size: int, schema: pa.Schema
) -> Iterable[pa.Table]:
    """The blocks of one file. Every file must come out in the dataset's schema (the first
    file's): Parquet and Arrow files are checked so by the reader itself over several
    files; a JSON or CSV file typed from its own first records is compared here."""
    import fast_axolotl as fa

    reader = fa.read_batches(path, format=fmt, columns=columns, batch_size=batch_size)
    for batch in reader:
        if not batch.schema.equals(schema):
            raise SchemaMismatchError(
                f"{path}: its columns ({batch.schema}) differ from the dataset's ({schema}), which its first file gave",
                path,
                None,
            )
        yield pa.Table.from_batches([batch])


class FastAxolotlDatasource(Datasource):  # type: ignore[misc]  # (Ray ships no type information)
    """Files read by fast-axolotl's reader, a read task per file. The dataset's schema is the
    one the reader gives the first file (read here, on the driver, for its schema only)."""

    def __init__(
        self,
        paths: Any,
        *,
        format: str = "auto",
        columns: Sequence[str] | None = None,
        block_rows: int = BLOCK_ROWS,
    ) -> None:
        super().__init__()
        files, base, compression = reading._resolve(paths, format)
        if any(reading._is_stream(f) for f in files):
            raise InvalidArgumentError("a pipe cannot be read by several tasks: write it to a file first")
        # Absolute: a task may run on another node, in another working directory.
        self.files = [os.path.abspath(f) for f in files]
        self.format = _format_name(base, compression)
        self.columns = list(columns) if columns is not None else None
        self.block_rows = block_rows
        import fast_axolotl as fa

        # Only the first file decides the types (as one reader over all files would).
        self.schema = fa.read_batches(files[:1], format=self.format, columns=self.columns, batch_size=1).schema

    def estimate_inmemory_data_size(self) -> int | None:
        return sum(os.path.getsize(f) for f in self.files)

    def get_read_tasks(
        self, parallelism: int, per_task_row_limit: int | None = None, data_context: Any = None
    ) -> list[ReadTask]:
        tasks = []
        for path in self.files:
            metadata = BlockMetadata(
                num_rows=None, size_bytes=os.path.getsize(path), input_files=[path], exec_stats=None
            )

            # Each task carries its own file only (not the datasource with every path).
            read = functools.partial(_read_file, path, self.format, self.columns, self.block_rows, self.schema)
            tasks.append(ReadTask(read, metadata, schema=self.schema, per_task_row_limit=per_task_row_limit))
        return tasks

    def get_name(self) -> str:
        return "FastAxolotlRead"


def read(
    paths: Any,
    *,
    columns: Sequence[str] | None = None,
    format: str = "auto",
    block_rows: int = BLOCK_ROWS,
    concurrency: int | None = None,
) -> ray.data.Dataset:
    """Read ``paths`` (files, directories of shards, ``save_to_disk`` folders, globs, or a
    list of them; every format fast-axolotl reads) as a Ray Dataset, a read task per file.

    The dataset's rows are the files' in sorted order, each file's rows in file order: the
    rows ``fast_axolotl.read_table(paths)`` gives. Its schema is the first file's (a JSON
    Lines or CSV file typed otherwise raises :class:`SchemaMismatchError` naming it).
    A bad file fails the job with fast-axolotl's error naming the file and the position.
    """
    check_int("block_rows", block_rows, minimum=1)
    source = FastAxolotlDatasource(paths, format=format, columns=columns, block_rows=block_rows)
    return ray.data.read_datasource(source, concurrency=concurrency)
