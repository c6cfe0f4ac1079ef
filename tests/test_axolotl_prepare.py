"""fast-axolotl's own preparation pipeline against the real Axolotl 0.21 (``nox -s axolotl``).

For each config below, three runs prepare the same datasets:

- ``axolotl preprocess`` with ``FAST_AXOLOTL_DISABLE=1`` (Axolotl's own code: the oracle),
- ``axolotl preprocess`` with the plugin (``FastAxolotlPlugin.load_datasets`` runs
  :mod:`fast_axolotl.prepare`),
- ``python -m fast_axolotl prepare CONFIG.yml`` (no torch, no Axolotl imported),

and the three prepared directories must have the same name (Axolotl's hash) and hold the
same Arrow table (rows, order, columns, types). Then ``axolotl train``'s loading (the
plugin hook first, then Axolotl's loader) must find the directory the plugin wrote and
give the same splits, step count and batches as Axolotl alone.

The configs cover each dataset type (alpaca in four styles, completion, pre-tokenized
rows, chat_template with the tokenizer's template and with Axolotl's chatml, ShareGPT
keys and roles, ``train_on_eos`` turn / all / last, ``drop_system_message``) and the keys the issue lists: packing on and off, ``train_on_inputs``,
``val_set_size: 0``, ``excess_length_strategy: truncate``, ``dataset_num_proc`` 1 and 2,
a tokenizer that adds BOS (so the response's BOS is stripped) and one that does not,
``weight < 1``, dedup on and off.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_axolotl_preprocess import (  # noqa: E402  (tests/ is on sys.path: conftest)
    SEQUENCE_LEN,
    preprocess,
    pytestmark,  # noqa: F401  (skipped without the real Axolotl)
    run_env,
    write_datasets,
    write_model,
)

CLI_WITHOUT_TORCH = """
import sys
from fast_axolotl.__main__ import main
code = main(["prepare", sys.argv[1], "-q"])
heavy = sorted(m for m in ("torch", "axolotl") if m in sys.modules)
assert not heavy, f"prepare CONFIG.yml imported {heavy}"
sys.exit(code)
"""


def _bos_model(model_dir: Path, corpus: Path) -> None:
    """The harness tokenizer with a post-processor that puts BOS in front of every text."""
    from tokenizers import Tokenizer, processors

    write_model(model_dir, corpus)
    path = model_dir / "tokenizer.json"
    tokenizer = Tokenizer.from_file(str(path))
    bos = tokenizer.token_to_id("<s>")
    tokenizer.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", bos)])
    tokenizer.save(str(path))


def _pretokenized(path: Path, source: Path, model_dir: Path) -> None:
    """Rows already holding input_ids / attention_mask / labels (half the prompt masked)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    with source.open(encoding="utf-8") as fh, path.open("w", encoding="utf-8") as out:
        for i, line in enumerate(fh):
            row = json.loads(line)
            ids = tokenizer(row["instruction"] + " " + row["output"])["input_ids"]
            cut = len(ids) // 2 if i % 7 else len(ids)  # every 7th row: nothing trainable
            labels = [-100] * cut + ids[cut:]
            out.write(json.dumps({"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}) + "\n")


#: The harness tokenizer's own chat template: EOS closes assistant turns (train_on_eos has work).
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}{{ '<|' + m['role'] + '|>\\n' + m['content'] }}"
    "{% if m['role'] == 'assistant' %}{{ eos_token }}{% endif %}{{ '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)


def _chat_model(model_dir: Path, corpus: Path) -> None:
    from transformers import AutoTokenizer

    write_model(model_dir, corpus)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(str(model_dir))


def _conversations(source: Path, path: Path, sharegpt: bool) -> None:
    """Conversations built from the alpaca rows: one or two exchanges, some with a system
    message, (ShareGPT style: ``from``/``value`` keys, ``human``/``gpt`` roles)."""
    role_key, content_key = ("from", "value") if sharegpt else ("role", "content")
    user, assistant = ("human", "gpt") if sharegpt else ("user", "assistant")
    with source.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    with path.open("w", encoding="utf-8") as out:
        for i, row in enumerate(rows):
            messages = []
            if i % 5 == 0:
                messages.append({role_key: "system", content_key: "answer briefly"})
            messages.append({role_key: user, content_key: (row["instruction"] + " " + row["input"]).strip()})
            messages.append({role_key: assistant, content_key: row["output"]})
            if i % 3 == 0:
                messages.append({role_key: user, content_key: row["input"] or "more"})
                messages.append({role_key: assistant, content_key: row["instruction"]})
            out.write(json.dumps({"conversations" if sharegpt else "messages": messages}) + "\n")


def _config(path: Path, model: Path, datasets: list[dict[str, Any]], prepared: Path, **extra: Any) -> Path:
    import yaml

    config = {
        "base_model": str(model),
        "datasets": datasets,
        "dataset_prepared_path": str(prepared),
        "sequence_len": SEQUENCE_LEN,
        "micro_batch_size": 2,
        "gradient_accumulation_steps": 1,
        "num_epochs": 1,
        "learning_rate": 1e-4,
        "seed": 42,
        "output_dir": str(path.parent / "output"),
        "plugins": ["fast_axolotl.integration.FastAxolotlPlugin"],
        **extra,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _only_dir(root: Path) -> Path:
    found = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert len(found) == 1, found
    return found[0]


def _table(path: Path) -> Any:
    from datasets import load_from_disk

    return load_from_disk(str(path))


def _cli(config: Path, cwd: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CLI_WITHOUT_TORCH, str(config)],
        cwd=cwd,
        env=run_env(disabled=False),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("prepare-inputs")
    data = write_datasets(root / "data")
    write_model(root / "plain", data["corpus"])
    _bos_model(root / "bos", data["corpus"])
    _pretokenized(root / "data" / "tokenized.jsonl", data["jsonl"], root / "bos")
    _chat_model(root / "chat", data["corpus"])
    _conversations(data["jsonl"], root / "data" / "messages.jsonl", sharegpt=False)
    _conversations(data["jsonl"], root / "data" / "sharegpt.jsonl", sharegpt=True)
    return {
        **data,
        "plain": root / "plain",
        "bos": root / "bos",
        "chat": root / "chat",
        "tokenized": root / "data" / "tokenized.jsonl",
        "messages": root / "data" / "messages.jsonl",
        "sharegpt": root / "data" / "sharegpt.jsonl",
    }


def _variants(inputs: dict[str, Path]) -> dict[str, tuple[Path, list[dict[str, Any]], dict[str, Any]]]:
    alpaca = {"path": str(inputs["jsonl"]), "type": "alpaca", "ds_type": "json"}
    texts = {"path": str(inputs["parquet"]), "type": "completion"}
    return {
        "mixed": (
            inputs["bos"],
            [alpaca, {**alpaca, "type": "alpaca:chat"}, texts],
            {"sample_packing": True, "dataset_exact_deduplication": True, "val_set_size": 0.1, "dataset_num_proc": 2},
        ),
        "inputs-unpacked": (
            inputs["plain"],
            [{**alpaca, "type": "alpaca:chatml"}, texts],
            {"train_on_inputs": True, "sample_packing": False, "val_set_size": 0, "dataset_num_proc": 1},
        ),
        "truncate": (
            inputs["bos"],
            [{**alpaca, "type": "alpaca:phi"}, {**texts, "weight": 0.5}],
            {"excess_length_strategy": "truncate", "sample_packing": True, "dataset_num_proc": 1},
        ),
        "chat-mixed": (
            inputs["chat"],
            [{"path": str(inputs["messages"]), "type": "chat_template"}, alpaca, texts],
            {"sample_packing": True, "dataset_exact_deduplication": True, "val_set_size": 0.1, "dataset_num_proc": 2},
        ),
        "chat-sharegpt": (
            inputs["chat"],
            [
                {
                    "path": str(inputs["sharegpt"]),
                    "type": "chat_template",
                    "field_messages": "conversations",
                    "message_property_mappings": {"role": "from", "content": "value"},
                    "roles_to_train": ["gpt"],
                    "train_on_eos": "all",
                }
            ],
            {"chat_template": "chatml", "sample_packing": False, "val_set_size": 0, "dataset_num_proc": 1},
        ),
        "chat-inputs": (
            inputs["chat"],
            [
                {
                    "path": str(inputs["messages"]),
                    "type": "chat_template",
                    "train_on_eos": "last",
                    "drop_system_message": True,
                }
            ],
            {
                "train_on_inputs": True,
                "excess_length_strategy": "truncate",
                "sample_packing": True,
                "dataset_num_proc": 1,
            },
        ),
        "pretokenized": (
            inputs["bos"],
            [{"path": str(inputs["tokenized"]), "type": "completion"}],
            {"sample_packing": True, "dataset_exact_deduplication": True, "dataset_num_proc": 1},
        ),
    }


VARIANTS = ("mixed", "inputs-unpacked", "truncate", "pretokenized", "chat-mixed", "chat-sharegpt", "chat-inputs")


@pytest.mark.parametrize("variant", VARIANTS)
def test_plugin_and_cli_write_axolotls_prepared_dataset(variant: str, inputs: dict[str, Path], tmp_path: Path) -> None:
    model, datasets, extra = _variants(inputs)[variant]
    prepared = {}
    for mode in ("axolotl", "plugin", "cli"):
        work = tmp_path / mode
        config = _config(work / "config.yml", model, datasets, work / "prepared", **extra)
        if mode == "cli":
            _cli(config, work)
        else:
            log = preprocess(config, work, disabled=mode == "axolotl")
            took_over = "fast-axolotl prepared" in log
            assert took_over is (mode == "plugin"), log[-3000:]
        prepared[mode] = _only_dir(work / "prepared")
    want = _table(prepared["axolotl"])
    assert want.num_rows > 0
    for mode in ("plugin", "cli"):
        got = _table(prepared[mode])
        assert prepared[mode].name == prepared["axolotl"].name, mode  # the same hash directory
        assert got.features == want.features, mode
        assert got.data.table.schema.remove_metadata() == want.data.table.schema.remove_metadata(), mode
        assert got.num_rows == want.num_rows, mode
        assert got.data.table.equals(want.data.table), mode


def test_train_uses_the_directory_the_plugin_prepares(inputs: dict[str, Path], tmp_path: Path) -> None:
    """``axolotl train``'s order: the plugin hook (which prepares and returns None), then
    Axolotl's loader, which must find the prepared directory and give training the same
    view as Axolotl preparing it alone."""
    model, datasets, extra = _variants(inputs)["chat-mixed"]
    views = {}
    for mode in ("axolotl", "plugin"):
        work = tmp_path / mode
        work.mkdir()
        config = _config(work / "config.yml", model, datasets, work / "prepared", **extra)
        out = work / "driver.json"
        command = [sys.executable, str(Path(__file__).with_name("axolotl_preprocess_driver.py")), str(config), str(out)]
        if mode == "plugin":
            command.append("--plugin-hook")
        done = subprocess.run(
            command, cwd=work, env=run_env(disabled=mode == "axolotl"), capture_output=True, text=True, timeout=900
        )
        log = done.stdout + done.stderr
        assert done.returncode == 0, log[-6000:]
        if mode == "plugin":
            assert "fast-axolotl prepared" in log, log[-3000:]
            assert "Loading prepared dataset from disk" in log, log[-3000:]
        views[mode] = json.loads(out.read_text(encoding="utf-8"))
    fast, base = views["plugin"], views["axolotl"]
    assert fast["hook_returned"] is None
    for key in ("train", "eval", "total_num_steps", "sampler_len", "batches", "collated"):
        assert fast[key] == base[key], key
    assert base["eval"]["rows"] > 0 and base["total_num_steps"] > 0
