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
#: A Parquet file larger than this on disk is read by several tasks, each a range of its
#: row groups of about this many (uncompressed) bytes.
TASK_BYTES = 256 << 20


def _row_group_ranges(path: str, task_bytes: int) -> list[range | None]:
    """The row-group ranges of one task each (``[None]``: the whole file, one task)."""
    import pyarrow.parquet as pq

    if os.path.getsize(path) <= task_bytes:
        return [None]
    try:
        metadata = pq.ParquetFile(path).metadata
    except (OSError, ValueError, pa.ArrowException):
        return [None]  # the task's own read reports what is wrong with it, as ours
    ranges: list[range | None] = []
    start, size = 0, 0
    for i in range(metadata.num_row_groups):
        size += metadata.row_group(i).total_byte_size
        if size >= task_bytes:
            ranges.append(range(start, i + 1))
            start, size = i + 1, 0
    if start < metadata.num_row_groups:
        ranges.append(range(start, metadata.num_row_groups))
    return ranges if len(ranges) > 1 else [None]


def _format_name(base: str, compression: str | None) -> str:
    return base if compression is None else f"{base}.{compression}"


def _read_file(
    path: str,
    fmt: str,
    columns: list[str] | None,
    batch_size: int,
    schema: pa.Schema,
    row_groups: range | None = None,
) -> Iterable[pa.Table]:
    """The blocks of one file (or of a range of its row groups). Every file must come out in
    the dataset's schema (the first file's): a JSON or CSV file typed from its own first
    records, or a Parquet or Arrow file with other columns, raises SchemaMismatchError."""
    import fast_axolotl as fa

    reader = fa.read_batches(path, format=fmt, columns=columns, batch_size=batch_size, row_groups=row_groups)
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
        task_bytes: int = TASK_BYTES,
    ) -> None:
        super().__init__()
        self.task_bytes = task_bytes
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
            # A large (uncompressed) Parquet file: a task per range of its row groups.
            ranges = _row_group_ranges(path, self.task_bytes) if self.format == "parquet" else [None]
            size = os.path.getsize(path)
            for groups in ranges:
                metadata = BlockMetadata(
                    num_rows=None, size_bytes=size // len(ranges), input_files=[path], exec_stats=None
                )
                # Each task carries its own file only (not the datasource with every path).
                read = functools.partial(
                    _read_file, path, self.format, self.columns, self.block_rows, self.schema, groups
                )
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
    task_bytes: int = TASK_BYTES,
    concurrency: int | None = None,
) -> ray.data.Dataset:
    """Read ``paths`` (files, directories of shards, ``save_to_disk`` folders, globs, or a
    list of them; every format fast-axolotl reads) as a Ray Dataset, a read task per file.

    The dataset's rows are the files' in sorted order, each file's rows in file order: the
    rows ``fast_axolotl.read_table(paths)`` gives. Its schema is the first file's (a JSON
    Lines or CSV file typed otherwise raises :class:`SchemaMismatchError` naming it). A
    Parquet file over ``task_bytes`` is read by several tasks, a range of row groups each.
    A bad file fails the job with fast-axolotl's error naming the file and the position.
    """
    check_int("block_rows", block_rows, minimum=1)
    check_int("task_bytes", task_bytes, minimum=1)
    source = FastAxolotlDatasource(paths, format=format, columns=columns, block_rows=block_rows, task_bytes=task_bytes)
    ds = ray.data.read_datasource(source, concurrency=concurrency)
    # The rows' order is part of what is read (first occurrences, packing batches): Ray Data
    # hands out a streamed dataset's blocks in the order they finish unless told otherwise.
    # The context is this dataset's own copy (and its descendants').
    ds.context.execution_options.preserve_order = True
    return ds
