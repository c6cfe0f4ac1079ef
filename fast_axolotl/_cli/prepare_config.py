"""``fast-axolotl prepare CONFIG.yml``: Axolotl's preparation of the config's datasets,
without importing torch or Axolotl, into the directory ``axolotl preprocess`` would
write (or ``-o DIR``); then a summary per dataset and per stage.

A config the pipeline cannot reproduce exactly is refused with one line naming the key
(exit status 2): run ``axolotl preprocess`` for it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..errors import UnsupportedConfigError
from .progress import Progress

#: prepare's options that belong to the INPUT-files mode.
_FILE_MODE_OPTIONS = ("dedupe", "pack", "multipack", "columns", "format", "ray", "batch_rows")


def is_config(inputs: list[str]) -> bool:
    return len(inputs) == 1 and inputs[0].lower().endswith((".yml", ".yaml"))


def run(args: argparse.Namespace) -> int:
    from .. import prepare

    config = args.inputs[0]
    given = [f"--{name.replace('_', '-')}" for name in _FILE_MODE_OPTIONS if getattr(args, name, None)]
    if given:
        print(
            f"fast-axolotl prepare {config}: {', '.join(given)} apply to INPUT files, not to a config", file=sys.stderr
        )
        return 2
    say = (lambda _: None) if args.quiet else print
    progress = Progress(args.quiet)
    start = time.perf_counter()
    try:
        cfg = prepare.load_config(config)
        plan = prepare.read_config(cfg)
        loaded = time.perf_counter()
        tokenizer = prepare.load_tokenizer(cfg)
        tokenizer_seconds = time.perf_counter() - loaded
        target = Path(args.output) if args.output else prepare.prepared_path(cfg, plan.tokenizer_name)
        result = prepare.run(plan, tokenizer, target, progress)
    except UnsupportedConfigError as why:
        print(
            f"fast-axolotl prepare: {config} is not one fast-axolotl prepares exactly as Axolotl: {why} "
            "(use `axolotl preprocess` for it)",
            file=sys.stderr,
        )
        return 2
    elapsed = time.perf_counter() - start
    for report in result.datasets:
        say(f"{report.path} ({report.type}): {report.rows_in:,} rows in, {report.rows_tokenized:,} tokenized rows")
    counts = result.counts
    say(f"dropped (length):   {counts.dropped_length:,} outside [{plan.min_sample_len or 2}, {plan.sequence_len}]")
    if plan.sample_packing:
        say(f"dropped (labels):   {counts.dropped_untrainable:,} without a trainable token")
    if plan.dedup:
        say(f"duplicates removed: {counts.duplicates:,}")
    say(f"rows out:           {counts.rows:,} ({counts.tokens:,} tokens)")
    stages = {"tokenizer load": tokenizer_seconds, **result.stages}
    say("time per stage:     " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in stages.items()))
    say(f"time:               {elapsed:.2f} s")
    say(f"written:            {result.path}")
    return 0
