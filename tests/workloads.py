"""Inputs big enough to reach the parallel paths (>= pool::PARALLEL_THRESHOLD elements), and
one canonical byte form per operation's output, for comparing runs byte for byte."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

import fast_axolotl as fa


def token_lists(n: int, seed: int = 0, low: int = 1, high: int = 300, dtype: Any = np.int64) -> pa.ChunkedArray:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(low, high, n)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    values = rng.integers(0, 50_000, int(offsets[-1]), dtype=dtype)
    return pa.chunked_array([pa.ListArray.from_arrays(pa.array(offsets), pa.array(values))])


def table(n: int, seed: int = 0, high: int = 300, dtype: Any = np.int64) -> pa.Table:
    ids = token_lists(n, seed, high=high, dtype=dtype)
    text = pa.array([f"sample {i % (n // 2 or 1)} text" for i in range(n)])  # half are duplicates
    return pa.table({"text": text, "input_ids": ids})


def canonical(value: Any) -> Any:
    """A comparable form: numpy arrays as (dtype, shape, bytes), Arrow as Python objects."""
    if isinstance(value, np.ndarray):
        return (str(value.dtype), value.shape, value.tobytes())
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, (pa.Table, pa.RecordBatch)):
        return (str(value.schema), value.to_pydict())
    if isinstance(value, set):
        return sorted(value)
    return value


def operations(data_dir: Path, n: int = 70_000) -> dict[str, Any]:
    """Operation name -> zero-argument callable running it on fixed inputs (one per API function)."""
    t = table(n)
    ids = t.column("input_ids")
    rows = [f"row {i % (n // 2)}" for i in range(n)]
    lengths = np.random.default_rng(1).integers(1, 2048, 3 * n)
    features = [{"input_ids": list(range(i % 50 + 1)), "labels": list(range(i % 50 + 1))} for i in range(n // 35)]
    jsonl = data_dir / "ops.jsonl"
    if not jsonl.exists():
        jsonl.write_text("".join(f'{{"a": {i}, "b": "x{i % 7}"}}\n' for i in range(n // 4)))

    return {
        "hash_table": lambda: fa.hash_table(t),
        "parallel_hash_rows": lambda: fa.parallel_hash_rows(rows),
        "deduplicate": lambda: fa.deduplicate(t)[0],
        "pack_sequences": lambda: fa.pack_sequences(ids, 2048, 0, 2, return_position_ids=True, return_seq_lens=True),
        "concatenate_and_pack": lambda: fa.concatenate_and_pack(ids, ids, ids, 4096, 0, return_position_ids=True),
        "pack_bins": lambda: fa.pack_bins(lengths, 4096, group_size=n // 4, as_arrays=True),
        "pad_sequences": lambda: fa.pad_sequences(ids, padding_side="left", pad_to_multiple_of=8),
        "collate": lambda: fa.collate(features, pad_token_id=0, pad_to_multiple_of=64),
        "read_batches": lambda: list(fa.read_batches(jsonl, batch_size=999)),
    }
