"""fast-axolotl: the data pipeline of LLM fine-tuning, fast and exact.

Streaming readers for every training-data format, exact deduplication,
token packing, multipack bin packing and batch collation, each in Rust (the
``_native`` extension) and in a pure-Python reference that gives identical
results. ``FAST_AXOLOTL_IMPL=auto|native|fallback`` picks the implementation.
"""

from __future__ import annotations

from . import errors as errors
from ._backend import IMPLEMENTATION, REASON
from ._compat import (
    RustStreamingDataset,
    create_rust_streaming_dataset,
    install,
    should_use_rust_streaming,
    uninstall,
)
from ._version import __version__
from .hashing import (
    deduplicate,
    deduplicate_file,
    deduplicate_indices,
    deduplicate_stream,
    digest_set,
    hash_table,
    parallel_hash_rows,
)
from .iterable import iterable_dataset
from .packing import concatenate_and_pack, cu_seqlens, lengths_from, pack_bins, pack_sequences, position_ids
from .padding import collate, create_padding_mask, pad_sequences
from .reading import (
    detect_format,
    list_supported_formats,
    read_batches,
    read_table,
    streaming_dataset_reader,
    to_table,
)

__all__ = [
    "__version__",
    "IMPLEMENTATION",
    "is_available",
    "get_version",
    "thread_count",
    "list_supported_formats",
    "detect_format",
    "read_batches",
    "read_table",
    "to_table",
    "iterable_dataset",
    "streaming_dataset_reader",
    "parallel_hash_rows",
    "deduplicate_indices",
    "hash_table",
    "deduplicate",
    "deduplicate_stream",
    "deduplicate_file",
    "digest_set",
    "pack_sequences",
    "concatenate_and_pack",
    "pack_bins",
    "position_ids",
    "cu_seqlens",
    "lengths_from",
    "pad_sequences",
    "collate",
    "create_padding_mask",
    # fast-axolotl 0.2.0 names (docs/migrating-from-0.2.md)
    "install",
    "uninstall",
    "RUST_AVAILABLE",
    "RustStreamingDataset",
    "create_rust_streaming_dataset",
    "should_use_rust_streaming",
]

#: True when the native (Rust) implementation is in use (the fast-axolotl 0.2.0 name;
#: ``IMPLEMENTATION == "native"``).
RUST_AVAILABLE: bool = IMPLEMENTATION == "native"


def is_available() -> bool:
    """True when the native extension is loaded and in use."""
    return IMPLEMENTATION == "native"


def get_version() -> str:
    """``"<package version> (<implementation>)"``, e.g. ``"0.3.0 (native)"``."""
    return f"{__version__} ({IMPLEMENTATION})"


def thread_count() -> int:
    """Threads native work uses by default: ``FAST_AXOLOTL_NUM_THREADS`` capped at the cores,
    else all cores. A ``num_threads=`` argument is capped at the cores the same way; all calls
    share one pool of that many threads."""
    from . import _backend

    return int(_backend.kernels().thread_count())


def backend_reason() -> str:
    """Why this implementation was chosen."""
    return REASON


from .integration import installed_at_import as _axolotl_patched  # noqa: E402,F401 - patches Axolotl unless FAST_AXOLOTL_DISABLE=1
