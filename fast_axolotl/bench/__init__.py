"""``fast-axolotl bench``: the benchmark suite shipped with the package.

Times each operation with the native backend, the pure-Python reference and what
users would run instead (pyarrow, Hugging Face datasets, hashlib, numpy, Axolotl's
own functions when installed) and prints one table with the machine and versions.
``--markdown`` writes the table the README shows."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .._cli.progress import Progress
from .cases import CASES, Plan, Row
from .report import machine_lines, render_markdown, text_table


def collect(quick: bool, progress: Progress | None = None) -> list[Row]:
    """Run every case (fixed seed) and return the rows."""
    plan = Plan(quick=quick)
    rng = np.random.default_rng(0)
    rows: list[Row] = []
    progress = progress or Progress(quiet=True)
    with tempfile.TemporaryDirectory(prefix="fast-axolotl-bench-") as tmp:
        for case in progress.iterate(CASES, desc="bench", unit="case"):
            rows.extend(case(plan, rng, Path(tmp)))
    return rows


def run(quick: bool, markdown: str | None, progress: Progress) -> int:
    """Print the table, or with ``markdown`` (a path, or ``-`` for stdout) write it as Markdown."""
    start = time.perf_counter()
    rows = collect(quick, progress)
    elapsed = time.perf_counter() - start
    lines = machine_lines(quick)
    if markdown is None:
        print("\n".join(lines))
        print()
        print(text_table(rows))
        print(f"\n(suite ran in {elapsed:.1f} s)")
        return 0
    document = render_markdown(rows, lines)
    if markdown == "-":
        sys.stdout.write(document)
    else:
        Path(markdown).write_text(document, encoding="utf-8")
        print(f"wrote the table to {markdown} (suite ran in {elapsed:.1f} s)")
    return 0
