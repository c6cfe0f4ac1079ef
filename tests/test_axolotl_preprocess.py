"""End to end on the real Axolotl (``nox -s axolotl``): ``axolotl preprocess`` from the
command line, with fast-axolotl enabled only through ``plugins:`` in the YAML, gives
the same prepared dataset as with ``FAST_AXOLOTL_DISABLE=1``, and training would see
the same splits, step count, multipack batches and collated tensors.

Everything is local and offline (HF_HUB_OFFLINE=1): a byte-level BPE trained here with
``tokenizers``, a tiny LlamaConfig as ``base_model``, a JSONL (alpaca) and a Parquet
(completion) dataset with exact duplicates and rows longer than ``sequence_len``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("axolotl") is None, reason="needs the real Axolotl (nox -s axolotl)"
)

DRIVER = Path(__file__).with_name("axolotl_preprocess_driver.py")
SEQUENCE_LEN = 128


def _words(rng: np.random.Generator, vocabulary: list[str], low: int, high: int) -> str:
    return " ".join(rng.choice(vocabulary, size=int(rng.integers(low, high))))


def _with_duplicates(rng: np.random.Generator, rows: list[dict[str, str]], share: float) -> list[dict[str, str]]:
    copies = [dict(rows[int(i)]) for i in rng.integers(0, len(rows), size=int(len(rows) * share))]
    out = rows + copies
    order = rng.permutation(len(out))
    return [out[int(i)] for i in order]


def write_datasets(root: Path, n_alpaca: int = 1200, n_text: int = 800, seed: int = 0) -> dict[str, Path]:
    """Alpaca JSONL (15% exact duplicates) and completion Parquet (10%); some rows are too long."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    letters = list("abcdefghijklmnopqrstuvwxyz")
    vocabulary = sorted({"".join(rng.choice(letters, size=int(rng.integers(2, 8)))) for _ in range(400)})
    alpaca = [
        {
            "instruction": _words(rng, vocabulary, 3, 12),
            "input": _words(rng, vocabulary, 0, 6),
            "output": _words(rng, vocabulary, 1, 60 if i % 17 else 160),
        }
        for i in range(n_alpaca)
    ]
    texts = [{"text": _words(rng, vocabulary, 2, 50 if i % 13 else 200)} for i in range(n_text)]
    alpaca = _with_duplicates(rng, alpaca, 0.15)
    texts = _with_duplicates(rng, texts, 0.10)
    root.mkdir(parents=True, exist_ok=True)
    paths = {"jsonl": root / "alpaca.jsonl", "parquet": root / "texts.parquet", "corpus": root / "corpus.txt"}
    with paths["jsonl"].open("w", encoding="utf-8") as fh:
        for row in alpaca:
            fh.write(json.dumps(row) + "\n")
    pq.write_table(pa.Table.from_pylist(texts), paths["parquet"])
    corpus = [r["instruction"] + " " + r["input"] + " " + r["output"] for r in alpaca] + [r["text"] for r in texts]
    paths["corpus"].write_text("\n".join(corpus), encoding="utf-8")
    return paths


def write_model(model_dir: Path, corpus: Path, vocab_size: int = 600) -> None:
    """A byte-level BPE trained on ``corpus`` and a tiny LlamaConfig, saved as one HF model dir."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, PreTrainedTokenizerFast

    specials = ["<unk>", "<s>", "</s>", "<pad>"]
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False)
    bpe.train([str(corpus)], trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    tokenizer.save_pretrained(model_dir)
    LlamaConfig(
        vocab_size=bpe.get_vocab_size(),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=4 * SEQUENCE_LEN,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    ).save_pretrained(model_dir)


def write_config(path: Path, model_dir: Path, data: dict[str, Path], prepared: Path, **extra: Any) -> None:
    import yaml

    config = {
        "base_model": str(model_dir),
        "datasets": [
            {"path": str(data["jsonl"]), "type": "alpaca", "ds_type": "json"},
            {"path": str(data["parquet"]), "type": "completion", "ds_type": "parquet"},
        ],
        "dataset_prepared_path": str(prepared),
        "dataset_exact_deduplication": True,
        "sample_packing": True,
        "val_set_size": 0.1,
        "sequence_len": SEQUENCE_LEN,
        "micro_batch_size": 2,
        "gradient_accumulation_steps": 1,
        "num_epochs": 1,
        "learning_rate": 1e-4,
        "seed": 42,
        "dataset_num_proc": 1,
        "output_dir": str(path.parent / "output"),
        "plugins": ["fast_axolotl.integration.FastAxolotlPlugin"],
        **extra,
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")


def run_env(disabled: bool) -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", AXOLOTL_DO_NOT_TRACK="1")
    env.pop("FAST_AXOLOTL_PATCHES", None)
    if disabled:
        env["FAST_AXOLOTL_DISABLE"] = "1"
    else:
        env.pop("FAST_AXOLOTL_DISABLE", None)
    return env


def preprocess(config: Path, cwd: Path, disabled: bool) -> str:
    axolotl = shutil.which("axolotl", path=str(Path(sys.executable).parent)) or "axolotl"
    done = subprocess.run(
        [axolotl, "preprocess", str(config), "--no-download"],
        cwd=cwd,
        env=run_env(disabled),
        capture_output=True,
        text=True,
        timeout=900,
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-6000:]
    return log


def drive(config: Path, cwd: Path, disabled: bool) -> dict[str, Any]:
    out = cwd / "driver.json"
    done = subprocess.run(
        [sys.executable, str(DRIVER), str(config), str(out)],
        cwd=cwd,
        env=run_env(disabled),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return result


def prepared_dir(prepared: Path) -> Path:
    found = [p for p in prepared.iterdir() if p.is_dir()]
    assert len(found) == 1, found
    return found[0]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("preprocess")
    data = write_datasets(root / "data")
    write_model(root / "model", data["corpus"])
    out: dict[str, Any] = {}
    for mode, disabled in (("fast", False), ("axolotl", True)):
        work = root / mode
        work.mkdir()
        config = work / "config.yml"
        write_config(config, root / "model", data, work / "prepared")
        log = preprocess(config, work, disabled)
        out[mode] = {"log": log, "prepared": prepared_dir(work / "prepared"), "driver": drive(config, work, disabled)}
    return out


def test_prepared_dataset_on_disk_is_identical(runs: dict[str, Any]) -> None:
    from datasets import load_from_disk

    fast, base = runs["fast"]["prepared"], runs["axolotl"]["prepared"]
    assert fast.name == base.name  # same prepared-dataset hash: fast-axolotl does not enter it
    got, want = load_from_disk(str(fast)), load_from_disk(str(base))
    assert got.column_names == want.column_names
    assert got.features == want.features
    assert got.num_rows == want.num_rows
    assert got.data.table.equals(want.data.table)
    assert got.to_dict() == want.to_dict()
    # The on-disk file holds fewer rows than the raw data: dedup and the length filter ran.
    assert 0 < got.num_rows < 1200 * 1.15 + 800 * 1.10


def test_plugin_installed_the_patches_only_when_not_disabled(runs: dict[str, Any]) -> None:
    fast, base = runs["fast"]["driver"]["fast_axolotl"], runs["axolotl"]["driver"]["fast_axolotl"]
    assert fast is not None and fast["installed"] and not fast["skipped"], fast
    for key in (
        "axolotl.utils.data.utils:_deduplicate_dataset",
        "axolotl.utils.samplers.multipack:pack_parallel",
        "axolotl.utils.samplers.utils:get_dataset_lengths",
        "axolotl.utils.collators.batching:V2BatchSamplerDataCollatorForSeq2Seq.__call__",
    ):
        assert key in fast["patched"], (key, fast)
    assert base is not None and not base["installed"] and base["disabled"], base
    assert "fast-axolotl plugin" in runs["fast"]["log"] or "FastAxolotlPlugin" in runs["fast"]["log"]


def test_training_view_is_identical(runs: dict[str, Any]) -> None:
    fast, base = runs["fast"]["driver"], runs["axolotl"]["driver"]
    assert fast["train"] == base["train"]
    assert fast["eval"] == base["eval"] and base["eval"]["rows"] > 0
    assert fast["total_num_steps"] == base["total_num_steps"] > 0
    assert fast["sampler_len"] == base["sampler_len"] > 0
    assert fast["efficiency"] == base["efficiency"]
    assert fast["batches"] == base["batches"]
    assert fast["collated"] == base["collated"] and len(base["collated"]) > 0
