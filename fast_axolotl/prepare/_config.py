"""The part of an Axolotl config that decides the prepared dataset, read once and checked.

Two sources give the same :class:`PrepConfig`: Axolotl's validated config (the plugin)
and a raw YAML mapping (``fast-axolotl prepare CONFIG.yml``), to which
:func:`apply_axolotl_defaults` first applies the defaults Axolotl 0.21's validation
would (only for the keys read here and those of the prepared-dataset hash).

Whatever the pipeline does not reproduce exactly is refused with
:class:`~fast_axolotl.errors.UnsupportedConfigError` naming the key: the plugin then
lets Axolotl prepare everything, the CLI exits with status 2.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import UnsupportedConfigError
from ._chat import ChatOptions, chat_options

#: Top-level keys that change the prepared dataset in ways this pipeline does not
#: implement (set to anything but an empty value, they send the config to Axolotl).
REFUSED_TOP_LEVEL = {
    "rl": "RL / preference datasets",
    "reward_model": "reward-model datasets",
    "process_reward_model": "process-reward datasets",
    "streaming": "streaming datasets are prepared while training",
    "pretraining_dataset": "pretraining datasets are streamed",
    "skip_prepare_dataset": "nothing is prepared",
    "push_dataset_to_hub": "the prepared dataset is pushed to the Hub",
    "test_datasets": "a separate test split is prepared",
    "processor_type": "multimodal datasets",
    "is_multimodal": "multimodal datasets",
    "use_pose": "PoSE position ids",
    "group_by_length": "the group_by_length `length` map",
    "kd_temperature": "knowledge-distillation datasets",
    "added_tokens_overrides": "tokenizer overrides",
    "special_tokens": "added special tokens",
    "tokens": "added tokens",
    "tokenizer_type": "a tokenizer class other than AutoTokenizer",
    "tokenizer_use_mistral_common": "the mistral-common tokenizer",
    "is_qwen_derived_model": "Qwen special-token fixes",
    "eot_tokens": "EOT tokens other than the EOS token",
    "sequence_parallel_degree": "sequence parallelism",
}

#: Model types whose packing preparation drops a column we produce.
REFUSED_MODEL_TYPES = {"gemma3": "sample packing drops attention_mask for gemma3"}

#: Keys of a ``datasets:`` entry that the pipeline reads; any other non-empty key is refused.
DATASET_KEYS = {"path", "type", "ds_type", "split", "field", "weight"}
#: More keys read for ``type: chat_template`` (``_chat.chat_options``).
CHAT_KEYS = {
    "chat_template",
    "chat_template_jinja",
    "field_messages",
    "message_property_mappings",
    "roles",
    "roles_to_train",
    "train_on_eos",
    "train_on_eot",
    "drop_system_message",
}
#: Keys Axolotl's validation adds to every entry (with these values they change nothing).
DATASET_NEUTRAL: dict[str, tuple[Any, ...]] = {
    "message_property_mappings": ({"role": "role", "content": "content"},),
    "trust_remote_code": (False,),
}

#: ``type:`` values done natively. ``alpaca`` takes a style (``alpaca:chat``).
ALPACA_STYLES = ("instruct", "chat", "chatml", "phi")
TYPES = ("alpaca", "completion", "chat_template")

DEFAULT_PREPARED_PATH = "last_run_prepared"


def _empty(value: Any) -> bool:
    return value is None or value is False or value == {} or value == [] or value == ""


def _get(cfg: Any, key: str, default: Any = None) -> Any:
    value = cfg.get(key) if hasattr(cfg, "get") else getattr(cfg, key, None)
    return default if value is None else value


@dataclass(frozen=True)
class DatasetSpec:
    """One ``datasets:`` entry."""

    index: int
    path: str
    base_type: str  # alpaca, completion, or "" for pre-tokenized rows
    style: str | None
    ds_type: str | None
    field: str
    weight: float | None
    raw: Mapping[str, Any]
    chat: ChatOptions | None = None

    @property
    def key(self) -> str:
        return f"datasets[{self.index}]"

    def reader_format(self) -> str:
        """Axolotl's ``get_dataset_type``: ``ds_type``, else the first extension found
        anywhere in the path (a substring test), else json."""
        if self.ds_type:
            return self.ds_type
        for extension, builder in ((".parquet", "parquet"), (".arrow", "arrow"), (".csv", "csv"), (".txt", "text")):
            if extension in self.path:
                return builder
        return "json"


@dataclass(frozen=True)
class PrepConfig:
    datasets: tuple[DatasetSpec, ...]
    sequence_len: int
    seed: int | None
    train_on_inputs: bool
    sample_packing: bool
    dedup: bool
    min_sample_len: int | None
    excess_length_strategy: str
    shuffle_merged: bool
    shuffle_before_merging: bool
    curriculum_sampling: bool
    dataset_num_proc: int
    num_shards_to_save: int | None
    prepared_root: str
    tokenizer_name: str
    chat_template_kwargs: Mapping[str, Any] | None = None


def default_process_count() -> int:
    """Axolotl's ``get_default_process_count``: AXOLOTL_DATASET_NUM_PROC, else the CPU count."""
    env = os.environ.get("AXOLOTL_DATASET_NUM_PROC")
    if env:
        return int(env)
    return os.cpu_count() or 1


def _dataset_defaults(entry: dict[str, Any]) -> None:
    """``SFTDataset``'s validators: legacy message fields folded into
    ``message_property_mappings`` (role and content always mapped), and a chat_template
    entry's template choice (``tokenizer_default``, or ``jinja`` when one is given)."""
    mappings = dict(entry.get("message_property_mappings") or {})
    for legacy, name in (("message_field_role", "role"), ("message_field_content", "content")):
        if legacy in entry:
            mappings[name] = entry.pop(legacy) or name
        else:
            mappings.setdefault(name, name)
    entry["message_property_mappings"] = mappings
    entry.setdefault("trust_remote_code", False)
    if entry.get("type") == "chat_template" and not entry.get("chat_template"):
        entry["chat_template"] = "tokenizer_default"
    if entry.get("chat_template_jinja") and not entry.get("chat_template"):
        entry["chat_template"] = "jinja"


def apply_axolotl_defaults(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A raw YAML mapping with the values Axolotl 0.21's validation gives the keys read here."""
    cfg = dict(raw)
    if "dataset_processes" in cfg and cfg.get("dataset_num_proc") is None:
        cfg["dataset_num_proc"] = cfg["dataset_processes"]
    if "dedupe" in cfg and cfg.get("dataset_exact_deduplication") is None:  # 0.2.0's name (our plugin key)
        cfg["dataset_exact_deduplication"] = cfg["dedupe"]
    defaults = {
        "sequence_len": 512,
        "train_on_inputs": False,
        "shuffle_merged_datasets": True,
        "shuffle_before_merging_datasets": False,
        "sample_packing_bin_size": 200,
        "sample_packing_group_size": 100_000,
        "dataset_num_proc": default_process_count(),
    }
    for key, value in defaults.items():
        if cfg.get(key) is None:
            cfg[key] = value
    if cfg.get("tokenizer_config") is None:
        cfg["tokenizer_config"] = cfg.get("base_model")
    # Axolotl turns packing of the eval split on with packing, unless it is set.
    if cfg.get("eval_sample_packing") is None and cfg.get("sample_packing"):
        cfg["eval_sample_packing"] = True
    datasets = []
    for entry in cfg.get("datasets") or []:
        entry = dict(entry) if isinstance(entry, Mapping) else entry
        if isinstance(entry, dict):
            _dataset_defaults(entry)
        datasets.append(entry)
    cfg["datasets"] = datasets
    return cfg


def _dataset_spec(index: int, entry: Any) -> DatasetSpec:
    key = f"datasets[{index}]"
    if not hasattr(entry, "get"):
        raise UnsupportedConfigError(key, "not a mapping")
    items = entry.items() if hasattr(entry, "items") else []
    dataset_type = entry.get("type")
    is_chat = isinstance(dataset_type, str) and dataset_type == "chat_template"
    for name, value in items:
        if name in DATASET_KEYS or _empty(value) or (is_chat and name in CHAT_KEYS):
            continue
        if name in DATASET_NEUTRAL and value in DATASET_NEUTRAL[name]:
            continue
        raise UnsupportedConfigError(f"{key}.{name}", "not implemented by fast-axolotl's preparation")
    path = entry.get("path")
    if not isinstance(path, str) or not os.path.isfile(path):
        raise UnsupportedConfigError(f"{key}.path", f"{path!r} is not a local file")
    if not isinstance(dataset_type, str):
        raise UnsupportedConfigError(f"{key}.type", f"{dataset_type!r} (only a named type is implemented)")
    base, _, style = dataset_type.partition(":")
    if base not in TYPES:
        raise UnsupportedConfigError(f"{key}.type", f"{dataset_type!r} is not implemented (only {', '.join(TYPES)})")
    if base == "alpaca" and style and style not in ALPACA_STYLES:
        raise UnsupportedConfigError(f"{key}.type", f"alpaca style {style!r}")
    if base != "alpaca" and style:
        raise UnsupportedConfigError(f"{key}.type", f"{dataset_type!r} (a style on {base})")
    field = entry.get("field")
    if field is not None and base != "completion":
        raise UnsupportedConfigError(f"{key}.field", f"only read by completion, not {base}")
    split = entry.get("split")
    if split not in (None, "train"):
        raise UnsupportedConfigError(f"{key}.split", f"{split!r} (a file has only its train split)")
    weight = entry.get("weight")
    if weight is not None and not isinstance(weight, (int, float)):
        raise UnsupportedConfigError(f"{key}.weight", f"{weight!r}")
    ds_type = entry.get("ds_type")
    spec = DatasetSpec(
        index=index,
        path=path,
        base_type=base,
        style=style or None,
        ds_type=ds_type,
        field=field if isinstance(field, str) else "text",
        weight=float(weight) if weight is not None else None,
        raw=entry,
        chat=chat_options(entry, key) if is_chat else None,
    )
    if spec.reader_format() not in ("json", "parquet", "arrow"):
        raise UnsupportedConfigError(
            f"{key}.ds_type" if ds_type else f"{key}.path",
            f"{spec.reader_format()} files are loaded by datasets with rules of their own",
        )
    return spec


def _int(cfg: Any, key: str) -> int | None:
    value = _get(cfg, key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise UnsupportedConfigError(key, f"{value!r} is not an integer")
    return value


def _mapping(cfg: Any, key: str) -> Mapping[str, Any] | None:
    value = _get(cfg, key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise UnsupportedConfigError(key, f"{value!r} is not a mapping")
    return dict(value)


def read_config(cfg: Any) -> PrepConfig:
    """A :class:`PrepConfig` from a validated Axolotl config (or a raw mapping passed
    through :func:`apply_axolotl_defaults`); raises UnsupportedConfigError."""
    for key, reason in REFUSED_TOP_LEVEL.items():
        if not _empty(_get(cfg, key)):
            raise UnsupportedConfigError(key, reason)
    if _get(cfg, "tokenizer_use_fast") is False:
        raise UnsupportedConfigError("tokenizer_use_fast", "a slow (Python) tokenizer")
    if _get(cfg, "deepspeed") and (_int(cfg, "context_parallel_size") or 1) > 1:
        raise UnsupportedConfigError("context_parallel_size", "DeepSpeed context parallelism prepares position ids")
    model_type = _get(cfg, "model_config_type")
    if model_type in REFUSED_MODEL_TYPES and _get(cfg, "sample_packing"):
        raise UnsupportedConfigError("model_config_type", REFUSED_MODEL_TYPES[model_type])
    entries = _get(cfg, "datasets") or []
    if not entries:
        raise UnsupportedConfigError("datasets", "no datasets")
    specs = tuple(_dataset_spec(i, entry) for i, entry in enumerate(entries))
    strategy = str(_get(cfg, "excess_length_strategy", "drop")).lower()
    if strategy not in ("drop", "truncate", "raise"):
        raise UnsupportedConfigError("excess_length_strategy", repr(strategy))
    sequence_len = _int(cfg, "sequence_len")
    if sequence_len is None or sequence_len < 1:
        raise UnsupportedConfigError("sequence_len", repr(sequence_len))
    tokenizer_name = _get(cfg, "tokenizer_config") or _get(cfg, "base_model")
    if not isinstance(tokenizer_name, str):
        raise UnsupportedConfigError("base_model", "no tokenizer to load")
    return PrepConfig(
        datasets=specs,
        sequence_len=sequence_len,
        seed=_int(cfg, "seed"),
        train_on_inputs=bool(_get(cfg, "train_on_inputs", False)),
        sample_packing=bool(_get(cfg, "sample_packing", False)),
        dedup=bool(_get(cfg, "dataset_exact_deduplication", False)),
        min_sample_len=_int(cfg, "min_sample_len"),
        excess_length_strategy=strategy,
        shuffle_merged=bool(_get(cfg, "shuffle_merged_datasets", True)),
        shuffle_before_merging=bool(_get(cfg, "shuffle_before_merging_datasets", False)),
        curriculum_sampling=bool(_get(cfg, "curriculum_sampling", False)),
        dataset_num_proc=_int(cfg, "dataset_num_proc") or default_process_count(),
        num_shards_to_save=_int(cfg, "num_dataset_shards_to_save"),
        prepared_root=str(_get(cfg, "dataset_prepared_path", DEFAULT_PREPARED_PATH)),
        tokenizer_name=tokenizer_name,
        chat_template_kwargs=_mapping(cfg, "chat_template_kwargs"),
    )
