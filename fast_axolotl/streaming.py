"""The fast-axolotl 0.2.0 module ``fast_axolotl.streaming``: its streaming names, re-exported.

New code uses :func:`fast_axolotl.read_batches` / :func:`fast_axolotl.iterable_dataset`.
"""

from __future__ import annotations

from . import RUST_AVAILABLE, is_available
from ._compat import RustStreamingDataset, create_rust_streaming_dataset
from .reading import streaming_dataset_reader

__all__ = [
    "RUST_AVAILABLE",
    "streaming_dataset_reader",
    "RustStreamingDataset",
    "create_rust_streaming_dataset",
    "is_available",
]
