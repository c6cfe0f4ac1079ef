"""The plugin's YAML keys without Axolotl: the pydantic model Axolotl merges into its
schema, 0.2.0's ``dedupe`` alias, and which files the loader takes for which config
(the real Axolotl run is tests/test_axolotl_loading.py)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

pydantic = pytest.importorskip("pydantic")

from fast_axolotl import integration  # noqa: E402
from fast_axolotl.integration import _loading  # noqa: E402
from fast_axolotl.integration._keys import apply_aliases  # noqa: E402


@pytest.fixture(autouse=True)
def _no_active_config() -> Any:
    yield
    _loading.set_config(None)


def _merged() -> Any:
    """What axolotl.integrations.config.merge_input_args builds: Axolotl's schema + ours."""
    target = integration.FastAxolotlPlugin().get_input_args()
    module, name = target.rsplit(".", 1)
    ours = getattr(importlib.import_module(module), name)

    class AxolotlLike(pydantic.BaseModel):
        dataset_exact_deduplication: bool | None = None
        sequence_len: int = 512

    class Merged(AxolotlLike, ours):  # type: ignore[misc, valid-type]
        pass

    return Merged


def test_keys_validate_in_the_merged_schema() -> None:
    merged = _merged()
    cfg = merged(dedupe=True, dataset_use_rust_streaming=True, fast_axolotl_patches=["dedup"])
    assert cfg.dataset_exact_deduplication is True and cfg.dedupe is True
    assert cfg.dataset_use_rust_streaming is True and cfg.fast_axolotl_patches == ["dedup"]
    assert merged().dataset_use_rust_streaming is None
    with pytest.raises(pydantic.ValidationError):
        merged(dataset_use_rust_streaming="sometimes")
    with pytest.raises(pydantic.ValidationError, match="contradicts"):
        merged(dedupe=True, dataset_exact_deduplication=False)


def test_dedupe_alias_on_a_raw_config() -> None:
    raw = {"dedupe": True}
    assert apply_aliases(raw) == {"dedupe": True, "dataset_exact_deduplication": True}
    assert apply_aliases({"dedupe": False}) == {"dedupe": False, "dataset_exact_deduplication": False}
    assert apply_aliases({"dataset_exact_deduplication": True}) == {"dataset_exact_deduplication": True}
    assert apply_aliases({"dedupe": True, "dataset_exact_deduplication": True})["dataset_exact_deduplication"]
    with pytest.raises(ValueError, match="contradicts"):
        apply_aliases({"dedupe": False, "dataset_exact_deduplication": True})


def test_register_and_load_datasets_hand_the_config_to_the_loader() -> None:
    plugin = integration.FastAxolotlPlugin()
    raw = {"dedupe": True, "dataset_use_rust_streaming": True}
    plugin.register(raw)
    assert raw["dataset_exact_deduplication"] is True
    assert _loading.active_config() is raw
    validated = {"dataset_use_rust_streaming": False}
    assert plugin.load_datasets(validated, preprocess=True) is None  # Axolotl prepares the datasets itself
    assert _loading.active_config() is validated


@pytest.mark.parametrize(
    ("cfg", "wanted"),
    [
        (None, False),  # no plugin: the loading patch does nothing
        ({}, False),  # unset, small file, short sequences: 0.2.0's automatic rule says no
        ({"dataset_use_rust_streaming": True}, True),
        ({"dataset_use_rust_streaming": False, "sequence_len": 32768}, False),
        ({"sequence_len": 32768}, True),  # the automatic rule: sequence_len over 10,000
        ({"dataset_use_rust_streaming": True, "dataset_keep_in_memory": True}, False),
    ],
)
def test_which_configs_route_a_file_to_our_reader(cfg: Any, wanted: bool, tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"a": 1}\n', encoding="utf-8")
    _loading.set_config(cfg)
    assert _loading._wanted([str(path)]) is wanted
