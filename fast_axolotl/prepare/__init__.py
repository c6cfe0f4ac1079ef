"""Axolotl's dataset preparation without Axolotl's per-row Python: ``prepare_config``.

Given an Axolotl config (a YAML path, a raw mapping, or Axolotl's validated config) and
the tokenizer, writes the prepared train dataset that ``axolotl preprocess`` would write,
in the same ``dataset_prepared_path/<hash>`` directory, with the same rows, columns and
Arrow types. The types covered and their semantics are those of Axolotl 0.21: see
:mod:`fast_axolotl.prepare._strategies` and :mod:`fast_axolotl.prepare._steps`; anything
else raises :class:`~fast_axolotl.errors.UnsupportedConfigError` naming the key, before
anything is written.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import UnsupportedConfigError
from ._chat import apply_config_template
from ._config import PrepConfig, apply_axolotl_defaults, read_config
from ._hash import prepared_dataset_hash
from ._pipeline import DatasetReport, PrepareResult, run

__all__ = [
    "DatasetReport",
    "PrepConfig",
    "PrepareResult",
    "UnsupportedConfigError",
    "load_config",
    "load_tokenizer",
    "prepare_config",
    "prepared_path",
    "read_config",
    "run",
]


def load_config(config: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, Any]:
    """A YAML file (or a raw mapping) with Axolotl's defaults for the keys used here."""
    if isinstance(config, Mapping):
        raw = dict(config)
    else:
        import yaml

        with open(config, encoding="utf-8") as fh:
            raw = yaml.safe_load(fh) or {}
        if not isinstance(raw, dict):
            raise UnsupportedConfigError("config", f"{os.fspath(config)} does not hold a mapping")
    return apply_axolotl_defaults(raw)


def _tokenizer_class(name: str) -> Any:
    """The class named by a local ``tokenizer_config.json`` (``tokenizer_class``), as
    AutoTokenizer resolves it, or None. Naming the class avoids AutoTokenizer's import of
    the model configuration code, which imports torch (~3-5 s)."""
    import json

    config_file = Path(name) / "tokenizer_config.json"
    if not config_file.is_file():
        return None
    try:
        class_name = json.loads(config_file.read_text(encoding="utf-8")).get("tokenizer_class")
    except (OSError, ValueError):
        return None
    if not isinstance(class_name, str):
        return None
    import transformers

    for candidate in (class_name, class_name.removesuffix("Fast"), f"{class_name}Fast"):
        try:
            return getattr(transformers, candidate)
        except (AttributeError, ImportError):
            continue
    return None


def load_tokenizer(cfg: Mapping[str, Any]) -> Any:
    """The tokenizer Axolotl's ``load_tokenizer`` would give for the keys ``read_config``
    accepts (``AutoTokenizer.from_pretrained(tokenizer_config)``; the pad-token fixes it
    applies change no id; a top-level ``chat_template`` becomes its template)."""
    kwargs: dict[str, Any] = {}
    if cfg.get("tokenizer_legacy") is not None:
        kwargs["legacy"] = cfg["tokenizer_legacy"]
    if cfg.get("revision_of_model"):
        kwargs["revision"] = cfg["revision_of_model"]
    name = cfg.get("tokenizer_config") or cfg.get("base_model")
    cls = _tokenizer_class(str(name)) if not cfg.get("trust_remote_code") else None
    if cls is None:
        from transformers import AutoTokenizer

        cls = AutoTokenizer
    tokenizer = cls.from_pretrained(name, trust_remote_code=bool(cfg.get("trust_remote_code")), use_fast=True, **kwargs)
    if type(tokenizer).__name__ == "GPTNeoXTokenizerFast":
        raise UnsupportedConfigError("tokenizer", "Axolotl adds a [PAD] token to GPT-NeoX tokenizers")
    apply_config_template(tokenizer, cfg)
    return tokenizer


def prepared_path(cfg: Mapping[str, Any], tokenizer_name: str) -> Path:
    root = cfg.get("dataset_prepared_path") or "last_run_prepared"
    return Path(root) / prepared_dataset_hash(cfg, tokenizer_name)


def prepare_config(
    config: str | os.PathLike[str] | Mapping[str, Any],
    *,
    tokenizer: Any = None,
    output_dir: str | os.PathLike[str] | None = None,
    progress: Any = None,
) -> PrepareResult:
    """Prepare the train datasets of ``config`` as ``axolotl preprocess`` would.

    ``output_dir`` replaces ``dataset_prepared_path/<hash>``. Raises
    UnsupportedConfigError when the config needs Axolotl's own code."""
    cfg = load_config(config)
    plan = read_config(cfg)
    if tokenizer is None:
        tokenizer = load_tokenizer(cfg)
    target = Path(output_dir) if output_dir is not None else prepared_path(cfg, plan.tokenizer_name)
    return run(plan, tokenizer, target, progress)
