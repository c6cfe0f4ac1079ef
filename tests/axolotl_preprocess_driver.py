"""Run in a fresh process by test_axolotl_preprocess.py: what training would see.

``python axolotl_preprocess_driver.py CONFIG.yml OUT.json`` loads the config the way
``axolotl train`` does (so the YAML's ``plugins:`` decide whether fast-axolotl is
installed), loads the prepared dataset that ``axolotl preprocess`` saved, and writes:
the train/eval splits, ``total_num_steps``, the multipack sampler's length and batches
(a seeded RandomSampler, built like ``calculate_total_num_steps`` builds it) and
digests of the first collated batches (V2 collator, as ``build_collator`` picks it for
llama). Nothing here imports fast_axolotl: only the plugin can. With ``--plugin-hook``
the plugins' ``load_datasets(cfg, preprocess=False)`` is asked first, as ``axolotl
train`` asks it.
"""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Any


def _digest_table(dataset: Any) -> dict[str, Any]:
    table = dataset.data.table if hasattr(dataset.data, "table") else dataset.data
    if dataset._indices is not None:  # a dedup `select` keeps an indices mapping
        table = dataset.flatten_indices().data.table
    sha = hashlib.sha256()
    for name in table.column_names:
        sha.update(name.encode())
        sha.update(repr(table.column(name).to_pylist()).encode())
    return {"rows": table.num_rows, "columns": table.column_names, "sha256": sha.hexdigest()}


def _digest_batch(batch: Any) -> dict[str, str]:
    out = {}
    for key in sorted(batch):
        value = batch[key]
        out[key] = f"{tuple(value.shape)} {value.dtype} " + hashlib.sha256(value.numpy().tobytes()).hexdigest()
    return out


def main(config: str, out_path: str, plugin_hook: bool = False) -> None:
    import torch
    from axolotl.cli.args import TrainerCliArgs
    from axolotl.cli.config import load_cfg
    from axolotl.common.datasets import load_datasets
    from axolotl.loaders import load_tokenizer
    from axolotl.utils.collators import V2BatchSamplerDataCollatorForSeq2Seq
    from axolotl.utils.samplers import MultipackBatchSampler, get_dataset_lengths
    from torch.utils.data import RandomSampler

    cfg = load_cfg(config)
    torch.manual_seed(cfg.seed or 0)  # calculate_total_num_steps draws from the global RNG
    hooked = None
    if plugin_hook:  # as `axolotl train` does: the plugins are asked first
        from axolotl.integrations.base import PluginManager

        hooked = PluginManager.get_instance().load_datasets(cfg, preprocess=False)
    meta = hooked or load_datasets(cfg=cfg, cli_args=TrainerCliArgs())
    train, evaluation = meta.train_dataset, meta.eval_dataset

    sampler = MultipackBatchSampler(
        sampler=RandomSampler(train, generator=torch.Generator().manual_seed(1234)),
        lengths=get_dataset_lengths(train),
        batch_size=1,
        batch_max_len=cfg.micro_batch_size * cfg.sequence_len,
        group_size=cfg.sample_packing_group_size,
        bin_size=cfg.sample_packing_bin_size,
        sequential=cfg.sample_packing_sequentially,
        drop_last=True,
        num_processes=cfg.dataset_num_proc,
    )
    batches = [[list(map(int, b)) for b in batch] for batch in sampler]
    rows = train.remove_columns(["length"])
    collator = V2BatchSamplerDataCollatorForSeq2Seq(
        tokenizer=load_tokenizer(cfg), padding=True, pad_to_multiple_of=cfg.sequence_len, return_tensors="pt"
    )
    collated = [_digest_batch(collator([rows.__getitems__(b) for b in batch])) for batch in batches[:16]]

    fast = sys.modules.get("fast_axolotl.integration")
    result = {
        "fast_axolotl": fast.report() if fast is not None else None,
        "hook_returned": None if hooked is None else type(hooked).__name__,
        "train": _digest_table(train),
        "eval": _digest_table(evaluation) if evaluation is not None else None,
        "total_num_steps": meta.total_num_steps,
        "sampler_len": len(sampler),
        "efficiency": sampler.efficiency(),
        "batches": batches,
        "collated": collated,
    }
    with open(out_path, "w", encoding="utf-8") as fh:
        json.dump(result, fh)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], plugin_hook="--plugin-hook" in sys.argv[3:])
