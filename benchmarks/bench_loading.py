"""Axolotl's dataset loading with and without ``dataset_use_rust_streaming``: a local JSONL
file loaded by ``datasets.load_dataset("json", ...)`` (what Axolotl calls; cold cache)
against the plugin's loader (``fast_axolotl.integration._loading.load_local``; cold
cache), each in a fresh process, wall time and peak RSS; and the streaming variant
(``streaming=True``, every row iterated in batches of 1000) on the file and on one a
tenth its size (peak RSS must stay flat).

    python benchmarks/bench_loading.py [--mb 1024] [--runs 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, os, resource, sys, time
mode, path, cache = sys.argv[1:4]
os.environ["HF_DATASETS_CACHE"] = cache
import datasets
datasets.disable_progress_bars()
if "ours" in mode and not mode.startswith("axolotl-"):
    from fast_axolotl.integration._loading import load_local  # imports are not timed, in any mode
started = time.perf_counter()
if mode.startswith("axolotl-"):
    # Axolotl's own entry point, patched by `import fast_axolotl`; the plugin's config decides.
    import fast_axolotl
    from axolotl.utils.data.shared import load_dataset_with_config
    from axolotl.utils.dict import DictDefault
    from fast_axolotl.integration._loading import set_config
    if mode == "axolotl-ours":
        set_config({"dataset_use_rust_streaming": True})
    started = time.perf_counter()  # imports (torch) excluded, as for the other modes
    ds = load_dataset_with_config(DictDefault({"path": path, "ds_type": "json", "type": "alpaca"}), False)
    rows = ds.num_rows
    if mode == "axolotl-ours":
        assert any("fast_axolotl" in f["filename"] for f in ds.cache_files), ds.cache_files
elif mode == "datasets":
    ds = datasets.load_dataset("json", data_files=path, split="train", cache_dir=cache)
    rows = ds.num_rows
elif mode == "ours":
    ds = load_local("json", [path], streaming=False)
    assert ds is not None, "the loader refused the file"
    rows = ds.num_rows
else:
    kind = mode.split("-")[1]
    if kind == "datasets":
        ds = datasets.load_dataset("json", data_files=path, split="train", streaming=True)
    else:
        ds = load_local("json", [path], streaming=True)
        assert ds is not None
    rows = sum(len(b["instruction"]) for b in ds.iter(batch_size=1000))
elapsed = time.perf_counter() - started
print(json.dumps({"seconds": elapsed, "rows": rows, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def write_jsonl(path: Path, megabytes: int) -> int:
    rows = 0
    target = megabytes << 20
    with path.open("w", encoding="utf-8") as fh:
        while fh.tell() < target:
            block = []
            for i in range(rows, rows + 10_000):
                block.append(json.dumps({
                    "instruction": f"Explain item {i} in detail, please.",
                    "input": "" if i % 3 else f"context {i} " * (i % 11),
                    "output": ("word " * (20 + i % 300)).strip(),
                    "id": i,
                }))  # fmt: skip
            fh.write("\n".join(block) + "\n")
            rows += len(block)
    return rows


def run(mode: str, path: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as cache:
        done = subprocess.run([sys.executable, "-c", CHILD, mode, str(path), cache], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{mode}: {done.stderr[-3000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument(
        "--axolotl", action="store_true", help="also load through Axolotl's load_dataset_with_config (needs Axolotl)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-loading-") as tmp:
        big, small = Path(tmp) / "big.jsonl", Path(tmp) / "small.jsonl"
        t = time.perf_counter()
        n_big = write_jsonl(big, args.mb)
        n_small = write_jsonl(small, max(1, args.mb // 10))
        print(f"wrote {big.stat().st_size / 2**20:.0f} MiB ({n_big} rows) and {small.stat().st_size / 2**20:.0f} MiB "
              f"({n_small} rows) in {time.perf_counter() - t:.1f} s; {os.cpu_count()} cores")  # fmt: skip
        results: dict[str, list[dict[str, float]]] = {}
        for _ in range(args.runs):  # interleaved, so that drift hits both
            for mode in ("datasets", "ours", *(("axolotl-datasets", "axolotl-ours") if args.axolotl else ())):
                results.setdefault(mode, []).append(run(mode, big))
        for mode in ("stream-datasets", "stream-ours"):
            for label, path in (("small", small), ("big", big)):
                results[f"{mode} {label}"] = [run(mode, path)]
        best = {k: min(v, key=lambda r: r["seconds"]) for k, v in results.items()}
        print(f"\n{'load':<24} {'seconds':>9} {'peak RSS MiB':>13} {'rows':>10}")
        for key, r in best.items():
            print(f"{key:<24} {r['seconds']:9.2f} {r['peak_rss_mib']:13.0f} {int(r['rows']):10d}")
        assert best["datasets"]["rows"] == best["ours"]["rows"]
        print(
            f"\nload_dataset / ours (non-streaming, cold caches): {best['datasets']['seconds'] / best['ours']['seconds']:.2f}x"
        )
        if args.axolotl:
            ratio = best["axolotl-datasets"]["seconds"] / best["axolotl-ours"]["seconds"]
            print(f"Axolotl load_dataset_with_config, without / with dataset_use_rust_streaming: {ratio:.2f}x")
        for mode in ("stream-datasets", "stream-ours"):
            s, b = best[f"{mode} small"], best[f"{mode} big"]
            print(f"{mode}: peak RSS {s['peak_rss_mib']:.0f} MiB ({args.mb // 10} MB file) -> {b['peak_rss_mib']:.0f} MiB "
                  f"({args.mb} MB file), {100 * (b['peak_rss_mib'] / s['peak_rss_mib'] - 1):+.1f}%; {b['seconds']:.2f} s")  # fmt: skip
        print(
            f"streaming, load_dataset / ours: {best['stream-datasets big']['seconds'] / best['stream-ours big']['seconds']:.2f}x"
        )


if __name__ == "__main__":
    main()
