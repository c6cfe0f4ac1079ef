"""Exact deduplication and hashing: native vs the reference, hashlib, OpenSSL's own
speed, and Axolotl's ``_deduplicate_dataset`` (from the 0.21.0 wheel, fetched from PyPI by
tests/upstream.py) on tokenized Hugging Face Datasets with 10% duplicates.

    python benchmarks/bench_dedup.py [--quick] [--sizes 100000 1000000]
"""

from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import time

import numpy as np
import pyarrow as pa
from _common import axo, best, header, on, row

import fast_axolotl as fa
from fast_axolotl import _backend


def tokenized_dataset(rng: np.random.Generator, n: int) -> tuple[object, pa.Table]:
    """input_ids / attention_mask / labels, lengths 16-1024 (mean ~520), 10% exact duplicates.

    input_ids int32, attention_mask int8, labels int64 (-100 over the first third of each
    row), all sharing one offsets buffer. Built in place: each output array is allocated
    once at its final type and the label mask is computed in row chunks, so the peak is
    the final table plus ~100 MB (1M rows: ~6.8 GB), not int64 temporaries of every token.
    """
    import datasets

    unique = int(n * 0.9)
    lengths = rng.integers(16, 1025, unique)
    # Row r of the output is unique row pick[r]: every unique row once, plus n - unique
    # uniformly drawn repeats, shuffled.
    pick = np.concatenate([np.arange(unique), rng.integers(0, unique, n - unique)])
    rng.shuffle(pick)
    row_lengths = lengths[pick]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(row_lengths, out=offsets[1:])
    total = int(offsets[-1])
    assert total < 2**31, "int32 list offsets"
    offsets = offsets.astype(np.int32)
    # Fresh random tokens everywhere, then each repeat copies its first occurrence.
    ids = np.empty(total, dtype=np.int32)
    step = 1 << 24
    for s in range(0, total, step):
        ids[s : s + step] = rng.integers(3, 32000, min(step, total - s), dtype=np.int32)
    _, first = np.unique(pick, return_index=True)
    source = first[pick]
    for r in np.flatnonzero(source != np.arange(n)):
        src = offsets[source[r]]
        ids[offsets[r] : offsets[r + 1]] = ids[src : src + row_lengths[r]]
    labels = np.empty(total, dtype=np.int64)
    for r0 in range(0, n, 16384):
        r1 = min(n, r0 + 16384)
        s, e = int(offsets[r0]), int(offsets[r1])
        seg = labels[s:e]
        seg[:] = ids[s:e]
        lens = row_lengths[r0:r1]
        within = np.arange(e - s) - np.repeat(offsets[r0:r1] - s, lens)
        seg[within < np.repeat(lens // 3, lens)] = -100
    arrow_offsets = pa.array(offsets)
    table = pa.table(
        {
            "input_ids": pa.ListArray.from_arrays(arrow_offsets, pa.array(ids)),
            "attention_mask": pa.ListArray.from_arrays(arrow_offsets, pa.array(np.ones(total, dtype=np.int8))),
            "labels": pa.ListArray.from_arrays(arrow_offsets, pa.array(labels)),
        }
    )
    # A fingerprint as load_dataset would set one: left None, datasets derives it by
    # pickling and hashing the whole in-memory table (minutes and ~3x its size in RSS).
    return datasets.Dataset(table, fingerprint=f"bench_dedup_{n}_{total}"), table


def openssl_sha256_bytes_per_second(block: int) -> float | None:
    try:
        out = subprocess.run(
            ["openssl", "speed", "-evp", "sha256", "-bytes", str(block), "-seconds", "2"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    match = re.search(r"^sha256\s+([\d.]+)k", out, re.M)
    return float(match.group(1)) * 1000 if match else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", type=int, nargs="+", default=None)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    sizes = args.sizes or ([10_000] if args.quick else [100_000])
    header("Exact deduplication and hashing")
    shani = "sha_ni" in open("/proc/cpuinfo").read()
    print(f"CPU SHA extensions (sha_ni in /proc/cpuinfo): {shani}; the sha2 crate uses them when present\n")

    for n in sizes:
        ds, table = tokenized_dataset(rng, n)
        start = time.perf_counter()
        ours, _ = fa.deduplicate(ds)
        native = time.perf_counter() - start
        start = time.perf_counter()
        theirs, _ = axo._deduplicate_dataset(ds)
        axolotl = time.perf_counter() - start
        kept = ours._indices.column(0).to_pylist()
        assert kept == theirs._indices.column(0).to_pylist(), "kept indices differ from Axolotl"
        native = min(native, best(on("native", lambda ds=ds: fa.deduplicate(ds)), 2))
        others = {f"Axolotl _deduplicate_dataset (identical kept indices, {len(kept):,} kept)": axolotl}
        if n <= 10_000:
            others["reference"] = best(on("fallback", lambda ds=ds: fa.deduplicate(ds)), 1)
        row("deduplicate (HF Dataset: input_ids/attention_mask/labels)", f"{n:,}", native, others)

    # Raw SHA-256 throughput on 16 KiB rows, against OpenSSL x the cores used.
    block = 16384
    rows = [bytes(rng.integers(0, 256, block, dtype=np.uint8)) for _ in range(4096 if args.quick else 16384)]
    native_module = _backend.native_module()
    assert native_module is not None
    threads = fa.thread_count()
    wall, cpu = [], []
    for _ in range(5):
        w0, c0 = time.perf_counter(), time.process_time()
        native_module.hash_rows(rows, 0)
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    total = len(rows) * block
    one_core = openssl_sha256_bytes_per_second(block)  # openssl reports bytes per CPU-second
    print(
        f"\nraw SHA-256, {len(rows)} x 16 KiB rows on {threads} threads: native {total / min(wall) / 1e9:.2f} GB/s wall, "
        f"{total / min(cpu) / 1e9:.2f} GB/s per CPU-second (all threads)"
    )
    if one_core:
        print(
            f"openssl speed -evp sha256 -bytes {block}: {one_core / 1e9:.2f} GB/s per core; x {threads} cores = "
            f"{one_core * threads / 1e9:.2f} GB/s -> native wall {total / min(wall) / (one_core * threads):.0%}, "
            f"native per CPU-second {total / min(cpu) / one_core:.0%} of openssl's per-core rate"
        )
    print()
    strings = [("x" * 1000) + str(i) for i in range(100_000)]
    row(
        "parallel_hash_rows (str, ~1 KB each)",
        "100,000",
        best(on("native", lambda: fa.parallel_hash_rows(strings)), 5),
        {
            "hashlib loop (sha256(s.encode()).hexdigest())": best(
                lambda: [hashlib.sha256(s.encode()).hexdigest() for s in strings], 5
            ),
            "native, 1 thread": best(on("native", lambda: fa.parallel_hash_rows(strings, num_threads=1)), 5),
        },
    )
    digests_rows = table.slice(0, min(table.num_rows, 20_000))
    row(
        "hash_table (tokenized rows)",
        f"{digests_rows.num_rows:,}",
        best(on("native", lambda: fa.hash_table(digests_rows)), 3),
        {
            "reference (struct + hashlib)": best(on("fallback", lambda: fa.hash_table(digests_rows)), 1),
        },
    )


if __name__ == "__main__":
    main()
