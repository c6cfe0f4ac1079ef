"""``fast-axolotl prepare``: read -> deduplicate -> pack -> write, then a summary."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from .multipack import bins_table, sample_lengths
from .progress import Progress
from .writing import output_format, write

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample_chat.jsonl.gz"
READ_BATCH_ROWS = 10_000


@dataclass
class Summary:
    inputs: int = 0
    rows_in: int = 0
    duplicates: int = 0
    rows_out: int = 0
    tokens: int = 0  # input_ids tokens read (0 without an input_ids column): the tokens/s figure
    efficiency: float | None = None
    notes: list[str] = field(default_factory=list)

    def lines(self, elapsed: float, output: str | None, fmt: str | None) -> list[str]:
        rate = f", {self.tokens / elapsed:,.0f} tokens/s" if self.tokens and elapsed > 0 else ""
        lines = [
            f"rows in:            {self.rows_in:,} from {self.inputs} input(s)",
            f"duplicates removed: {self.duplicates:,}",
            f"rows out:           {self.rows_out:,}",
        ]
        if self.efficiency is not None:
            lines.append(f"packing efficiency: {self.efficiency:.1%} of the token slots hold tokens")
        lines += self.notes
        lines.append(f"time:               {elapsed:.2f} s ({self.rows_in / max(elapsed, 1e-9):,.0f} rows/s{rate})")
        lines.append(f"written:            {output} ({fmt})" if output else "written:            nothing (no -o)")
        return lines


def _read(inputs: list[str], columns: list[str] | None, progress: Progress) -> pa.Table:
    import fast_axolotl as fa

    reader = fa.read_batches(inputs, batch_size=READ_BATCH_ROWS, columns=columns)
    batches = []
    with progress.counter("reading", "rows") as bar:
        for batch in reader:
            batches.append(batch)
            bar.update(batch.num_rows)
    return pa.Table.from_batches(batches, schema=reader.schema)


def pack_table(table: pa.Table, args: Any) -> tuple[pa.Table, int]:
    """``input_ids`` of ``table`` packed into rows of ``args.pack`` tokens (one
    ``pack_sequences`` call: one batch), and how many token slots hold tokens."""
    import fast_axolotl as fa

    packed = fa.pack_sequences(
        table.column("input_ids"),
        args.pack,
        args.pad_token_id,
        args.eos_token_id,
        overflow=args.overflow,
        return_position_ids=True,
    )
    width = packed["input_ids"].shape[1]
    columns = {
        key: pa.FixedSizeListArray.from_arrays(pa.array(value.reshape(-1)), width) for key, value in packed.items()
    }
    return pa.table(columns), int(packed["attention_mask"].sum())


def _pack(table: pa.Table, args: argparse.Namespace, summary: Summary) -> pa.Table:
    """All rows as one batch, or (``--batch-rows``) each batch of that many rows on its own,
    as Axolotl's streaming packing and ``prepare --ray`` do."""
    step = args.batch_rows or max(table.num_rows, 1)
    parts, filled = [], 0
    for start in range(0, max(table.num_rows, 1), step):
        packed, tokens = pack_table(table.slice(start, step), args)
        parts.append(packed)
        filled += tokens
    rows = sum(p.num_rows for p in parts)
    summary.efficiency = filled / max(rows * args.pack, 1)
    if args.batch_rows:
        summary.notes.append(f"packed in batches:  {args.batch_rows:,} rows each")
    return pa.concat_tables(parts)


def _multipack(table: pa.Table, args: argparse.Namespace, summary: Summary, lengths: np.ndarray) -> pa.Table:
    import fast_axolotl as fa

    indices, offsets = fa.pack_bins(
        lengths, args.multipack, bin_size=args.bin_size, group_size=args.group_size, as_arrays=True
    )
    bins = offsets.size - 1
    summary.efficiency = float(lengths.sum()) / max(bins * args.multipack, 1)
    over = int((lengths > args.multipack).sum())
    if over:
        summary.notes.append(f"over capacity:      {over:,} row(s) longer than {args.multipack}, each alone in a bin")
    return bins_table(table, lengths, np.asarray(indices), np.asarray(offsets))


def run(args: argparse.Namespace) -> int:
    import fast_axolotl as fa

    from . import prepare_config

    if prepare_config.is_config(args.inputs):
        return prepare_config.run(args)
    if args.ray is not None:
        from .prepare_ray import run as run_on_ray

        return run_on_ray(args)
    start = time.perf_counter()
    progress = Progress(args.quiet)
    say = (lambda _: None) if args.quiet else print
    fmt = output_format(args.output, args.format) if args.output else None
    inputs = args.inputs or [str(SAMPLE)]
    if not args.inputs:
        say(f"no INPUT given: using the bundled sample {SAMPLE.name} (tokenized chat rows, some duplicated)")

    summary = Summary(inputs=len(inputs))
    table = _read(inputs, args.columns, progress)
    summary.rows_in = table.num_rows
    if "input_ids" in table.column_names:
        summary.tokens = int(sample_lengths(table).sum())
    if args.dedupe:
        with progress.counter("deduplicating", "rows", total=table.num_rows) as bar:
            table, _ = fa.deduplicate(table)
            bar.update(summary.rows_in)
        summary.duplicates = summary.rows_in - table.num_rows
    if args.pack is not None:
        sample_lengths(table)  # a clear error when input_ids is missing or null
        table = _pack(table, args, summary)
    elif args.multipack is not None:
        table = _multipack(table, args, summary, sample_lengths(table))
    summary.rows_out = table.num_rows
    if args.output:
        write(table, args.output, fmt or "parquet", progress)
    for line in summary.lines(time.perf_counter() - start, args.output, fmt):
        say(line)
    return 0
