"""Exact deduplication on Ray: ``fast_axolotl.distributed.deduplicate`` against the usual Ray
Data way (``map_batches`` hashing each row with hashlib, then ``groupby(hash)`` keeping one
row per group) and against ``fa.deduplicate`` on one machine, on tokenized rows (int32
``input_ids``, ~20% duplicates), written as Parquet shards. Also: peak RSS of every Ray
worker process (sampled every 20 ms), and how our time grows from 1M to 4M rows.

    python benchmarks/bench_distributed.py [--rows 1000000] [--scale 1,2,4] [--cpus 2]

Needs ``pip install 'fast-axolotl[ray]'``. Starts a one-node Ray cluster on loopback.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SHARDS = 8
MEAN_TOKENS = 64


def make_rows(rows: int, seed: int = 0) -> pa.Table:
    """``rows`` tokenized rows; a fifth of them repeat an earlier row."""
    rng = np.random.default_rng(seed)
    unique = rows - rows // 5
    lengths = np.clip(rng.exponential(MEAN_TOKENS, unique).astype(np.int64), 4, 1024)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    values = rng.integers(0, 32_000, int(offsets[-1]), dtype=np.int32)
    base = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(values))
    picks = np.concatenate([np.arange(unique), rng.integers(0, unique, rows - unique)])
    rng.shuffle(picks[unique // 2 :])  # duplicates spread over the later part of the data
    return pa.table({"input_ids": base.take(pa.array(picks))})


def write_shards(table: pa.Table, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    step = -(-table.num_rows // SHARDS)
    for k in range(SHARDS):
        pq.write_table(table.slice(k * step, step), folder / f"part-{k:02d}.parquet", row_group_size=65_536)


class WorkerMemory:
    """Peak memory of each Ray worker process (``ray::`` in its title) while it runs: RSS, and
    RSS less its shared pages (the object store's blocks a worker reads are mapped shared
    memory, counted in RSS though they are not the worker's own)."""

    def __init__(self) -> None:
        import psutil

        self._psutil = psutil
        self.peaks: dict[int, int] = {}
        self.private: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            for proc in self._psutil.process_iter(["pid", "cmdline", "memory_info"]):
                cmd = " ".join(proc.info["cmdline"] or [])
                if cmd.startswith("ray::") and proc.info["memory_info"] is not None:
                    pid, info = proc.info["pid"], proc.info["memory_info"]
                    self.peaks[pid] = max(self.peaks.get(pid, 0), info.rss)
                    own = info.rss - getattr(info, "shared", 0)
                    self.private[pid] = max(self.private.get(pid, 0), own)
            time.sleep(0.02)

    def __enter__(self) -> WorkerMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> str:
        if not self.peaks:
            return "no worker seen"
        mb = sorted(v / 2**20 for v in self.peaks.values())
        own = sorted(v / 2**20 for v in self.private.values())
        return (
            f"{len(mb)} workers, peak RSS max {mb[-1]:,.0f} MB (median {mb[len(mb) // 2]:,.0f}), "
            f"without shared pages max {own[-1]:,.0f} MB"
        )


def ours(folder: Path) -> tuple[float, int, str]:
    from fast_axolotl import distributed as fd

    with WorkerMemory() as memory:
        started = time.perf_counter()
        result = fd.deduplicate(fd.read(folder))
        rows = result.count()
        elapsed = time.perf_counter() - started
    return elapsed, rows, memory.summary()


def _hash_rows(batch: pa.Table) -> pa.Table:
    # What a Ray Data user writes: each row's bytes (here its str(), as Axolotl hashes) through hashlib.
    hashes = [hashlib.sha256(str(row).encode()).hexdigest() for row in batch.to_pylist()]
    return batch.append_column("hash", pa.array(hashes))


def _first_of_group(group: pa.Table) -> pa.Table:
    return group.slice(0, 1)


def usual_ray_data(folder: Path) -> tuple[float, int, str]:
    import ray.data

    with WorkerMemory() as memory:
        started = time.perf_counter()
        ds = ray.data.read_parquet(str(folder)).map_batches(_hash_rows, batch_format="pyarrow")
        result = ds.groupby("hash").map_groups(_first_of_group, batch_format="pyarrow")
        rows = result.count()
        elapsed = time.perf_counter() - started
    return elapsed, rows, memory.summary()


def one_machine(folder: Path) -> tuple[float, int]:
    import fast_axolotl as fa

    started = time.perf_counter()
    kept, _ = fa.deduplicate(fa.read_table(folder))
    return time.perf_counter() - started, kept.num_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--scale", default="1,2,4", help="multiples of --rows for the growth table")
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    print(f"ray {ray.__version__}: {args.cpus} CPUs, one node on loopback")
    scales = [int(s) for s in args.scale.split(",")]
    with tempfile.TemporaryDirectory(prefix="fa-bench-dist-") as tmp:
        results: dict[int, Any] = {}
        for scale in scales:
            rows = args.rows * scale
            folder = Path(tmp) / f"rows-{rows}"
            write_shards(make_rows(rows), folder)
            ours(folder)  # warm: workers started, imports done
            t_ours, kept, mem = ours(folder)
            t_one, kept_one = one_machine(folder)
            assert kept == kept_one, (kept, kept_one)
            results[rows] = (t_ours, kept)
            print(f"\n{rows:,} rows ({kept:,} kept), {SHARDS} Parquet shards")
            print(f"  fast_axolotl.distributed.deduplicate   {t_ours:7.2f} s   {mem}")
            print(f"  fa.deduplicate on one machine          {t_one:7.2f} s   ({t_ours / t_one:.2f}x its time)")
            if scale == scales[0] and not args.skip_baseline:
                t_base, kept_base, mem_base = usual_ray_data(folder)
                print(
                    f"  Ray Data map_batches(hashlib)+groupby  {t_base:7.2f} s   {mem_base}  "
                    f"-> ours {t_base / t_ours:.1f}x faster (it kept {kept_base:,}, in no defined order)"
                )
        first = min(results)
        print("\ngrowth (ours):")
        for rows, (t, _) in sorted(results.items()):
            print(
                f"  {rows:>10,} rows  {t:7.2f} s  {rows / t:,.0f} rows/s  time x{t / results[first][0]:.2f} for rows x{rows / first:.0f}"
            )
    ray.shutdown()


if __name__ == "__main__":
    main()
