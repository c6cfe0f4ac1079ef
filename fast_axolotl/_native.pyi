"""Kernel contract of the native extension; ``fast_axolotl._fallback`` implements the same.

Inputs arrive validated by the public API: ragged integer sequences as
``(values, offsets)`` int64 arrays (contiguous), lengths as int64 arrays.
"""

from collections.abc import Iterable, Sequence
from typing import Any, final

import numpy as np
import numpy.typing as npt

__all__ = [
    "__version__",
    "thread_count",
    "_raise_panic_for_tests",  # test hook (tests/test_panics.py), not API
    "hash_rows",
    "dedup_rows",
    "hash_arrow",
    "select_unique",
    "DigestSet",
    "pack_sequences",
    "concatenate_and_pack",
    "pack_bins",
    "split_lists",
    "pad_block",
    "pad_lists",
    "ragged_from_lists",
    "list_lengths",
    "open_reader",
    "ArrowBatch",
    "ArrowSchema",
    "Reader",
]

__version__: str

def thread_count() -> int: ...
def _raise_panic_for_tests(kind: str) -> int:
    """Test hook, not API: panics natively ("explicit", "overflow", "pool") to prove InternalError."""

# hashing
def hash_rows(rows: Sequence[str | bytes], num_threads: int) -> list[str]: ...
def dedup_rows(
    rows: Sequence[str | bytes], existing: Iterable[str], num_threads: int
) -> tuple[list[int], list[str]]: ...
def hash_arrow(table: Any, num_threads: int) -> npt.NDArray[np.uint8]: ...
def select_unique(digests: npt.NDArray[np.uint8], seen: set[bytes]) -> npt.NDArray[np.int64]: ...

@final
class DigestSet:
    def __init__(self) -> None: ...
    def insert_new(self, digests: npt.NDArray[np.uint8]) -> npt.NDArray[np.int64]: ...
    def __len__(self) -> int: ...
    def __contains__(self, digest: bytes, /) -> bool: ...

# packing
def pack_sequences(
    values: npt.NDArray[np.int64],
    offsets: npt.NDArray[np.int64],
    max_length: int,
    pad_token_id: int,
    eos_token_id: int,
    label_pad_id: int,
    overflow: str,
    with_position_ids: bool,
) -> dict[str, Any]: ...
def concatenate_and_pack(
    ids_values: npt.NDArray[np.int64],
    labels_values: npt.NDArray[np.int64],
    mask_values: npt.NDArray[np.int64],
    offsets: npt.NDArray[np.int64],
    max_length: int,
    pad_token_id: int,
    label_pad_id: int,
    overflow: str,
    with_position_ids: bool,
) -> dict[str, Any]: ...
def pack_bins(
    lengths: npt.NDArray[np.int64],
    capacity: int,
    bin_size: int,
    group_size: int,
    sequential: bool,
    num_threads: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]: ...
def split_lists(indices: npt.NDArray[np.int64], offsets: npt.NDArray[np.int64]) -> list[list[int]]: ...

# padding
def pad_block(
    columns: list[tuple[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | list[npt.NDArray[np.int64]], int, bool]],
    rows: int,
    target_length: int,
    left: bool,
) -> npt.NDArray[np.int64]: ...
def pad_lists(
    sequences: Sequence[Any],
    lengths: npt.NDArray[np.int64],
    target_length: int,
    pad_value: int,
    left: bool,
    name: str,
) -> npt.NDArray[np.int64]: ...

# inputs
def list_lengths(sequences: Sequence[Any]) -> npt.NDArray[np.int64] | None: ...
def ragged_from_lists(
    sequences: Sequence[Any], name: str
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None: ...

# --- reading (owned by the reader work) ---
# Inputs arrive resolved by fast_axolotl.reading: files of one base format
# ("parquet", "arrow" (also Feather v2 and save_to_disk shards), "jsonl", "json", "csv",
# "tsv", "text") and one compression (None, "gzip", "zstd"). Nothing is opened before the
# first next() / schema(). Batches hold exactly batch_size rows (the last may be shorter).
@final
class ArrowBatch:
    """One record batch, exported through the Arrow PyCapsule interface."""

    @property
    def num_rows(self) -> int: ...
    def __arrow_c_array__(self, requested_schema: object | None = None) -> tuple[object, object]: ...

@final
class ArrowSchema:
    def __arrow_c_schema__(self) -> object: ...

@final
class Reader:
    def __iter__(self) -> Reader: ...
    def __next__(self) -> ArrowBatch: ...
    def schema(self) -> ArrowSchema: ...
    @property
    def skipped(self) -> int: ...

def open_reader(
    paths: list[str],
    format: str,
    compression: str | None,
    batch_size: int,
    columns: list[str] | None,
    on_error: str,
    num_threads: int = 0,
    row_groups: tuple[int, int] | None = None,
) -> Reader: ...

# --- end reading ---
