"""The pure-Python reference implementation of every kernel (stdlib, numpy, pyarrow).

It is the semantic source of truth: the native extension must give identical
results and raise the same exception types. Function names and signatures are
those of ``fast_axolotl._native`` (see ``_native.pyi``).
"""

from __future__ import annotations

import os

from .._version import __version__
from .hashing import DigestSet, dedup_rows, hash_arrow, hash_rows, select_unique
from .inputs import list_lengths, ragged_from_lists
from .packing import concatenate_and_pack, pack_bins, pack_sequences, split_lists
from .padding import pad_block, pad_lists
from .reading import open_reader

__all__ = [
    "__version__",
    "thread_count",
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
]


def _cores() -> int:
    """The cores this process may run on (its CPU affinity), as the native pool counts them."""
    if hasattr(os, "process_cpu_count"):  # Python 3.13
        return os.process_cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def thread_count() -> int:
    """Threads the native pool would use (the reference itself runs on one):
    ``FAST_AXOLOTL_NUM_THREADS`` capped at the cores, else all cores."""
    value = os.environ.get("FAST_AXOLOTL_NUM_THREADS", "").strip()
    if value.isdigit() and int(value) > 0:
        return min(int(value), _cores())
    return _cores()
