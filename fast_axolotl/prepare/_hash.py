"""The name of the prepared-dataset directory, as Axolotl 0.21 computes it.

``axolotl.utils.data.shared.generate_dataset_hash_from_config``: the MD5 of
``sequence_len@sample_packing@eval_sample_packing@group_by_length@kd_temperature@
dedup@deepspeed_cp|<per-dataset keys, sorted>|<base strings, sorted>|<tokenizer>``,
plus a canonical JSON of selected config and dataset keys when any is set. The plugin
calls Axolotl's own function; this one serves ``fast-axolotl prepare CONFIG.yml``
(no Axolotl import), and the ``nox -s axolotl`` tests check that both give the same name.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Any

BASE_DATASET_FIELDS = ("path", "type", "shards", "conversation", "split", "temperature")
CONFIG_EXTRA_FIELDS = (
    "added_tokens_overrides",
    "chat_template",
    "chat_template_jinja",
    "chat_template_kwargs",
    "default_system_message",
    "eot_tokens",
    "sample_packing_bin_size",
    "sample_packing_group_size",
    "sample_packing_sequentially",
    "special_tokens",
    "train_on_inputs",
)
DATASET_EXTRA_FIELDS = (
    "chat_template",
    "chat_template_jinja",
    "data_files",
    "drop_system_message",
    "ds_type",
    "field",
    "field_chosen",
    "field_human",
    "field_messages",
    "field_model",
    "field_rejected",
    "field_thinking",
    "field_tools",
    "input_format",
    "input_transform",
    "max_completion_length",
    "message_field_content",
    "message_field_role",
    "message_field_training",
    "message_field_training_detail",
    "message_property_mappings",
    "name",
    "preprocess_shards",
    "revision",
    "roles",
    "roles_to_train",
    "shards_idx",
    "split_thinking",
    "step_separator",
    "template_thinking_key",
    "text_column",
    "train_on_eos",
    "train_on_eot",
    "train_on_last_step_only",
)


def _field(value: Any, name: str) -> Any:
    return value.get(name) if isinstance(value, Mapping) else getattr(value, name, None)


def _normalize(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        out = {}
        for key, item in sorted(value.items(), key=lambda entry: str(entry[0])):
            item = _normalize(item)
            if item is not None:
                out[str(key)] = item
        return out
    if isinstance(value, (list, tuple)):
        return [_normalize(item) for item in value]
    if isinstance(value, set):
        return sorted(_normalize(item) for item in value)
    return value


def _selected(value: Any, names: tuple[str, ...]) -> dict[str, Any]:
    out = {}
    for name in names:
        item = _normalize(_field(value, name))
        if not (item is None or item is False or item == {} or item == []):
            out[name] = item
    return out


def _stable_json(value: Any) -> str:
    return json.dumps(_normalize(value), sort_keys=True, separators=(",", ":"))


def _base_string(dataset: Any) -> str:
    values = []
    for name in BASE_DATASET_FIELDS:
        value = _field(dataset, name)
        if name == "temperature":
            value = value or 1.0
        values.append(str(value))
    return ":".join(values)


def prepared_dataset_hash(cfg: Mapping[str, Any], tokenizer_name: str) -> str:
    """The directory name under ``dataset_prepared_path`` for the train split of ``cfg``
    (a mapping holding Axolotl's validated values; see ``_config.apply_axolotl_defaults``)."""
    datasets = list(cfg.get("datasets") or [])
    extra: dict[str, Any] = {}
    cfg_extra = _selected(cfg, CONFIG_EXTRA_FIELDS)
    if cfg_extra:
        extra["cfg"] = cfg_extra
    dataset_extra = []
    for dataset in datasets:
        fields = _selected(dataset, DATASET_EXTRA_FIELDS)
        if fields:
            dataset_extra.append({"id": _base_string(dataset), "extra": fields})
    if dataset_extra:
        extra["datasets"] = sorted(dataset_extra, key=_stable_json)
    deepspeed_cp = bool(cfg.get("deepspeed")) and (cfg.get("context_parallel_size") or 1) > 1
    per_dataset = sorted(
        f"{_field(d, 'path')}:{_field(d, 'type')}:{_field(d, 'shards')}:{_field(d, 'conversation')}:"
        f"{_field(d, 'split')}:{_field(d, 'temperature') or 1.0}:{_field(d, 'weight') or 1.0}"
        for d in datasets
    )
    text = (
        f"{cfg.get('sequence_len')}@{cfg.get('sample_packing')}@{cfg.get('eval_sample_packing')}@"
        f"{cfg.get('group_by_length')}@{cfg.get('kd_temperature') or 1.0}@"
        f"{cfg.get('dataset_exact_deduplication') or False}@{deepspeed_cp}|"
        f"{'|'.join(per_dataset)}"
        f"{'|'.join(sorted(_base_string(d) for d in datasets))}"
        f"|{tokenizer_name}"
    )
    if extra:
        text = f"{text}|{_stable_json(extra)}"
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()
