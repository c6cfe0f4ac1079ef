"""Streaming reads: fast-axolotl's reader against pyarrow, Hugging Face ``datasets``
streaming and fast-axolotl 0.2.0, on tokenized data (``input_ids`` list<int32> of mean
length ~300, a ~1.1 KB ``text`` column, an ``id``).

    python benchmarks/bench_reading.py [--quick] [--rows N] [--data-dir DIR]

Data are generated once under ``--data-dir`` (default /tmp/fast-axolotl-bench-reading) and
reused. Full size: 1M rows of Parquet (zstd, row groups of 50k rows, ~1 GB); JSONL,
JSONL.zst and CSV (``id,text``) of the first 200k rows; for peak RSS, Parquet files of 200k
and 2M rows (10x), same row groups. ``--quick`` divides all by 10.
Time-to-first-batch and peak RSS are measured in fresh subprocesses (0.2.0 from the venv
in ``FAST_AXOLOTL_020_PYTHON``, default /tmp/fa020/bin/python, if it exists).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

import fast_axolotl as fa

OLD_PYTHON = os.environ.get("FAST_AXOLOTL_020_PYTHON") or "/tmp/fa020/bin/python"


# ---------------------------------------------------------------------------
# Data


def _words(rng: np.random.Generator, size: int) -> bytes:
    """``size`` bytes of ASCII pseudo-words (compresses like real text)."""
    vocab = [bytes(rng.integers(97, 123, int(n)).astype(np.uint8)) for n in np.clip(rng.geometric(0.2, 20_000), 2, 14)]
    picks = rng.integers(0, len(vocab), size // 4)
    return b" ".join(vocab[i] for i in picks)[:size]


def _table(rng: np.random.Generator, start: int, n: int, corpus: bytes) -> pa.Table:
    lengths = np.clip(16 + rng.exponential(285, n), 16, 2048).astype(np.int32)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    ids = rng.integers(0, 50257, int(offsets[-1]), dtype=np.int32)
    text_len = rng.integers(1000, 1245, n).astype(np.int64)
    text_offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(text_len, out=text_offsets[1:])
    at = int(rng.integers(0, len(corpus) - int(text_offsets[-1]) - 1))
    data = pa.py_buffer(corpus[at : at + int(text_offsets[-1])])
    text = pa.LargeStringArray.from_buffers(n, pa.py_buffer(text_offsets.tobytes()), data).cast(pa.string())
    return pa.table(
        {
            "id": pa.array(np.arange(start, start + n, dtype=np.int64)),
            "input_ids": pa.ListArray.from_arrays(pa.array(offsets), pa.array(ids)),
            "text": text,
        }
    )


def make_data(directory: Path, rows: int, subset: int) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    row_group = rows // 20
    paths = {
        "parquet": directory / f"tokenized-{rows}-rg{row_group}.parquet",
        "parquet_small": directory / f"tokenized-{subset}-rg{row_group}.parquet",
        "parquet_large": directory / f"tokenized-{subset * 10}-rg{row_group}.parquet",
        "jsonl": directory / f"tokenized-{subset}.jsonl",
        "jsonl_zst": directory / f"tokenized-{subset}.jsonl.zst",
        "csv": directory / f"text-{subset}.csv",
    }
    if all(p.exists() for p in paths.values()):
        return paths
    print(f"generating data in {directory} ...", file=sys.stderr)
    rng = np.random.default_rng(0)
    corpus = _words(rng, 80 << 20)
    for key, n in (("parquet", rows), ("parquet_small", subset), ("parquet_large", subset * 10)):
        if paths[key].exists():
            continue
        tmp = paths[key].with_suffix(".tmp")
        writer: pq.ParquetWriter | None = None
        for start in range(0, n, row_group):
            table = _table(rng, start, min(row_group, n - start), corpus)
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
            writer.write_table(table, row_group_size=row_group)
        assert writer is not None
        writer.close()
        tmp.rename(paths[key])
    with open(paths["jsonl"].with_suffix(".tmp"), "w", encoding="utf-8") as out:
        for batch in pq.ParquetFile(paths["parquet_small"]).iter_batches(batch_size=10_000):
            out.writelines(json.dumps(r, separators=(",", ":")) + "\n" for r in batch.to_pylist())
    paths["jsonl"].with_suffix(".tmp").rename(paths["jsonl"])
    with (
        pa.OSFile(str(paths["jsonl"]), "rb") as src,
        pa.output_stream(str(paths["jsonl_zst"]), compression="zstd") as dst,
    ):
        while chunk := src.read(1 << 24):
            dst.write(chunk)
    pacsv.write_csv(pq.read_table(paths["parquet_small"], columns=["id", "text"]), paths["csv"])
    return paths


# ---------------------------------------------------------------------------
# Measurement


def drain(batches: Iterable[Any]) -> int:
    n = 0
    for b in batches:
        n += b.num_rows
    return n


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def duel(ours: Callable[[], Any], theirs: Callable[[], Any], repeat: int) -> tuple[float, Any, float, Any, float]:
    """Runs of ``ours`` and ``theirs`` taken in turn (drift on a shared machine hits both),
    ``repeat`` of each and more for short reads (until 2 s in all, at most 15 each): the best
    time and last result of each, and the ratio of their median times (theirs / ours)."""
    mine: list[float] = []
    other: list[float] = []
    out_ours = out_theirs = None
    while len(mine) < repeat or (sum(mine) + sum(other) < 2.0 and len(mine) < 15):
        start = time.perf_counter()
        out_ours = ours()
        mine.append(time.perf_counter() - start)
        start = time.perf_counter()
        out_theirs = theirs()
        other.append(time.perf_counter() - start)
    return min(mine), out_ours, min(other), out_theirs, statistics.median(other) / statistics.median(mine)


_PROBE = r"""
import json, sys, time
kind, path, batch_size = sys.argv[1], sys.argv[2], int(sys.argv[3])
import pyarrow as pa, pyarrow.parquet as pq
import fast_axolotl as fa
def hwm():  # this process's peak RSS in KiB (ru_maxrss would include the parent's at fork)
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
base = hwm()
start = time.perf_counter()
if kind == "fa":
    it = iter(fa.read_batches(path, batch_size=batch_size))
elif kind == "fa_dicts":
    it = iter(fa.streaming_dataset_reader(path, batch_size=batch_size))
elif kind == "fa020":
    it = iter(fa.streaming_dataset_reader(path, "parquet", batch_size=batch_size, num_threads=2))
else:
    it = pq.ParquetFile(path).iter_batches(batch_size=batch_size)
first = next(it)
t_first = time.perf_counter() - start
n = len(first["id"]) if isinstance(first, dict) else first.num_rows
del first
for b in it:
    n += len(b["id"]) if isinstance(b, dict) else b.num_rows
total = time.perf_counter() - start
peak = hwm()
print(json.dumps({"first": t_first, "total": total, "rows": n, "base_kib": base, "peak_kib": peak}))
"""


def probe(python: str, kind: str, path: Path, batch_size: int) -> dict[str, float] | None:
    """Time to first batch, total time and peak RSS of one read in a fresh process."""
    if not Path(python).exists():
        return None
    env = dict(os.environ)
    cwd = "/tmp"  # never the repo root, whose fast_axolotl/ would shadow the installed one
    out = subprocess.run(
        [python, "-c", _PROBE, kind, str(path), str(batch_size)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=False,
    )
    if out.returncode != 0:
        print(f"  ({kind} probe failed: {out.stderr.strip().splitlines()[-1:]})", file=sys.stderr)
        return None
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def probe_median(python: str, kind: str, path: Path, batch_size: int, runs: int) -> dict[str, float] | None:
    """Each figure of ``probe`` as the median of ``runs`` fresh processes: one process's
    peak RSS varies by ~5% from run to run (449-475 MiB over 5 runs of the same read)."""
    found = []
    for _ in range(runs):
        r = probe(python, kind, path, batch_size)
        if r is None:  # already reported; the other runs would fail alike
            return None
        found.append(r)
    return {key: statistics.median(r[key] for r in found) for key in found[0]}


def hf_stream(builder: str, path: Path, batch_size: int) -> int:
    import datasets

    ds = datasets.load_dataset(builder, data_files=str(path), split="train", streaming=True)
    return sum(t.num_rows for t in ds.with_format("arrow").iter(batch_size=batch_size))


def table_row(what: str, size: str, ours: float, other: str, theirs: float | None, median: float | None = None) -> None:
    medians = "" if median is None else f" | {median:.2f}x"
    if theirs is None:
        print(f"| {what} | {size} | {ours:.3f} s | {other} | n/a | n/a{medians or ' | n/a'} |")
    else:
        print(
            f"| {what} | {size} | {ours:.3f} s | {other} | {theirs:.3f} s | {theirs / ours:.2f}x{medians or ' | -'} |"
        )
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a tenth of the data, one repetition")
    parser.add_argument("--rows", type=int, default=None, help="Parquet rows (default 1M, 100k with --quick)")
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/fast-axolotl-bench-reading"))
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--skip-hf", action="store_true", help="leave out Hugging Face datasets streaming")
    args = parser.parse_args()
    rows = args.rows or (100_000 if args.quick else 1_000_000)
    subset = rows // 5
    repeat = args.repeat or (1 if args.quick else 3)
    paths = make_data(args.data_dir, rows, subset)
    load = os.getloadavg()

    print("## Reading")
    print(
        f"fast-axolotl {fa.get_version()}, {os.cpu_count()} cores ({fa.thread_count()} threads), "
        f"pyarrow {pa.__version__}, Python {sys.version.split()[0]}; load average before the run "
        f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}; best of {repeat}"
    )
    for key, p in paths.items():
        print(f"- {key}: {p.name}, {p.stat().st_size / 1e6:.0f} MB")
    print()
    print(
        "| read | size | fast-axolotl | compared with | its time | ratio of best times (>1: we are faster)"
        " | ratio of median times |"
    )
    print("|---|---|---|---|---|---|---|")

    parquet = paths["parquet"]
    size = f"{rows // 1000}k rows"
    for batch_size in (65536, 1024):
        ours, n_ours, theirs, n_theirs, median = duel(
            lambda: drain(fa.read_batches(parquet, batch_size=batch_size)),  # noqa: B023
            lambda: drain(pq.ParquetFile(parquet).iter_batches(batch_size=batch_size)),  # noqa: B023
            repeat,
        )
        assert n_ours == n_theirs == rows, (n_ours, n_theirs)
        table_row(f"Parquet, batch {batch_size}", size, ours, "pyarrow `ParquetFile.iter_batches`", theirs, median)
    ours_proj, _, theirs_proj, _, median = duel(
        lambda: drain(fa.read_batches(parquet, batch_size=65536, columns=["input_ids"])),
        lambda: drain(pq.ParquetFile(parquet).iter_batches(batch_size=65536, columns=["input_ids"])),
        repeat,
    )
    table_row(
        "Parquet, `input_ids` only, batch 65536",
        size,
        ours_proj,
        "pyarrow `iter_batches(columns=)`",
        theirs_proj,
        median,
    )
    if not args.skip_hf:
        hf, _ = best(lambda: hf_stream("parquet", parquet, 1024), 1)
        ours_1k, _ = best(lambda: drain(fa.read_batches(parquet, batch_size=1024)), 1)
        table_row("Parquet, batch 1024", size, ours_1k, "HF `load_dataset(streaming=True)` arrow format", hf)

    for key, label, reference in (
        ("jsonl", "JSONL", lambda p: pajson.read_json(p)),
        ("jsonl_zst", "JSONL.zst", lambda p: pajson.read_json(pa.input_stream(str(p), compression="zstd"))),
        ("csv", "CSV (`id,text`)", lambda p: pacsv.read_csv(p)),
    ):
        path = paths[key]
        ours, n_ours, theirs, table, median = duel(
            lambda: drain(fa.read_batches(path, batch_size=65536)),  # noqa: B023
            lambda: reference(path),  # noqa: B023
            repeat,
        )
        assert n_ours == table.num_rows == subset, (n_ours, table.num_rows)
        mb = path.stat().st_size / 1e6
        table_row(
            f"{label}, batch 65536",
            f"{subset // 1000}k rows, {mb:.0f} MB",
            ours,
            "pyarrow read (whole file)",
            theirs,
            median,
        )
        if not args.skip_hf:
            builder = "csv" if key == "csv" else "json"
            hf, n_hf = best(lambda: hf_stream(builder, path, 1024), 1)  # noqa: B023
            assert n_hf == subset
            ours_1k, _ = best(lambda: drain(fa.read_batches(path, batch_size=1024)), 1)  # noqa: B023
            table_row(f"{label}, batch 1024", f"{subset // 1000}k rows", ours_1k, "HF streaming, arrow format", hf)

    print()
    fresh = 1 if args.quick else 3
    print(
        "Fresh processes (time to first batch, whole read, peak RSS over the process's RSS after imports;"
        f" medians of {fresh} processes each):"
    )
    print()
    print("| reader | file | first batch | whole read | peak RSS | RSS growth over imports |")
    print("|---|---|---|---|---|---|")
    small, large = paths["parquet_small"], paths["parquet_large"]
    results: dict[tuple[str, Path], dict[str, float] | None] = {}
    for label, python, kind, path in (
        ("fast-axolotl `read_batches` (Arrow)", sys.executable, "fa", small),
        ("fast-axolotl `streaming_dataset_reader` (dicts)", sys.executable, "fa_dicts", small),
        ("fast-axolotl 0.2.0 `streaming_dataset_reader`", OLD_PYTHON, "fa020", small),
        ("pyarrow `iter_batches`", sys.executable, "pyarrow", small),
        ("fast-axolotl `read_batches` (Arrow)", sys.executable, "fa", large),
        ("pyarrow `iter_batches`", sys.executable, "pyarrow", large),
    ):
        r = probe_median(python, kind, path, 1000, fresh)
        results[(kind, path)] = r
        if r is None:
            print(f"| {label} | {path.name} | n/a | n/a | n/a | n/a |")
            continue
        print(
            f"| {label} | {path.name} | {r['first'] * 1e3:.1f} ms | {r['total']:.2f} s | "
            f"{r['peak_kib'] / 1024:.0f} MiB | {(r['peak_kib'] - r['base_kib']) / 1024:.0f} MiB |"
        )
        sys.stdout.flush()
    print()
    ours_small, ours_large = results[("fa", small)], results[("fa", large)]
    pa_small, pa_large = results[("pyarrow", small)], results[("pyarrow", large)]
    if ours_small and ours_large:
        growth = ours_large["peak_kib"] / ours_small["peak_kib"] - 1
        print(
            f"- fast-axolotl peak RSS, {large.name} vs the 10x smaller {small.name}: {growth * 100:+.1f}% (bar: < +10%)"
        )
    if pa_small and pa_large:
        growth = pa_large["peak_kib"] / pa_small["peak_kib"] - 1
        print(f"- pyarrow peak RSS, same files: {growth * 100:+.1f}%")
    old, dicts = results[("fa020", small)], results[("fa_dicts", small)]
    if ours_small and old and dicts:
        print(
            f"- first batch vs 0.2.0 on {small.name}: {old['first'] / ours_small['first']:.0f}x faster as Arrow, "
            f"{old['first'] / dicts['first']:.0f}x as dicts; peak RSS {ours_small['peak_kib'] / 1024:.0f} MiB "
            f"(dicts {dicts['peak_kib'] / 1024:.0f} MiB) vs {old['peak_kib'] / 1024:.0f} MiB (bar: >= 10x faster, far lower RSS)"
        )


if __name__ == "__main__":
    main()
