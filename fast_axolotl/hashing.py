"""SHA-256 row hashing and exact deduplication (Axolotl ``_deduplicate_dataset``)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from . import _backend
from ._inputs import check_int
from .errors import ArgumentTypeError, InvalidArgumentError

__all__ = [
    "parallel_hash_rows",
    "deduplicate_indices",
    "hash_table",
    "deduplicate",
    "digest_set",
    "deduplicate_stream",
    "deduplicate_file",
]


def _check_rows(rows: Any) -> Sequence[str | bytes]:
    if isinstance(rows, (str, bytes)) or not isinstance(rows, Sequence):
        raise ArgumentTypeError(f"rows must be a list of str or bytes, got {type(rows).__name__}")
    for index, row in enumerate(rows):
        if not isinstance(row, (str, bytes)):
            raise ArgumentTypeError(f"rows[{index}] must be str or bytes, got {type(row).__name__}")
    return rows


def parallel_hash_rows(rows: Sequence[str | bytes], num_threads: int = 0) -> list[str]:
    """Lowercase hex SHA-256 of each row (``str`` hashed as UTF-8), in order, hashed in parallel."""
    checked = _check_rows(rows)
    threads = check_int("num_threads", num_threads, minimum=0)
    return _backend.kernels().hash_rows(checked, threads)  # type: ignore[no-any-return]


def deduplicate_indices(
    rows: Sequence[str | bytes],
    existing_hashes: Iterable[str] | None = None,
    num_threads: int = 0,
) -> tuple[list[int], list[str]]:
    """Indices of the first occurrence of each distinct row, skipping rows whose hex
    SHA-256 is in ``existing_hashes`` (a set or list). Returns ``(kept_indices,
    hashes)`` where ``hashes`` are the hex digests of the kept rows only (as 0.2.0)."""
    checked = _check_rows(rows)
    threads = check_int("num_threads", num_threads, minimum=0)
    if existing_hashes is None:
        existing: frozenset[str] = frozenset()
    elif isinstance(existing_hashes, (str, bytes)):
        raise ArgumentTypeError("existing_hashes must be a set or list of hex strings, not a single string")
    else:
        existing = frozenset(existing_hashes)
        for item in existing:
            if not isinstance(item, str):
                raise ArgumentTypeError(f"existing_hashes must hold str, found {type(item).__name__}")
    return _backend.kernels().dedup_rows(checked, existing, threads)  # type: ignore[no-any-return]


def _is_hf_dataset(data: Any) -> bool:
    return type(data).__module__.startswith("datasets.") and hasattr(data, "_indices") and hasattr(data, "data")


def _as_table(data: Any) -> tuple[pa.Table, npt.NDArray[np.int64] | None]:
    """The Arrow table behind ``data`` and, for a Hugging Face Dataset, its indices mapping."""
    if _is_hf_dataset(data):
        table = data.data.table if hasattr(data.data, "table") else data.data
        indices = None
        if data._indices is not None:
            mapping = data._indices.column(0)
            indices = np.asarray(mapping.to_numpy(), dtype=np.int64)
        return table, indices
    if isinstance(data, pa.Table):
        return data, None
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data]), None
    if isinstance(data, pa.RecordBatchReader):
        return data.read_all(), None
    if hasattr(data, "__arrow_c_stream__"):
        return pa.table(data), None
    if isinstance(data, Iterable) and not isinstance(data, (str, bytes, dict)):
        batches = list(data)
        if not batches:
            raise InvalidArgumentError("an empty iterable of record batches has no schema")
        for index, batch in enumerate(batches):
            if not isinstance(batch, pa.RecordBatch):
                raise ArgumentTypeError(f"batch {index} is {type(batch).__name__}, not a pyarrow.RecordBatch")
        try:
            return pa.Table.from_batches(batches), None
        except pa.ArrowInvalid as exc:
            raise InvalidArgumentError(f"record batches disagree on their schema: {exc}") from None
    raise ArgumentTypeError(
        "expected a pyarrow Table, RecordBatch, iterable of RecordBatches or a datasets.Dataset, "
        f"got {type(data).__name__}"
    )


def _select_columns(table: pa.Table, columns: Sequence[str] | None) -> pa.Table:
    if columns is None:
        return table
    if isinstance(columns, str) or not isinstance(columns, Sequence):
        raise ArgumentTypeError("columns must be a list of column names")
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise InvalidArgumentError(f"no column {missing[0]!r}; columns are {table.column_names}")
    return table.select(list(columns))


def hash_table(
    data: Any,
    columns: Sequence[str] | None = None,
    num_threads: int = 0,
    *,
    hex: bool = False,
) -> Any:
    """One SHA-256 digest per row, over the canonical encoding of the row's values.

    ``data``: a pyarrow Table or RecordBatch, an iterable of RecordBatches, or a
    Hugging Face ``Dataset`` (its Arrow table and indices mapping are used; no row
    is converted to Python by the native backend). ``columns`` picks and orders the
    columns hashed (default: all, in table order). Two rows get the same digest
    exactly when Axolotl's ``str(row)`` would be equal (see ``docs/row-encoding.md``).

    Returns a numpy ``(n, 32)`` uint8 array, or a list of hex strings with ``hex=True``.
    """
    table, indices = _as_table(data)
    table = _select_columns(table, columns)
    threads = check_int("num_threads", num_threads, minimum=0)
    digests: npt.NDArray[np.uint8] = _backend.kernels().hash_arrow(table, threads)
    if indices is not None:
        digests = digests[indices]
    if hex:
        return [row.tobytes().hex() for row in digests]
    return digests


def deduplicate(dataset: Any, seen: set[bytes] | None = None, *, num_threads: int = 0) -> tuple[Any, set[bytes]]:
    """Drop-in for Axolotl's ``_deduplicate_dataset``: keep the first occurrence of each
    row (all columns, in order) and every row whose digest is not already in ``seen``.

    Returns ``(dataset.select(kept), seen)`` for a Hugging Face Dataset, or
    ``(table.take(kept), seen)`` for a pyarrow Table; ``kept`` is ascending. ``seen``
    (a set of 32-byte digests) is updated in place, so passing the set returned for the
    train split deduplicates eval against train, as ``deduplicate_and_log_datasets`` does.
    """
    if seen is None:
        seen = set()
    elif not isinstance(seen, set):
        raise ArgumentTypeError(f"seen must be a set of digests, got {type(seen).__name__}")
    elif seen and not isinstance(next(iter(seen)), bytes):
        raise ArgumentTypeError("seen must hold 32-byte digests from fast_axolotl.deduplicate")
    digests = hash_table(dataset, num_threads=num_threads)
    kept = _backend.kernels().select_unique(digests, seen)
    if _is_hf_dataset(dataset):
        return _select(dataset, kept), seen
    table, _ = _as_table(dataset)
    return table.take(pa.array(kept, type=pa.int64())), seen


def _select(dataset: Any, kept: npt.NDArray[np.int64]) -> Any:
    """``dataset.select(kept)`` with the same rows, columns, format and indices mapping as
    Axolotl's ``dataset.select(list)``, but with a fingerprint derived from the input's
    fingerprint and the kept rows. Left to ``datasets``, the fingerprint is the hash of
    the pickled index list, in pure Python: about 95% of the cost of a 100k-row select."""
    seed = f"{dataset._fingerprint}/fast_axolotl.deduplicate/".encode()
    fingerprint = hashlib.sha256(seed + kept.astype("<i8").tobytes()).hexdigest()[:32]
    count = len(kept)
    if count and int(kept[-1]) - int(kept[0]) + 1 != count:
        out = _select_with_mapping(dataset, kept, fingerprint)
        if out is not None:
            return out
    # Contiguous (kept is ascending and distinct) or empty: datasets slices the table.
    return dataset.select(kept.tolist(), new_fingerprint=fingerprint)


def _select_with_mapping(dataset: Any, kept: npt.NDArray[np.int64], fingerprint: str) -> Any:
    """What ``dataset.select(kept, new_fingerprint=fingerprint)`` builds for non-contiguous
    ``kept`` held in memory (``Dataset._select_with_indices_mapping`` under the
    ``transmit_format`` decorator), from the numpy array directly: ``datasets`` first turns
    the indices into a Python list, scans it for its min and max and converts it back to
    Arrow (~0.5 s for 900k rows). None when this ``datasets`` lacks the internals used
    or the dataset has attached indexes (``select`` then runs, and raises, as usual)."""
    try:
        from datasets.arrow_writer import ArrowWriter
    except ImportError:
        return None
    if not hasattr(dataset, "_new_dataset_with_indices") or dataset.list_indexes():
        return None
    # kept is ascending, within 0..len(dataset)-1 by construction (datasets checks min/max).
    indices = pa.array(kept.astype(np.uint64), type=pa.uint64())
    if dataset._indices is not None:
        indices = dataset._indices.column(0).take(indices)
    buffer = pa.BufferOutputStream()
    with ArrowWriter(stream=buffer, fingerprint=fingerprint, unit="indices") as writer:
        writer.write_table(pa.Table.from_arrays([indices], names=["indices"]))
        writer.finalize()
    out = dataset._new_dataset_with_indices(indices_buffer=buffer.getvalue(), fingerprint=fingerprint)
    # transmit_format: the output keeps the input's format (same columns, so no remapping).
    new_format = {
        "type": dataset._format_type,
        "format_kwargs": dataset._format_kwargs,
        "columns": sorted(dataset._format_columns) if dataset._format_columns is not None else None,
        "output_all_columns": dataset._output_all_columns,
    }
    out_format = {
        "type": out._format_type,
        "format_kwargs": out._format_kwargs,
        "columns": sorted(out._format_columns) if out._format_columns is not None else None,
        "output_all_columns": out._output_all_columns,
    }
    if out_format != new_format:
        out.set_format(**new_format)
        out._fingerprint = fingerprint
    return out


def digest_set() -> Any:
    """A new, empty set of 16-byte digest prefixes for :func:`deduplicate_stream`."""
    return _backend.kernels().DigestSet()


def _batches_of(source: Any, batch_size: int) -> Iterator[pa.RecordBatch]:
    if isinstance(source, (str, os.PathLike)) or (
        isinstance(source, (list, tuple)) and source and isinstance(source[0], (str, os.PathLike))
    ):
        from .reading import read_batches

        yield from read_batches(source, batch_size=batch_size)
        return
    if isinstance(source, pa.RecordBatch):
        yield source
        return
    if isinstance(source, pa.Table) or _is_hf_dataset(source):
        table, indices = _as_table(source)
        if indices is not None:
            table = table.take(pa.array(indices))
        yield from table.to_batches(max_chunksize=batch_size)
        return
    if isinstance(source, Iterable):
        for index, batch in enumerate(source):
            if not isinstance(batch, pa.RecordBatch):
                raise ArgumentTypeError(f"batch {index} is {type(batch).__name__}, not a pyarrow.RecordBatch")
            yield batch
        return
    raise ArgumentTypeError(f"cannot stream batches from {type(source).__name__}")


def deduplicate_stream(
    source: Any,
    *,
    seen: Any = None,
    columns: Sequence[str] | None = None,
    batch_size: int = 10_000,
    num_threads: int = 0,
) -> Iterator[pa.RecordBatch]:
    """Exact deduplication of data larger than memory, batch by batch, lazily.

    ``source``: a path (or list of paths) that :func:`read_batches` reads, an iterable
    of RecordBatches, a Table or a Hugging Face Dataset. Yields the kept rows (first
    occurrence wins, order preserved). Rows are keyed by the first 16 bytes of the
    :func:`hash_table` digest over ``columns`` (default: all), kept in ``seen`` (a
    :func:`digest_set`, 16 bytes a distinct row, reusable across calls): the chance of
    any false duplicate among ``n`` rows is below ``n**2 / 2**129``.
    """
    threads = check_int("num_threads", num_threads, minimum=0)
    size = check_int("batch_size", batch_size, minimum=1)
    prefixes = digest_set() if seen is None else seen
    for batch in _batches_of(source, size):
        if batch.num_rows == 0:
            continue
        digests = hash_table(batch, columns=columns, num_threads=threads)
        kept = prefixes.insert_new(digests)
        if len(kept) == batch.num_rows:
            yield batch
        elif len(kept):
            yield batch.take(pa.array(kept, type=pa.int64()))


def deduplicate_file(
    source: Any,
    output: str | os.PathLike[str],
    *,
    seen: Any = None,
    columns: Sequence[str] | None = None,
    batch_size: int = 10_000,
    num_threads: int = 0,
) -> dict[str, int]:
    """Stream ``source`` through :func:`deduplicate_stream` into a Parquet file.

    Returns ``{"rows_in": ..., "rows_out": ..., "duplicates": ...}``.
    """
    import pyarrow.parquet as pq

    counter = {"rows_in": 0}

    def counted() -> Iterator[pa.RecordBatch]:
        for batch in _batches_of(source, batch_size):
            counter["rows_in"] += batch.num_rows
            yield batch

    rows_out = 0
    writer: pq.ParquetWriter | None = None
    try:
        for batch in deduplicate_stream(
            counted(), seen=seen, columns=columns, batch_size=batch_size, num_threads=num_threads
        ):
            if writer is None:
                writer = pq.ParquetWriter(os.fspath(output), batch.schema)
            writer.write_batch(batch)
            rows_out += batch.num_rows
    finally:
        if writer is not None:
            writer.close()
    return {"rows_in": counter["rows_in"], "rows_out": rows_out, "duplicates": counter["rows_in"] - rows_out}
