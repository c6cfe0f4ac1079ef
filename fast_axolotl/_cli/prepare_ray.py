"""``fast-axolotl prepare --ray``: the same job as ``prepare`` (read -> deduplicate -> pack ->
write), on a Ray cluster, writing Parquet shards ``part-00000.parquet``... in row order.

Shards are written into a hidden folder beside the output and moved into place only when
every one of them is written: a failed job leaves nothing that looks complete.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import InvalidArgumentError
from .multipack import bins_table, sample_lengths
from .prepare import Summary, pack_table
from .progress import Progress

_ADDRESS = re.compile(r"^(ray://.+|[\w.-]+:\d+)$")


#: ``--pack`` rows packed together when ``--batch-rows`` is not given: on a cluster the rows
#: cannot all be one batch (one machine's ``prepare`` packs them so by default).
RAY_BATCH_ROWS = 100_000


def split_address(value: str, inputs: list[str]) -> tuple[str | None, list[str]]:
    """``--ray`` takes an optional address: ``auto`` (a running cluster), ``local`` (start one
    here), ``ray://HOST:PORT`` or ``HOST:PORT``. Anything else given right after it is the
    first INPUT (``--ray data/`` means ``--ray auto data/``)."""
    if value in ("auto", "local") or (_ADDRESS.match(value) and not os.path.exists(value)):
        return (None if value == "local" else value), inputs
    return "auto", [value, *inputs]


def _spans_task(span: Any, args: dict[str, Any], *tables: pa.Table) -> tuple[pa.Table, dict[str, int]]:
    """Pack (``--pack``) or bin (``--multipack``) one span of whole groups."""
    from types import SimpleNamespace

    from ..distributed._blocks import gather

    table = gather(span.pieces, tables)
    stats = {"tokens_slots": 0, "tokens": 0, "bins": 0, "over": 0}
    opts = SimpleNamespace(**args)
    if args["pack"] is not None:
        parts = []
        for start in range(0, table.num_rows, args["batch_rows"]):
            piece = table.slice(start, args["batch_rows"])
            sample_lengths(piece)
            packed, filled = pack_table(piece, opts)
            parts.append(packed)
            stats["tokens"] += filled
            stats["tokens_slots"] += packed.num_rows * args["pack"]
        return pa.concat_tables(parts), stats
    import fast_axolotl as fa

    lengths = sample_lengths(table)
    parts = []
    for start in range(0, table.num_rows, args["group_size"]):
        group, group_lengths = table.slice(start, args["group_size"]), lengths[start : start + args["group_size"]]
        indices, offsets = fa.pack_bins(
            group_lengths, args["multipack"], bin_size=args["bin_size"], group_size=args["group_size"], as_arrays=True
        )
        parts.append(bins_table(group, group_lengths, np.asarray(indices), np.asarray(offsets)))
        stats["bins"] += len(offsets) - 1
    stats["tokens"] = int(lengths.sum())
    stats["tokens_slots"] = stats["bins"] * args["multipack"]
    stats["over"] = int((lengths > args["multipack"]).sum())
    return pa.concat_tables(parts), stats


def _write_shard(table: pa.Table, path: str) -> int:
    import pyarrow.parquet as pq

    pq.write_table(table, path)
    return int(table.num_rows)


def _wait(refs: list[Any], progress: Progress, desc: str, unit: str = "tasks") -> list[Any]:
    """Results of ``refs`` in order, a bar advancing as tasks finish."""
    import ray

    from ..distributed._blocks import our_errors

    pending = list(refs)
    with our_errors(), progress.counter(desc, unit, total=len(refs)) as bar:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            bar.update(len(done))
        return list(ray.get(refs))


def run(args: argparse.Namespace) -> int:
    import ray

    from .. import distributed as fd
    from ..distributed._blocks import block_rows, ordered_blocks, run_spans, spans, target_rows

    start = time.perf_counter()
    progress = Progress(args.quiet)
    say = (lambda _: None) if args.quiet else print
    address, inputs = split_address(args.ray, list(args.inputs))
    if not inputs:
        raise InvalidArgumentError("prepare --ray needs INPUT files (the bundled sample is for one machine)")
    if not args.output:
        raise InvalidArgumentError("prepare --ray needs -o OUT/ (a folder for the Parquet shards)")
    if args.format not in (None, "parquet"):
        raise InvalidArgumentError("prepare --ray writes Parquet shards (--format parquet)")
    out = Path(args.output)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InvalidArgumentError(f"-o {args.output}: must be a new or empty folder")

    if args.pack is not None and not args.batch_rows:
        args.batch_rows = RAY_BATCH_ROWS
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    except ConnectionError as exc:
        raise InvalidArgumentError(
            f"--ray {args.ray}: no Ray cluster there ({exc}); start one with `ray start --head`, "
            "or pass --ray local to start one here"
        ) from None
    say(f"ray: {len(ray.nodes())} node(s), {int(ray.cluster_resources().get('CPU', 0))} CPUs")
    summary = Summary(inputs=len(inputs))
    ds = fd.read(inputs, columns=args.columns)
    blocks = ordered_blocks(ds)
    counts = block_rows(blocks)
    summary.rows_in = sum(counts)
    if args.dedupe:
        kept = fd.deduplicate(ray.data.from_arrow_refs(blocks)) if blocks else None
        if kept is not None:
            blocks = ordered_blocks(kept)
            counts = block_rows(blocks)
        summary.duplicates = summary.rows_in - sum(counts)
    if args.pack is not None or args.multipack is not None:
        unit = args.batch_rows if args.pack is not None else args.group_size
        plan = spans(counts, unit, target_rows(counts))
        options = {
            "pack": args.pack,
            "multipack": args.multipack,
            "batch_rows": args.batch_rows,
            "group_size": args.group_size,
            "bin_size": args.bin_size,
            "pad_token_id": args.pad_token_id,
            "eos_token_id": args.eos_token_id,
            "overflow": args.overflow,
        }
        task = ray.remote(_spans_task).options(num_returns=2)
        outs = run_spans(blocks, plan, task, options)
        blocks = [o[0] for o in outs]
        stats = _wait([o[1] for o in outs], progress, "packing" if args.pack is not None else "binning")
        slots = sum(s["tokens_slots"] for s in stats)
        summary.efficiency = sum(s["tokens"] for s in stats) / slots if slots else None
        if args.pack is not None:
            summary.notes.append(f"packed in batches:  {args.batch_rows:,} rows each")
        over = sum(s["over"] for s in stats)
        if over:
            summary.notes.append(
                f"over capacity:      {over:,} row(s) longer than {args.multipack}, each alone in a bin"
            )
    # Written beside the output, then moved in: a failed job leaves no complete-looking OUT.
    staging = out.parent / f".{out.name}.fast-axolotl-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    try:
        write = ray.remote(_write_shard)
        rows = _wait(
            [write.remote(b, str(staging / f"part-{i:05d}.parquet")) for i, b in enumerate(blocks)], progress, "writing"
        )
        summary.rows_out = sum(rows)
        out.mkdir(parents=True, exist_ok=True)
        for i in range(len(blocks)):
            os.replace(staging / f"part-{i:05d}.parquet", out / f"part-{i:05d}.parquet")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for line in summary.lines(time.perf_counter() - start, args.output, f"parquet, {len(blocks)} shard(s)"):
        say(line)
    return 0
