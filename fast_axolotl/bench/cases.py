"""The benchmark cases: each times one operation on synthetic data with the native
backend, the pure-Python reference and what users would run instead.

Every case returns rows of :class:`Row`; a time is ``None`` where that side cannot
run here (no native extension in the pure wheel, Axolotl or numba not installed)."""

from __future__ import annotations

import copy
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

import fast_axolotl as fa
from fast_axolotl import _backend

from . import baselines


@dataclass
class Row:
    operation: str
    size: str
    native: float | None
    reference: float | None
    instead: str
    instead_time: float | None
    reference_on: str | None = None  # set when the reference ran on a smaller input (it is quadratic)


@dataclass
class Plan:
    """Sizes and repeats: ``quick`` keeps the whole suite well under a minute on 2 cores."""

    quick: bool

    def n(self, quick: int, full: int) -> int:
        return quick if self.quick else full

    @property
    def repeat(self) -> int:
        return 1 if self.quick else 3


def best(fn: Callable[[], Any], repeat: int, budget: float = 2.0) -> float:
    """The fastest of ``repeat`` runs; a slow function (over ``budget`` seconds in all) stops early."""
    times: list[float] = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
        if sum(times) > budget:
            break
    return min(times)


def on(impl: str, fn: Callable[[], Any], repeat: int) -> float | None:
    if impl == "native" and _backend.native_module() is None:
        return None
    with _backend.use(impl):  # type: ignore[arg-type]
        return best(fn, repeat)


def _both(fn: Callable[[], Any], repeat: int) -> tuple[float | None, float | None]:
    # native is cheap: always best of 3, so one cold call does not decide its cell
    return on("native", fn, max(repeat, 3)), on("fallback", fn, repeat)


def _token_rows(rng: np.random.Generator, n: int, low: int, high: int) -> list[list[int]]:
    return [rng.integers(3, 32_000, int(k)).tolist() for k in rng.integers(low, high + 1, n)]


def _tokenized_table(rng: np.random.Generator, n: int, duplicates: float = 0.0) -> pa.Table:
    ids = _token_rows(rng, n, 16, 512)
    if duplicates:
        copies = rng.choice(n, int(n * duplicates), replace=False)
        for i in copies:
            ids[int(i)] = ids[int(rng.integers(0, n))]
    return pa.table(
        {
            "input_ids": pa.array(ids, pa.list_(pa.int32())),
            "attention_mask": pa.array([[1] * len(r) for r in ids], pa.list_(pa.int8())),
            "labels": pa.array(ids, pa.list_(pa.int32())),
        }
    )


@contextmanager
def _quiet_datasets() -> Iterator[Any]:
    import datasets

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    yield datasets


def read(plan: Plan, rng: np.random.Generator, tmp: Path) -> list[Row]:
    import pyarrow.json as pajson
    import pyarrow.parquet as pq

    n = plan.n(500, 5_000)
    table = _tokenized_table(rng, n)
    parquet, jsonl = tmp / "rows.parquet", tmp / "rows.jsonl"
    pq.write_table(table, parquet)
    with open(jsonl, "w", encoding="utf-8") as f:
        for record in table.to_pylist():
            f.write(json.dumps(record) + "\n")
    rows = []
    readers: list[tuple[Path, str, Callable[[Path], Any]]] = [
        (parquet, "Parquet", pq.read_table),
        (jsonl, "JSONL", pajson.read_json),
    ]
    for path, name, pyarrow_read in readers:
        native, reference = _both(partial(fa.read_table, path), plan.repeat)
        size = f"{n:,} rows, {path.stat().st_size / 1e6:.0f} MB"
        op = f"read_table ({name}, token lists)"
        rows.append(Row(op, size, native, reference, "pyarrow", best(partial(pyarrow_read, path), plan.repeat)))
        rows.append(Row(op, size, native, reference, "HF datasets load_dataset", _hf_load(path, name, tmp)))
    return rows


def _hf_load(path: Path, name: str, tmp: Path) -> float | None:
    try:
        with _quiet_datasets() as datasets:
            builder = "parquet" if name == "Parquet" else "json"
            cache = tempfile.mkdtemp(dir=tmp)  # a fresh cache: time the conversion, not a cache hit
            start = time.perf_counter()
            datasets.load_dataset(builder, data_files=str(path), split="train", cache_dir=cache)
            return time.perf_counter() - start
    except ImportError:
        return None


def dedup(plan: Plan, rng: np.random.Generator, tmp: Path) -> list[Row]:
    n = plan.n(500, 10_000)
    table = _tokenized_table(rng, n, duplicates=0.1)
    try:
        with _quiet_datasets() as datasets:
            data: Any = datasets.Dataset(datasets.table.InMemoryTable(table))
    except ImportError:
        data = table
    native, reference = _both(lambda: fa.deduplicate(data), plan.repeat)
    if isinstance(data, pa.Table):
        return [Row("deduplicate (pyarrow Table)", f"{n:,} rows", native, reference, "HF datasets not installed", None)]
    kept = len(fa.deduplicate(data)[0])
    assert len(baselines.axolotl_deduplicate(data)[0]) == kept, "Axolotl kept other rows"
    alt = best(lambda: baselines.axolotl_deduplicate(data), 1)
    size = f"{n:,} rows ({n - kept:,} dup.)"
    return [Row("deduplicate (HF Dataset, tokenized)", size, native, reference, "Axolotl _deduplicate_dataset", alt)]


def hashing(plan: Plan, rng: np.random.Generator, tmp: Path) -> list[Row]:
    n = plan.n(20_000, 200_000)
    rows = [f"{i}:" + "x" * int(k) for i, k in enumerate(rng.integers(900, 1100, n))]
    native, reference = _both(lambda: fa.parallel_hash_rows(rows), plan.repeat)
    alt = best(lambda: baselines.hashlib_loop(rows), plan.repeat)
    return [Row("parallel_hash_rows (SHA-256, ~1 KB str)", f"{n:,} rows", native, reference, "hashlib loop", alt)]


def pack_sequences(plan: Plan, rng: np.random.Generator, tmp: Path) -> list[Row]:
    n = plan.n(1_000, 20_000)
    seqs = _token_rows(rng, n, 10, 500)
    native, reference = _both(lambda: fa.pack_sequences(seqs, 2048, 0, 2), plan.repeat)
    op = "pack_sequences (lists in, max 2048)"
    return [Row(op, f"{n:,} seqs", native, reference, "none (the reference is Axolotl's encode_streaming)", None)]


def pack_bins(plan: Plan, rng: np.random.Generator, tmp: Path) -> list[Row]:
    n = plan.n(20_000, 1_000_000)
    lengths = rng.integers(16, 1025, n).astype(np.int64)

    def run(values: np.ndarray = lengths) -> Any:
        return fa.pack_bins(values, 2048, bin_size=200, group_size=100_000)

    native = on("native", run, max(plan.repeat, 3))
    # The reference's first fit scans every open bin per item (quadratic in a group):
    # it runs on a prefix, and the cell says so.
    ref_n = plan.n(2_000, 10_000)
    reference = on("fallback", lambda: run(lengths[:ref_n]), plan.repeat)
    op, size, on_prefix = "pack_bins (capacity 2048)", f"{n:,} lengths", f"{ref_n:,} lengths"
    found = baselines.axolotl_pack_parallel()
    if found is None:
        return [Row(op, size, native, reference, "Axolotl/numba not installed", None, on_prefix)]
    label, pack_parallel = found
    expected = pack_parallel(lengths, 2048, 100_000, 200, num_processes=1)  # also compiles (numba)
    assert [list(b) for b in expected] == run(), "Axolotl made other bins"
    alt = best(lambda: pack_parallel(lengths, 2048, 100_000, 200, num_processes=1), plan.repeat)
    return [Row(op, size, native, reference, label, alt, on_prefix)]


def pad_sequences(plan: Plan, rng: np.random.Generator, tmp: Path) -> list[Row]:
    n = plan.n(1_000, 20_000)
    seqs = _token_rows(rng, n, 10, 512)
    native, reference = _both(lambda: fa.pad_sequences(seqs, target_length=512), plan.repeat)
    alt = best(lambda: baselines.numpy_pad(seqs, 512), plan.repeat)
    return [Row("pad_sequences (lists, to 512)", f"{n:,} seqs", native, reference, "numpy (full + row copies)", alt)]


def collate(plan: Plan, rng: np.random.Generator, tmp: Path) -> list[Row]:
    features = [
        {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": ids} for ids in _token_rows(rng, 8, 16, 1024)
    ]
    repeat = plan.repeat * 20

    def run() -> Any:
        return fa.collate(features, pad_token_id=0, pad_to_multiple_of=64)

    native, reference = _both(run, repeat)
    tokenizer = baselines.tiny_tokenizer()
    found = baselines.seq2seq_collator(tokenizer) if tokenizer is not None else None
    op, size = "collate (Seq2Seq, 8 rows 16-1024, multiple of 64)", "1 batch"
    if found is None:
        return [Row(op, size, native, reference, "transformers not installed", None)]
    label, collator = found
    copies = iter([copy.deepcopy(features) for _ in range(repeat)])  # it pads in place: fresh input each call
    alt = best(lambda: collator(next(copies)), repeat)
    return [Row(op, size, native, reference, label, alt)]


CASES: list[Callable[[Plan, np.random.Generator, Path], list[Row]]] = [
    read,
    dedup,
    hashing,
    pack_sequences,
    pack_bins,
    pad_sequences,
    collate,
]
