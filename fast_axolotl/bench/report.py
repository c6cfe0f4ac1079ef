"""The benchmark table: the machine and versions, then one row per comparison."""

from __future__ import annotations

import os
import platform
import sys
from datetime import date
from importlib.metadata import PackageNotFoundError, version

import fast_axolotl as fa

from .cases import Row

COLUMNS = ("operation", "size", "native", "reference", "instead", "its time", "native vs instead")


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_lines(quick: bool) -> list[str]:
    packages = ["numpy", "pyarrow", "datasets", "transformers", "axolotl", "numba"]
    versions = ", ".join(f"{name} {_version(name)}" for name in packages)
    return [
        f"fast-axolotl {fa.__version__} ({fa.IMPLEMENTATION}), {date.today().isoformat()}, "
        f"{'--quick run, one timing' if quick else 'full run, best of 3'} per cell (native: best of 3 or more; "
        "a run over 2 s is timed once)",
        f"machine: {cpu_model()}, {os.cpu_count()} cores, {fa.thread_count()} native threads, "
        f"{platform.system()} {platform.machine()}",
        f"Python {sys.version.split()[0]}; {versions}",
    ]


def _time(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1e3:.2f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.0f} us"


def _cells(row: Row) -> list[str]:
    speedup = f"{row.instead_time / row.native:.1f}x" if row.native and row.instead_time else "n/a"
    return [
        row.operation,
        row.size,
        _time(row.native),
        _time(row.reference) + (f" ({row.reference_on})" if row.reference_on else ""),
        row.instead,
        _time(row.instead_time),
        speedup,
    ]


def text_table(rows: list[Row]) -> str:
    cells = [list(COLUMNS), *(_cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_markdown(rows: list[Row], header: list[str]) -> str:
    out = [f"{line}  " for line in header]
    out += ["", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    out += ["| " + " | ".join(_cells(r)) + " |" for r in rows]
    return "\n".join(out) + "\n"
