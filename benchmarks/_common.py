"""Shared helpers of the benchmark scripts: timing, backends, the 0.2.0 subprocess."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fast_axolotl as fa
from fast_axolotl import _backend

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import upstream as axo  # noqa: E402, F401  (Axolotl 0.21.0's own code, fetched from PyPI by tests/upstream.py)

# A Python with fast-axolotl 0.2.0 from PyPI (same import name as ours, so another venv).
OLD_PYTHON = os.environ.get("FAST_AXOLOTL_020_PYTHON", "")


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


def header(title: str) -> None:
    import numpy as np
    import pyarrow as pa

    print(f"## {title}")
    print(
        f"fast-axolotl {fa.get_version()}, {os.cpu_count()} cores "
        f"({fa.thread_count()} threads), numpy {np.__version__}, pyarrow {pa.__version__}, Python {sys.version.split()[0]}"
    )
    print()
    print("| operation | size | fast-axolotl native | compared with | its time | ratio |")
    print("|---|---|---|---|---|---|")


def row(operation: str, size: str, native: float, others: dict[str, float | None]) -> None:
    for name, other in others.items():
        if other is None:
            print(f"| {operation} | {size} | {native * 1e3:.2f} ms | {name} | n/a | n/a |")
        else:
            print(
                f"| {operation} | {size} | {native * 1e3:.2f} ms | {name} | {other * 1e3:.2f} ms | {other / native:.1f}x |"
            )
    sys.stdout.flush()


_OLD_SCRIPT = r"""
import pickle, sys, time, json, hashlib
import fast_axolotl as fa
op, payload, repeat = pickle.load(open(sys.argv[1], "rb"))
fn = getattr(fa, op)
times = []
for _ in range(repeat):
    t = time.perf_counter(); out = fn(*payload["args"], **payload["kwargs"]); times.append(time.perf_counter() - t)
print(json.dumps({"best": min(times), "out": hashlib.sha256(json.dumps(out, sort_keys=True).encode()).hexdigest()}))
"""


def time_old(op: str, args: tuple[Any, ...], kwargs: dict[str, Any], repeat: int) -> tuple[float, str] | None:
    """Best time of fast-axolotl 0.2.0's ``op`` and a digest of its output, or None."""
    if not OLD_PYTHON:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        payload = Path(tmp) / "payload.pkl"
        payload.write_bytes(pickle.dumps((op, {"args": args, "kwargs": kwargs}, repeat)))
        result = subprocess.run(
            [OLD_PYTHON, "-c", _OLD_SCRIPT, str(payload)], capture_output=True, text=True, cwd=tmp, check=True
        )
    data = json.loads(result.stdout.strip().splitlines()[-1])
    return float(data["best"]), str(data["out"])


def digest_of(value: Any) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()
