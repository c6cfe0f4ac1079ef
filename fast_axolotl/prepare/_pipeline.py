"""One preparation run: read -> tokenize -> merge -> filter -> packing columns -> dedup -> save.

Each stage is timed (the summary's table) and reported to an optional progress object
(``fast_axolotl._cli.progress.Progress``'s ``counter`` interface).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..packing import _list_lengths
from . import _steps
from ._config import DatasetSpec, PrepConfig
from ._save import save
from ._strategies import TOKEN_COLUMNS, texts_per_row, tokenize
from ._tokenizer import BulkTokenizer

LOG = logging.getLogger("fast_axolotl.prepare")

#: Raw columns each type reads (the reader decodes only these).
NEEDED_COLUMNS = {"alpaca": ("instruction", "input", "output")}


@dataclass
class DatasetReport:
    path: str
    type: str
    rows_in: int = 0
    rows_tokenized: int = 0


@dataclass
class PrepareResult:
    path: Path
    dataset: Any  # the datasets.Dataset loaded back from ``path``
    datasets: list[DatasetReport] = field(default_factory=list)
    counts: _steps.StepCounts = field(default_factory=_steps.StepCounts)
    stages: dict[str, float] = field(default_factory=dict)


class _NoProgress:
    def counter(self, desc: str, unit: str, total: int | None = None) -> Any:
        from .._cli.progress import _NoBar

        return _NoBar()


@contextmanager
def _timed(stages: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        stages[name] = stages.get(name, 0.0) + time.perf_counter() - start


def _columns(spec: DatasetSpec, schema: pa.Schema) -> list[str] | None:
    """The raw columns to decode: all of a pre-tokenized file (it passes through), else
    those the type reads."""
    if all(name in schema.names for name in TOKEN_COLUMNS):
        return None
    if spec.chat is not None:
        wanted: tuple[str, ...] = (spec.chat.field_messages, "system", "tools")
    else:
        wanted = NEEDED_COLUMNS.get(spec.base_type, (spec.field,))
    return [n for n in schema.names if n in wanted]


def read_source(spec: DatasetSpec) -> pa.Table:
    """The raw rows of one ``datasets:`` entry (only the columns its type reads)."""
    from ..integration._loading import _our_format
    from ..reading import read_batches, read_table

    fmt = _our_format(spec.reader_format(), spec.path)
    schema = read_batches(spec.path, format=fmt).schema
    return read_table(spec.path, format=fmt, columns=_columns(spec, schema))


def _subsample(table: pa.Table, spec: DatasetSpec, cfg: PrepConfig) -> pa.Table:
    """``weight < 1``: ``shuffle(seed).select(range(max(1, int(rows * weight))))``."""
    if spec.weight is None or spec.weight >= 1.0 or not table.num_rows:
        return table
    keep = min(table.num_rows, max(1, int(table.num_rows * spec.weight)))
    order = _steps.permutation(table.num_rows, cfg.seed)[:keep]
    return table.take(pa.array(order, type=pa.int64()))


def run(cfg: PrepConfig, tokenizer: Any, output: Path, progress: Any = None) -> PrepareResult:
    """Prepare ``cfg``'s train datasets with ``tokenizer`` and save them at ``output``.

    Raises UnsupportedConfigError (nothing written) when a dataset or the tokenizer turns
    out to need Axolotl's own code."""
    progress = progress or _NoProgress()
    stages: dict[str, float] = {}
    reports: list[DatasetReport] = []
    tok = BulkTokenizer(tokenizer)
    tokenized: list[pa.Table] = []
    for spec in cfg.datasets:
        report = DatasetReport(spec.path, str(spec.raw.get("type")))
        with _timed(stages, "read"):
            raw = _subsample(read_source(spec), spec, cfg)
        report.rows_in = raw.num_rows
        with _timed(stages, "tokenize"), progress.counter(f"tokenizing {Path(spec.path).name}", "texts") as bar:
            bar.total = raw.num_rows * texts_per_row(spec)
            table = tokenize(raw, spec, cfg, tok, bar.update)
        report.rows_tokenized = table.num_rows
        reports.append(report)
        tokenized.append(table)
    counts = _steps.StepCounts()
    with _timed(stages, "merge + shuffle"):
        merged, order = _steps.merge(tokenized, cfg)
    with _timed(stages, "length filter"):
        merged, order = _steps.filter_lengths(merged, order, cfg, counts)
    with _timed(stages, "packing prep"):
        if cfg.sample_packing:
            order = _steps.drop_untrainable(merged, order, counts)
        table = _steps.materialize(merged, order, cfg.sample_packing)
    if cfg.dedup:
        with _timed(stages, "dedup"):
            table = _steps.deduplicate(table, counts)
    counts.rows = table.num_rows
    counts.tokens = int(_list_lengths(table.column("input_ids"), "input_ids").sum())
    with _timed(stages, "save"):
        dataset = save(table, output, cfg.dataset_num_proc, cfg.num_shards_to_save)
    return PrepareResult(Path(output), dataset, reports, counts, stages)
