"""``FastAxolotlPlugin.load_datasets``: Axolotl's whole SFT preparation done by
:mod:`fast_axolotl.prepare`, when the config is one it reproduces exactly.

``axolotl preprocess`` and ``axolotl train`` ask the plugins first. For a config the
pipeline covers, the prepared dataset is written in the directory Axolotl's own
``generate_dataset_hash_from_config`` names, with the tokenizer Axolotl's
``load_tokenizer`` gives:

- ``preprocess``: the prepared train dataset is returned (``axolotl preprocess`` only
  needs it written);
- ``train``: None is returned once the directory exists, so Axolotl's loader finds it and
  does what follows the cache (shards, ``val_set_size`` split with its second dedup, the
  step count) with its own code.

Anything the pipeline does not reproduce (another dataset type, RL, streaming, a key of
``fast_axolotl.prepare._config.REFUSED_TOP_LEVEL``...) returns None before anything is
written, with one log line naming the key: Axolotl prepares it all.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import UnsupportedConfigError
from ._core import disabled

#: Axolotl shows INFO lines only from loggers named axolotl.*; its integrations log as
#: axolotl.integrations.<name>.
LOG = logging.getLogger("axolotl.integrations.fast_axolotl")


def _summary(result: Any) -> str:
    counts = result.counts
    stages = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in result.stages.items())
    rows_in = sum(d.rows_in for d in result.datasets)
    return (
        f"fast-axolotl prepared {counts.rows:,} rows ({counts.tokens:,} tokens) from {rows_in:,} raw rows "
        f"at {result.path}: {counts.dropped_length:,} outside the length range, {counts.dropped_untrainable:,} "
        f"without trainable tokens, {counts.duplicates:,} duplicates dropped; {stages}"
    )


@contextmanager
def _tokenizer_threads() -> Iterator[None]:
    """Axolotl's CLI sets ``TOKENIZERS_PARALLELISM=false`` (``os.environ.setdefault`` at
    import) because ``datasets`` forks workers that tokenize. The pipeline forks none, so
    for its run the tokenizer's ``encode_batch`` gets its threads back (one per core),
    unless ``FAST_AXOLOTL_NUM_THREADS=1``; the variable is restored afterwards (a process
    forked later sees Axolotl's value, and tokenizers turns its threads off in a fork)."""
    before = os.environ.get("TOKENIZERS_PARALLELISM")
    if os.environ.get("FAST_AXOLOTL_NUM_THREADS", "").strip() != "1":
        os.environ["TOKENIZERS_PARALLELISM"] = "true"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TOKENIZERS_PARALLELISM", None)
        else:
            os.environ["TOKENIZERS_PARALLELISM"] = before


def prepare_for_axolotl(cfg: Any, preprocess: bool) -> Any:
    """The plugin hook's answer: a TrainDatasetMeta (preprocess), or None."""
    if disabled() or cfg.get("fast_axolotl_prepare") is False:
        return None
    from ..prepare import read_config, run

    try:
        plan = read_config(cfg)
    except UnsupportedConfigError as why:
        LOG.info("fast-axolotl: Axolotl prepares the datasets itself (%s)", why)
        return None
    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
        LOG.info("fast-axolotl: Axolotl prepares the datasets itself (WORLD_SIZE > 1: its ranks share a lock)")
        return None
    from axolotl.loaders import load_tokenizer
    from axolotl.utils.data.shared import generate_dataset_hash_from_config, get_prepared_dataset_path

    tokenizer = load_tokenizer(cfg)
    path = get_prepared_dataset_path(cfg, generate_dataset_hash_from_config(cfg, cfg.datasets, tokenizer.name_or_path))
    if not preprocess and path.is_dir() and any(path.glob("*")):
        return None  # prepared before: Axolotl's loader reads it
    try:
        with _tokenizer_threads():
            result = run(plan, tokenizer, path)
    except UnsupportedConfigError as why:
        LOG.info("fast-axolotl: Axolotl prepares the datasets itself (%s)", why)
        return None
    LOG.info(_summary(result))
    if not preprocess:
        return None
    from axolotl.common.datasets import TrainDatasetMeta

    return TrainDatasetMeta(train_dataset=result.dataset, eval_dataset=None, total_num_steps=None)
