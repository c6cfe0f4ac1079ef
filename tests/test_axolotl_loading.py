"""fast-axolotl 0.2.0's YAML keys on the real Axolotl (``nox -s axolotl``): with
``plugins: [fast_axolotl.integration.FastAxolotlPlugin]``, ``dataset_use_rust_streaming``
and ``dedupe`` validate (the plugin's ``get_input_args``), reach the plugin, and
``axolotl preprocess`` gives the same prepared dataset (same directory, same Arrow table)
as Axolotl's own keys without them; the streaming path (``pretraining_dataset``) yields
the same rows through our reader.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("axolotl") is None, reason="needs the real Axolotl (nox -s axolotl)"
)

from test_axolotl_preprocess import (  # noqa: E402  (tests/ is on sys.path: conftest)
    prepared_dir,
    run_env,
    write_config,
    write_datasets,
    write_model,
)

VALIDATE = """
import json, sys
from axolotl.cli.config import load_cfg
cfg = load_cfg(sys.argv[1])
print("CFG=" + json.dumps({k: cfg.get(k) for k in ("dataset_use_rust_streaming", "dedupe", "dataset_exact_deduplication", "fast_axolotl_patches")}))
"""

STREAM = """
import hashlib, json, logging, sys
logging.getLogger("fast_axolotl.integration").setLevel(logging.INFO)
lines = []
class Keep(logging.Handler):
    def emit(self, record): lines.append(record.getMessage())
logging.getLogger("fast_axolotl.integration").addHandler(Keep())
from axolotl.cli.config import load_cfg
from axolotl.loaders import load_tokenizer
from axolotl.utils.data import prepare_datasets
cfg = load_cfg(sys.argv[1])
train, _, steps, _ = prepare_datasets(cfg, load_tokenizer(cfg))
rows = []
for i, row in enumerate(train):
    rows.append({k: hashlib.sha256(repr(v.tolist() if hasattr(v, "tolist") else v).encode()).hexdigest() for k, v in sorted(row.items())})
    if i == 5:
        break
print("STREAM=" + json.dumps({"rows": rows, "steps": steps, "log": lines}))
"""


def _python(script: str, config: Path, cwd: Path, marker: str, env: dict[str, str]) -> Any:
    done = subprocess.run(
        [sys.executable, "-c", script, str(config)], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-6000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith(marker))
    return json.loads(line[len(marker) :])


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("loading")
    data = write_datasets(root / "data")
    write_model(root / "model", data["corpus"])
    return {"root": root, "model": root / "model", **data}


def _config(setup: dict[str, Path], name: str, **keys: Any) -> tuple[Path, Path]:
    work = setup["root"] / name
    work.mkdir()
    config = work / "config.yml"
    write_config(config, setup["model"], setup, work / "prepared", **keys)
    if keys.get("dataset_exact_deduplication", True) is None:  # drop Axolotl's key: `dedupe` replaces it
        import yaml

        loaded = yaml.safe_load(config.read_text(encoding="utf-8"))
        loaded.pop("dataset_exact_deduplication")
        config.write_text(yaml.safe_dump(loaded), encoding="utf-8")
    return config, work


def test_keys_validate_and_reach_the_plugin(setup: dict[str, Path]) -> None:
    config, work = _config(
        setup, "validate", dataset_exact_deduplication=None, dedupe=True, dataset_use_rust_streaming=True,
        fast_axolotl_patches=["dedup", "loading"],
    )  # fmt: skip
    cfg = _python(VALIDATE, config, work, "CFG=", run_env(disabled=False))
    assert cfg == {
        "dataset_use_rust_streaming": True,
        "dedupe": True,
        "dataset_exact_deduplication": True,
        "fast_axolotl_patches": ["dedup", "loading"],
    }


def test_contradicting_dedupe_is_refused(setup: dict[str, Path]) -> None:
    config, work = _config(setup, "contradiction", dataset_exact_deduplication=False, dedupe=True)
    done = subprocess.run(
        [sys.executable, "-c", VALIDATE, str(config)], cwd=work, env=run_env(False), capture_output=True, text=True
    )
    assert done.returncode != 0 and "contradicts dataset_exact_deduplication" in done.stdout + done.stderr


@pytest.fixture(scope="module")
def preprocessed(setup: dict[str, Path]) -> dict[str, dict[str, Any]]:
    variants: dict[str, dict[str, Any]] = {
        "axolotl keys": {},
        "dedupe": {"dataset_exact_deduplication": None, "dedupe": True},
        "rust streaming": {"dataset_use_rust_streaming": True},
        "both, two processes": {
            "dataset_exact_deduplication": None, "dedupe": True, "dataset_use_rust_streaming": True,
            "dataset_num_proc": 2,
        },
    }  # fmt: skip
    out: dict[str, dict[str, Any]] = {}
    for name, keys in variants.items():
        # The loading patch is what runs here: the plugin's own pipeline (which reads the
        # files itself) is off; tests/test_axolotl_prepare.py covers it.
        keys = {**keys, "fast_axolotl_prepare": False}
        config, work = _config(setup, name.replace(" ", "-").replace(",", ""), **keys)
        cache = work / "hf-cache"
        env = run_env(disabled=False) | {"HF_DATASETS_CACHE": str(cache)}
        done = subprocess.run(
            [sys.executable, "-m", "axolotl.cli.main", "preprocess", str(config), "--no-download"],
            cwd=work, env=env, capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
        ours = (
            sorted(p.name for p in (cache / "fast_axolotl").glob("*.arrow"))
            if (cache / "fast_axolotl").is_dir()
            else []
        )
        out[name] = {"prepared": prepared_dir(work / "prepared"), "ours": ours}
    return out


def test_preprocess_gives_the_same_prepared_dataset(preprocessed: dict[str, dict[str, Any]]) -> None:
    from datasets import load_from_disk

    base = preprocessed["axolotl keys"]["prepared"]
    want = load_from_disk(str(base))
    for name, run in preprocessed.items():
        got = load_from_disk(str(run["prepared"]))
        assert run["prepared"].name == base.name, name  # same prepared-dataset hash
        assert got.features == want.features, name
        assert got.data.table.equals(want.data.table), name


def test_rust_streaming_read_the_files_and_the_others_did_not(preprocessed: dict[str, dict[str, Any]]) -> None:
    # Our reader's cache: one file per dataset (alpaca JSONL, completion Parquet) when the key is set.
    assert [len(preprocessed[n]["ours"]) for n in preprocessed] == [0, 0, 2, 2]
    assert all(name.startswith(("json-", "parquet-")) for name in preprocessed["rust streaming"]["ours"])


def test_pretraining_stream_through_our_reader_yields_the_same_rows(setup: dict[str, Path]) -> None:
    corpus = setup["root"] / "corpus.jsonl"
    corpus.write_text(
        "".join(json.dumps({"text": line}) + "\n" for line in setup["corpus"].read_text(encoding="utf-8").splitlines()),
        encoding="utf-8",
    )
    results = {}
    for flag in (False, None, True):
        config, work = _config(
            setup, f"stream-{flag}", pretraining_dataset=[{"path": "json", "data_files": str(corpus), "type": "pretrain"}], streaming=True,
            datasets=[{"path": str(corpus), "type": "completion"}], sample_packing=False,
            max_steps=3, val_set_size=0, dataset_exact_deduplication=None, dataset_use_rust_streaming=flag,
        )  # fmt: skip
        results[flag] = _python(STREAM, config, work, "STREAM=", run_env(disabled=False))
    # (With sample_packing, Axolotl's streamed bins come from an unseeded RandomSampler: two runs
    # without fast-axolotl differ, so the packed stream cannot be compared row for row.)
    assert results[None]["rows"] == results[False]["rows"], "the stream is not reproducible even without us"
    assert results[True]["rows"] == results[False]["rows"] and len(results[False]["rows"]) == 6
    assert results[True]["steps"] == results[False]["steps"]
    assert any("read by fast-axolotl (streaming)" in line for line in results[True]["log"]), results[True]["log"]
    assert not any("read by fast-axolotl" in line for line in results[False]["log"]), results[False]["log"]


def test_streaming_sft_dataset_through_our_reader_yields_the_same_rows(setup: dict[str, Path]) -> None:
    """``streaming: true`` without packing: Axolotl maps its strategy lazily over the
    ``IterableDataset`` that ``load_dataset_with_config(..., streaming=True)`` returns."""
    results = {}
    for flag in (False, True):
        config, work = _config(
            setup, f"sft-stream-{flag}", streaming=True, sample_packing=False, max_steps=3, val_set_size=0,
            datasets=[{"path": str(setup["jsonl"]), "type": "alpaca", "ds_type": "json"}],
            dataset_exact_deduplication=None, dataset_use_rust_streaming=flag,
        )  # fmt: skip
        results[flag] = _python(STREAM, config, work, "STREAM=", run_env(disabled=False))
    assert results[True]["rows"] == results[False]["rows"] and len(results[False]["rows"]) == 6
    assert any("read by fast-axolotl (streaming)" in line for line in results[True]["log"]), results[True]["log"]
    assert not any("read by fast-axolotl" in line for line in results[False]["log"]), results[False]["log"]
