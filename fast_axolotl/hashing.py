"""SHA-256 row hashing and exact deduplication (Axolotl ``_deduplicate_dataset``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from . import _backend
from ._inputs import check_int
from .errors import ArgumentTypeError, InvalidArgumentError

__all__ = ["parallel_hash_rows", "deduplicate_indices", "hash_table", "deduplicate"]


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
        # A list, as Axolotl passes: datasets treats lists and arrays differently (indices mapping).
        return dataset.select(kept.tolist()), seen
    table, _ = _as_table(dataset)
    return table.take(pa.array(kept, type=pa.int64())), seen
