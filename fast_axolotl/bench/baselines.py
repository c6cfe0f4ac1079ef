"""What users run instead of fast-axolotl, as the benchmark times it.

``axolotl_deduplicate`` is Axolotl 0.21.0's ``_deduplicate_dataset``
(``axolotl/utils/data/utils.py``; unpatched) where Axolotl is installed, and the same
computation written here otherwise, so the dedup row has a baseline without Axolotl
(the ``fast-axolotl bench`` command needs neither Axolotl nor the repository's tests;
the tests compare with Axolotl's own function, fetched from PyPI by ``tests/upstream.py``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def axolotl_deduplicate(dataset: Any, seen_hashes: set[str] | None = None) -> tuple[Any, set[str]]:
    """Axolotl's exact dedup of an HF Dataset: its own ``_deduplicate_dataset`` when Axolotl
    is importable, else the same computation written here (the hex SHA-256 of each row
    dict's ``str()``, first occurrence kept, ``dataset.select`` of the kept indices)."""
    try:
        from axolotl.utils.data.utils import _deduplicate_dataset
    except Exception:  # Axolotl (or torch) not installed
        pass
    else:
        original = getattr(_deduplicate_dataset, "__fast_axolotl_original__", _deduplicate_dataset)
        result: tuple[Any, set[str]] = original(dataset, seen_hashes)
        return result
    seen = set() if seen_hashes is None else seen_hashes
    kept = []
    for index, row in enumerate(dataset):
        digest = hashlib.sha256(str(row).encode("utf-8")).hexdigest()
        if digest not in seen:
            seen.add(digest)
            kept.append(index)
    return dataset.select(kept), seen


def hashlib_loop(rows: Sequence[str]) -> list[str]:
    return [hashlib.sha256(row.encode()).hexdigest() for row in rows]


def numpy_pad(seqs: Sequence[Sequence[int]], target: int, pad: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Right padding with numpy: a filled matrix, one slice assignment per row, the mask by broadcasting."""
    out = np.full((len(seqs), target), pad, dtype=np.int64)
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    for i, seq in enumerate(seqs):
        out[i, : len(seq)] = seq
    return out, (np.arange(target) < lengths[:, None]).astype(np.int64)


def axolotl_pack_parallel() -> tuple[str, Callable[..., Any]] | None:
    """Axolotl's numba ``pack_parallel`` (label, function), when Axolotl and numba import."""
    try:
        import numba  # noqa: F401
        from axolotl.utils.samplers.multipack import pack_parallel
    except Exception:  # ImportError, or Axolotl failing to import its own dependencies
        return None
    return "Axolotl pack_parallel (numba, warm)", pack_parallel


def seq2seq_collator(tokenizer: Any) -> tuple[str, Any] | None:
    """Axolotl's ``DataCollatorForSeq2Seq`` when installed, else transformers' (label, collator)."""
    try:
        from axolotl.utils.collators.batching import DataCollatorForSeq2Seq

        return "Axolotl DataCollatorForSeq2Seq", DataCollatorForSeq2Seq(
            tokenizer, pad_to_multiple_of=64, return_tensors="np"
        )
    except Exception:
        pass
    try:
        from transformers import DataCollatorForSeq2Seq as HFCollator
    except Exception:
        return None
    return "transformers DataCollatorForSeq2Seq", HFCollator(tokenizer, pad_to_multiple_of=64, return_tensors="np")


def tiny_tokenizer() -> Any | None:
    """A word-level fast tokenizer with a pad token: all a collator needs for padding."""
    try:
        import transformers
        from tokenizers import Tokenizer, models
    except Exception:
        return None
    return transformers.PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=Tokenizer(models.WordLevel({"<pad>": 0, "</s>": 2}, unk_token="<pad>")),
        pad_token="<pad>",
        eos_token="</s>",
    )
