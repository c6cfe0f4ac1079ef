"""Writing the prepared dataset where ``axolotl preprocess`` would, in its layout.

``save_preprocessed_dataset`` calls ``Dataset.save_to_disk(path, num_proc=min(max(1,
rows // 256), dataset_num_proc), num_shards=num_dataset_shards_to_save)``: ``num_proc``
workers are a spawn pool whose children re-import the entry point (torch included, ~2 s
each). We write the same shards (``datasets`` computes their number from ``num_proc`` and
the 500 MB shard size) in this process, into a temporary sibling directory renamed into
place, so a reader never sees a half-written dataset.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa

MIN_ROWS_PER_PROC = 256


def shard_count(rows: int, nbytes: int, dataset_num_proc: int, num_shards: int | None) -> int:
    if num_shards:
        return num_shards
    num_proc = min(max(1, rows // MIN_ROWS_PER_PROC), dataset_num_proc)
    import datasets

    max_shard = datasets.utils.py_utils.convert_file_size_to_int(datasets.config.MAX_SHARD_SIZE)
    count = max(int(nbytes / max_shard) + 1, num_proc)
    return max(1, min(rows, count))


def as_dataset(table: pa.Table) -> Any:
    import datasets
    from datasets.table import InMemoryTable

    return datasets.Dataset(InMemoryTable(table))


def save(table: pa.Table, path: Path, dataset_num_proc: int, num_shards: int | None) -> Any:
    """``table`` as a ``datasets`` folder at ``path`` (replacing one there); returns the
    memory-mapped Dataset loaded back from it."""
    import datasets

    dataset = as_dataset(table)
    estimate = getattr(dataset, "_estimate_nbytes", None)  # what save_to_disk sizes shards by
    nbytes = estimate() if callable(estimate) else table.nbytes
    shards = shard_count(table.num_rows, nbytes, dataset_num_proc, num_shards)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.fast-axolotl-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    bars_were_on = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # ours report the stage
    try:
        dataset.save_to_disk(str(staging), num_shards=shards)
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            os.replace(staging, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, path)
    finally:
        if bars_were_on:
            datasets.enable_progress_bars()
        shutil.rmtree(staging, ignore_errors=True)
    return datasets.load_from_disk(str(path))
