"""A Hugging Face ``datasets.IterableDataset`` over any file :mod:`fast_axolotl.reading`
reads, fed Arrow tables by our reader (``datasets`` formats rows from them lazily, and
``.with_format("arrow")`` / ``.iter(batch_size=...)`` keep them columnar).

Features come from the reader's Arrow schema. Parquet, Arrow and text inputs of several
files are exposed as that many shards (so ``DataLoader`` workers and
``split_dataset_by_node`` split them by file); JSON and CSV types are inferred over the
whole input, so those are one shard, read in order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from .reading import _open, _resolve

if TYPE_CHECKING:
    import datasets

__all__ = ["iterable_dataset"]

_SHARDABLE = ("parquet", "arrow", "text")


def _tables(
    files: list[str], format: str, batch_size: int, columns: list[str] | None, on_error: str, num_threads: int
) -> Iterator[tuple[str, Any]]:
    import pyarrow as pa

    reader = _open(files, format, batch_size, columns, on_error, num_threads)
    for index, batch in enumerate(reader):
        yield f"{files[0]}:{index}", pa.Table.from_batches([batch])


def iterable_dataset(
    path: Any,
    *,
    format: str = "auto",
    columns: Sequence[str] | None = None,
    batch_size: int = 1000,
    on_error: str = "raise",
    num_threads: int = 0,
) -> datasets.IterableDataset:
    """``datasets.IterableDataset`` of the rows :func:`read_batches` reads from ``path``
    (same arguments), in the same order, with features from the Arrow schema.

    Requires the ``datasets`` package. Checks the arguments and opens the first file now
    (for the schema); the data are read when the dataset is iterated."""
    import datasets
    from datasets.iterable_dataset import ArrowExamplesIterable

    reader = _open(path, format, batch_size, columns, on_error, num_threads)
    features = datasets.Features.from_arrow_schema(reader.schema)
    paths, base, compression = _resolve(path, format)
    # datasets splits the outer list into shards; each shard is a list of files read in order.
    shards = [[f] for f in paths] if base in _SHARDABLE else [list(paths)]
    kwargs = {
        "files": shards,
        "format": f"{base}.{compression}" if compression else base,
        "batch_size": batch_size,
        "columns": tuple(columns) if columns is not None else None,
        "on_error": on_error,
        "num_threads": num_threads,
    }
    ex_iterable = ArrowExamplesIterable(_shard_tables, kwargs)
    return datasets.IterableDataset(ex_iterable, info=datasets.DatasetInfo(features=features))


def _shard_tables(
    files: list[list[str]],
    format: str,
    batch_size: int,
    columns: tuple[str, ...] | None,
    on_error: str,
    num_threads: int,
) -> Iterator[tuple[str, Any]]:
    """The tables of the shards datasets hands us (each a list of files, read in order)."""
    for group in files:
        yield from _tables(group, format, batch_size, list(columns) if columns else None, on_error, num_threads)
