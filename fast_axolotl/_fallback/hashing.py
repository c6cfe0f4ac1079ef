"""Reference kernels: SHA-256 of rows, digest-based deduplication."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from .rowcodec import check_hashable_type, encode_row


def _as_bytes(row: str | bytes) -> bytes:
    return row.encode("utf-8") if isinstance(row, str) else bytes(row)


def hash_rows(rows: Sequence[str | bytes], num_threads: int) -> list[str]:
    return [hashlib.sha256(_as_bytes(row)).hexdigest() for row in rows]


def dedup_rows(rows: Sequence[str | bytes], existing: Iterable[str], num_threads: int) -> tuple[list[int], list[str]]:
    seen = set(existing)
    kept: list[int] = []
    hashes: list[str] = []
    for index, row in enumerate(rows):
        digest = hashlib.sha256(_as_bytes(row)).hexdigest()
        if digest not in seen:
            seen.add(digest)
            kept.append(index)
            hashes.append(digest)
    return kept, hashes


def hash_arrow(table: Any, num_threads: int) -> npt.NDArray[np.uint8]:
    """One SHA-256 digest per row of a pyarrow Table (or anything with ``__arrow_c_stream__``)."""
    if not isinstance(table, pa.Table):
        table = pa.table(table)
    for field in table.schema:
        check_hashable_type(field.name, field.type)
    names = table.column_names
    out = np.empty((table.num_rows, 32), dtype=np.uint8)
    row = 0
    for batch in table.to_batches():
        columns = [column.to_pylist() for column in batch.columns]
        for values in zip(*columns, strict=True) if columns else [()] * batch.num_rows:
            digest = hashlib.sha256(encode_row(names, list(values))).digest()
            out[row] = np.frombuffer(digest, dtype=np.uint8)
            row += 1
    return out


def select_unique(digests: npt.NDArray[np.uint8], seen: set[bytes]) -> npt.NDArray[np.int64]:
    """Indices of rows whose digest is not in ``seen`` nor earlier in ``digests``; adds them to ``seen``."""
    kept: list[int] = []
    for index in range(digests.shape[0]):
        key = digests[index].tobytes()
        if key not in seen:
            seen.add(key)
            kept.append(index)
    return np.asarray(kept, dtype=np.int64)


class DigestSet:
    """A growing set of 16-byte digest prefixes (streaming deduplication)."""

    def __init__(self) -> None:
        self._seen: set[bytes] = set()

    def insert_new(self, digests: npt.NDArray[np.uint8]) -> npt.NDArray[np.int64]:
        kept: list[int] = []
        for index in range(digests.shape[0]):
            key = digests[index, :16].tobytes()
            if key not in self._seen:
                self._seen.add(key)
                kept.append(index)
        return np.asarray(kept, dtype=np.int64)

    def __len__(self) -> int:
        return len(self._seen)

    def __contains__(self, digest: bytes) -> bool:
        return len(digest) == 32 and digest[:16] in self._seen
