"""Replacements for Axolotl's dataset preparation steps (length filter).

Axolotl runs them as ``datasets.filter`` over Python lists (≈1 s per 10k rows); the
row lengths are already in the Arrow offsets of ``input_ids``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import numpy.typing as npt

from ..hashing import _is_hf_dataset
from ..packing import _list_lengths
from ._core import Target
from ._wrappers import _fallback, _int, _wraps

# Axolotl's logger for this module: the "Dropped ..." line must look the same.
AXOLOTL_LOG = logging.getLogger("axolotl.utils.data.utils")


def row_lengths(dataset: Any, column: str) -> npt.NDArray[np.int64]:
    """Lengths of a list column in the dataset's row order (its indices mapping applied)."""
    table = dataset.data.table if hasattr(dataset.data, "table") else dataset.data
    lengths = _list_lengths(table.column(column), column)
    if dataset._indices is not None:
        lengths = lengths[np.asarray(dataset._indices.column(0).to_numpy(), dtype=np.int64)]
    return lengths


def _plain_dataset(dataset: Any) -> bool:
    # An IterableDataset has no Arrow table; Axolotl's `filter` on it is lazy.
    return _is_hf_dataset(dataset) and type(dataset).__name__ == "Dataset"


def make_drop_outside_range(original: Any) -> Any:
    @_wraps(original)
    def _drop_outside_range(
        dataset: Any, max_len: Any, min_len: Any, raise_on_long: Any, filter_kwargs: Any
    ) -> tuple[Any, int]:
        fits = _int(max_len) and (min_len is None or _int(min_len)) and isinstance(raise_on_long, bool)
        if not (fits and _plain_dataset(dataset) and "input_ids" in dataset.column_names):
            return original(dataset, max_len, min_len, raise_on_long, filter_kwargs)  # type: ignore[no-any-return]
        try:
            lengths = row_lengths(dataset, "input_ids")
        except Exception as exc:  # nulls, not a list column: Axolotl's own error or result
            _fallback("_drop_outside_range", exc)
            return original(dataset, max_len, min_len, raise_on_long, filter_kwargs)  # type: ignore[no-any-return]
        # filter_sequences_by_length: `min_sequence_len or 2`, keep min <= len <= max.
        low, high = int(min_len or 2), int(max_len)
        if raise_on_long:
            too_long = np.flatnonzero(lengths > high)
            if too_long.size:
                raise ValueError(
                    f"Sequence encountered with {int(lengths[too_long[0]])} tokens, which exceeds the maximum {high}."
                )
        keep = (lengths >= low) & (lengths <= high)
        prior = len(dataset)
        result = dataset if bool(keep.all()) else dataset.select(np.flatnonzero(keep))
        dropped = 0
        if not raise_on_long and prior:
            dropped = prior - len(result)
            if dropped > 0:
                AXOLOTL_LOG.info(f"Dropped {dropped} sequences outside valid range ([{min_len}, {max_len}])")
        return result, dropped

    return _drop_outside_range


PREP_TARGETS = [
    Target(
        "filter",
        "axolotl.utils.data.utils",
        None,
        "_drop_outside_range",
        ("dataset", "max_len", "min_len", "raise_on_long", "filter_kwargs"),
        make_drop_outside_range,
    ),
]
