"""Schema projection and exact batch_size rebatching (the rows before an error delivered first)."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from ...errors import (
    DataFormatError,
    FastAxolotlError,
    InvalidArgumentError,
)

# ---------------------------------------------------------------------------
# Schema handling shared by all formats


def _project(schema: pa.Schema, columns: list[str] | None) -> list[int] | None:
    if columns is None:
        return None
    names = schema.names
    indices = []
    for name in columns:
        count = names.count(name)
        if count == 0:
            raise InvalidArgumentError(f"column {name!r} is not in the data (columns: {', '.join(names)})")
        if count > 1:
            raise InvalidArgumentError(f"column {name!r} is ambiguous: the data has {count} columns of that name")
        indices.append(names.index(name))
    return indices


def _same_columns(a: pa.Schema, b: pa.Schema) -> bool:
    return a.names == b.names and all(x.type.equals(y.type) for x, y in zip(a, b, strict=False))


def _with_rows(arrays: list[pa.Array], schema: pa.Schema, rows: int) -> pa.RecordBatch:
    if not arrays:
        return pa.RecordBatch.from_struct_array(pa.array([{}] * rows, type=pa.struct([])))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _rebatch(batches: Iterator[pa.RecordBatch], batch_size: int) -> Iterator[pa.RecordBatch]:
    """Exactly ``batch_size`` rows per batch (the last may be shorter), any input chunking."""
    pending: list[pa.RecordBatch] = []
    rows = 0
    try:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            pending.append(batch)
            rows += batch.num_rows
            while rows >= batch_size:
                out, pending, rows = _take(pending, batch_size), *_rest(pending, batch_size)
                yield out
    except FastAxolotlError:
        # Good rows first: the rows read before an error are delivered (a partial batch),
        # and the error is raised on the next call.
        if rows:
            yield _take(pending, rows)
        raise
    if rows:
        yield _take(pending, rows)


def _take(pending: list[pa.RecordBatch], n: int) -> pa.RecordBatch:
    parts = []
    need = n
    for batch in pending:
        if need == 0:
            break
        part = batch.slice(0, min(need, batch.num_rows))
        parts.append(part)
        need -= part.num_rows
    if len(parts) == 1:
        return parts[0]
    if parts[0].num_columns == 0:
        return _with_rows([], parts[0].schema, n)
    return pa.concat_batches(parts)


def _rest(pending: list[pa.RecordBatch], n: int) -> tuple[list[pa.RecordBatch], int]:
    rest = []
    skip = n
    for batch in pending:
        if skip >= batch.num_rows:
            skip -= batch.num_rows
            continue
        rest.append(batch.slice(skip) if skip else batch)
        skip = 0
    return rest, sum(b.num_rows for b in rest)


def _arrow_error(path: str, exc: BaseException | str, rows: int = 0) -> DataFormatError:
    """A Parquet/IPC decoding failure; ``rows``: rows of this file read correctly before it
    (the damage lies at or after that row; 0 when the file cannot even be opened)."""
    return DataFormatError(f"{path}: row {rows}: corrupt or truncated file: {exc}", path, f"row {rows}")
