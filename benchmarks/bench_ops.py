"""Benchmarks of the packing, padding, hashing and dedup operations.

Each row times the same work, in one run, with the native kernel, the reference
implementation, and what a user would use instead (numpy, hashlib, Axolotl's own
code copied verbatim in tests/axolotl_reference.py), and prints ratios. Best of N
wall-clock runs. Usage: python benchmarks/bench_ops.py [--quick]
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

import fast_axolotl as fa
from fast_axolotl import _backend

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import axolotl_reference as axo  # noqa: E402


def best(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def on(impl: str, fn: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
        with _backend.use(impl):  # type: ignore[arg-type]
            return fn()

    return run


def row(name: str, native: float, others: dict[str, float]) -> None:
    ratios = "  ".join(f"{k} {v * 1e3:9.1f} ms ({v / native:6.1f}x)" for k, v in others.items())
    print(f"{name:<44} native {native * 1e3:8.1f} ms  {ratios}")


def numpy_pad(seqs: list[np.ndarray], target: int) -> np.ndarray:
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    out = np.zeros((len(seqs), target), dtype=np.int64)
    out[np.arange(target) < lengths[:, None]] = np.concatenate(seqs)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeat = 3 if args.quick else 5
    rng = np.random.default_rng(0)
    print(f"fast-axolotl {fa.get_version()}, {os.cpu_count()} cores, numpy {np.__version__}, pyarrow {pa.__version__}")

    # Packing, the 0.2.0 benchmark: 10k sequences of 10-100 tokens into 512.
    seqs = [rng.integers(3, 32000, rng.integers(10, 101)).tolist() for _ in range(10_000)]
    arrow = pa.array(seqs, pa.list_(pa.int32()))
    native = best(on("native", lambda: fa.pack_sequences(seqs, 512, 0, 2)), repeat)
    row(
        "pack_sequences 10k (lists)",
        native,
        {
            "reference": best(on("fallback", lambda: fa.pack_sequences(seqs, 512, 0, 2)), repeat),
            "axolotl loop": best(lambda: axo.encode_streaming({"text": seqs}, _Tok(), 512), 1),
        },
    )
    row(
        "pack_sequences 10k (Arrow list<int32>)",
        best(on("native", lambda: fa.pack_sequences(arrow, 512, 0, 2)), repeat),
        {
            "reference": best(on("fallback", lambda: fa.pack_sequences(arrow, 512, 0, 2)), repeat),
        },
    )

    # Padding: 10k sequences of 10-256 tokens to 256.
    pads = [rng.integers(3, 32000, rng.integers(10, 257)) for _ in range(10_000)]
    pad_lists = [p.tolist() for p in pads]
    row(
        "pad_sequences 10k -> 256 (lists)",
        best(on("native", lambda: fa.pad_sequences(pad_lists, 256)), repeat),
        {
            "reference": best(on("fallback", lambda: fa.pad_sequences(pad_lists, 256)), repeat),
            "numpy": best(lambda: numpy_pad([np.asarray(p) for p in pad_lists], 256), repeat),
        },
    )
    row(
        "pad_sequences 10k -> 256 (ndarrays)",
        best(on("native", lambda: fa.pad_sequences(pads, 256)), repeat),
        {
            "numpy": best(lambda: numpy_pad(pads, 256), repeat),
        },
    )

    # Multipack bins: lengths 16-1024, capacity 2048, bin_size 200.
    n_bins = 100_000 if args.quick else 1_000_000
    lengths = rng.integers(16, 1025, n_bins)
    small = lengths[:100_000]
    row(
        f"pack_bins {n_bins // 1000}k",
        best(on("native", lambda: fa.pack_bins(lengths, 2048, bin_size=200, as_arrays=True)), repeat),
        {},
    )
    row(
        "pack_bins 100k",
        best(on("native", lambda: fa.pack_bins(small, 2048, bin_size=200)), repeat),
        {
            "reference": best(on("fallback", lambda: fa.pack_bins(small, 2048, bin_size=200)), 1),
            "axolotl (no numba)": best(lambda: axo.pack_parallel(small, 2048, 100_000, 200, num_processes=1), 1),
        },
    )

    # Hashing: 100k rows of ~1 KB.
    rows = [("x" * 1000) + str(i) for i in range(100_000)]
    row(
        "parallel_hash_rows 100k x 1 KB",
        best(on("native", lambda: fa.parallel_hash_rows(rows)), repeat),
        {
            "reference": best(on("fallback", lambda: fa.parallel_hash_rows(rows)), repeat),
            "hashlib loop": best(lambda: [hashlib.sha256(r.encode()).hexdigest() for r in rows], repeat),
        },
    )

    # Dedup of a tokenized HF Dataset (10% duplicates) against Axolotl's _deduplicate_dataset.
    try:
        import datasets
    except ImportError:
        print("datasets not installed: dedup benchmark skipped")
        return
    n = 2_000 if args.quick else 10_000
    ids = [rng.integers(3, 32000, rng.integers(16, 1025)).tolist() for _ in range(int(n * 0.9))]
    ids += [ids[i] for i in rng.integers(0, len(ids), n - len(ids))]
    table = pa.table(
        {
            "input_ids": pa.array(ids, pa.list_(pa.int32())),
            "attention_mask": pa.array([[1] * len(x) for x in ids], pa.list_(pa.int8())),
            "labels": pa.array([[-100] * (len(x) // 3) + x[len(x) // 3 :] for x in ids], pa.list_(pa.int64())),
        }
    )
    ds = datasets.Dataset(table)
    kept_native = fa.deduplicate(ds)[0]
    kept_axolotl = axo._deduplicate_dataset(ds)[0]
    assert kept_native._indices.column(0).to_pylist() == kept_axolotl._indices.column(0).to_pylist()
    row(
        f"deduplicate {n // 1000}k tokenized rows",
        best(on("native", lambda: fa.deduplicate(ds)), repeat),
        {
            "reference": best(on("fallback", lambda: fa.deduplicate(ds)), 1),
            "axolotl": best(lambda: axo._deduplicate_dataset(ds), 1),
        },
    )

    # Collation: 8 unpacked rows, multiple of 64 (Axolotl DataCollatorForSeq2Seq + transformers).
    try:
        import transformers
        from tokenizers import Tokenizer, models
    except ImportError:
        print("transformers not installed: collator benchmark skipped")
        return
    tok = transformers.PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel({"<pad>": 0, "</s>": 2}, unk_token="<pad>")),
        pad_token="<pad>",
        eos_token="</s>",
    )
    feats = [{"input_ids": x, "attention_mask": [1] * len(x), "labels": x} for x in ids[:8]]
    collator = axo.DataCollatorForSeq2Seq(tok, pad_to_multiple_of=64, return_tensors="np")
    row(
        "collate 8 rows (multiple of 64)",
        best(on("native", lambda: fa.collate(feats, pad_token_id=0, pad_to_multiple_of=64)), 50),
        {
            "reference": best(on("fallback", lambda: fa.collate(feats, pad_token_id=0, pad_to_multiple_of=64)), 20),
            "axolotl": best(lambda: collator(copy.deepcopy(feats)), 20),
        },
    )


class _Tok:
    eos_token_id = 2
    pad_token_id = 0

    def __call__(
        self, texts: list[list[int]], truncation: bool, max_length: int, add_special_tokens: bool
    ) -> dict[str, Any]:
        ids = [t[:max_length] for t in texts]
        return {"input_ids": ids, "attention_mask": [[1] * len(t) for t in ids]}


if __name__ == "__main__":
    main()
