"""fast_axolotl.integration: install/uninstall mechanics and patched == unpatched outputs.

Runs without Axolotl: the ``fake`` flavour builds an ``axolotl`` package on a temporary
sys.path whose modules run Axolotl 0.21.0's own files (from its wheel, fetched from PyPI
by upstream.py; the imports they cannot get are stand-ins while they run), under the same
module names; only the package ``__init__`` files are ours. With Axolotl installed
(``nox -s axolotl``) the ``real`` flavour runs the same checks on Axolotl itself and
the fake one is skipped (the names would clash).
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import fast_axolotl
from fast_axolotl import errors
from fast_axolotl import integration as integ
from fast_axolotl.integration import _core, _wrappers

REAL_AXOLOTL = importlib.util.find_spec("axolotl") is not None

# A module of the fake package that is Axolotl's file: it runs that file (upstream.py).
SHIM = """# Axolotl 0.21.0's {path}, run by tests/upstream.py (test_integration.py's fake package)
import upstream as _upstream

_upstream.exec_upstream(globals(), {path!r}, _upstream.importing({fake!r}))
"""
# Axolotl's files in the fake package; their other axolotl imports are placeholders.
UPSTREAM_FILES = [
    "axolotl/utils/data/utils.py",
    "axolotl/utils/data/shared.py",
    "axolotl/utils/data/sft.py",
    "axolotl/utils/data/streaming.py",
    "axolotl/utils/samplers/utils.py",
    "axolotl/utils/samplers/multipack.py",
    "axolotl/utils/collators/batching.py",
    "axolotl/utils/trainer.py",
]
# Ours: the package __init__ files (Axolotl's import much more), each re-exporting what the
# files above import from it, and one more from-import in trainer.py (Axolotl's imports
# get_dataset_lengths only) so that two importers are re-pointed.
OURS = {
    "axolotl/__init__.py": '__version__ = "0.21.0"\n',
    "axolotl/utils/__init__.py": "",
    "axolotl/utils/data/__init__.py": "from . import sft  # noqa: F401  (Axolotl's imports sft, rl, streaming, utils)\n",
    "axolotl/utils/samplers/__init__.py": (
        "from .multipack import MultipackBatchSampler  # noqa: F401\nfrom .utils import get_dataset_lengths  # noqa: F401\n"
    ),
    "axolotl/utils/collators/__init__.py": (
        "from .batching import (  # noqa: F401\n    DataCollatorForSeq2Seq, BatchSamplerDataCollatorForSeq2Seq,\n"
        "    V2BatchSamplerDataCollatorForSeq2Seq, PretrainingBatchSamplerDataCollatorForSeq2Seq,\n)\n"
    ),
}
IMPORTER = "\nfrom axolotl.utils.samplers.multipack import pack_parallel  # noqa: E402, F401  (ours)\n"

MODULES = {
    "axolotl.utils.data.utils": "_deduplicate_dataset",
    "axolotl.utils.samplers.multipack": "pack_parallel",
    "axolotl.utils.samplers.utils": "get_dataset_lengths",
    "axolotl.utils.collators.batching": "DataCollatorForSeq2Seq",
}
N_TARGETS = len(_core._STATE.targets)  # 8: dedup, 2 bins, lengths, 3 collators, length filter
COLLATORS = ["DataCollatorForSeq2Seq", "BatchSamplerDataCollatorForSeq2Seq", "V2BatchSamplerDataCollatorForSeq2Seq"]


def _write_fake(root: Path, *, bad_signature: bool = False) -> None:
    fake = {name.removesuffix(".py").removesuffix("/__init__").replace("/", ".") for name in [*OURS, *UPSTREAM_FILES]}
    files = dict(OURS)
    for path in UPSTREAM_FILES:
        files[path] = SHIM.format(path=path, fake=sorted(fake))
    files["axolotl/utils/trainer.py"] += IMPORTER
    if bad_signature:
        files["axolotl/utils/samplers/utils.py"] += (
            "\n\ndef get_dataset_lengths(ds, from_arrow=False):\n    return None\n"
        )
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def _drop_axolotl_modules() -> None:
    for name in [n for n in sys.modules if n == "axolotl" or n.startswith("axolotl.")]:
        del sys.modules[name]


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Uninstalled, no env switches; restores the import-time state afterwards."""
    was = integ.is_installed()
    monkeypatch.delenv("FAST_AXOLOTL_DISABLE", raising=False)
    monkeypatch.delenv("FAST_AXOLOTL_PATCHES", raising=False)
    integ.uninstall()
    yield
    integ.uninstall()
    if was:
        integ.install()


@pytest.fixture
def fake_root(clean: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    if REAL_AXOLOTL:
        pytest.skip("Axolotl is installed; the fake package would shadow it")
    _write_fake(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    _drop_axolotl_modules()
    yield tmp_path
    integ.uninstall()
    _drop_axolotl_modules()


def _import_all() -> SimpleNamespace:
    return SimpleNamespace(
        data_utils=importlib.import_module("axolotl.utils.data.utils"),
        multipack=importlib.import_module("axolotl.utils.samplers.multipack"),
        sampler_utils=importlib.import_module("axolotl.utils.samplers.utils"),
        batching=importlib.import_module("axolotl.utils.collators.batching"),
    )


def _snapshot(ns: SimpleNamespace) -> dict[str, Any]:
    out = {
        "dedup": ns.data_utils._deduplicate_dataset,
        "pack_parallel": ns.multipack.pack_parallel,
        "allocate_sequentially": ns.multipack.allocate_sequentially,
        "lengths": ns.sampler_utils.get_dataset_lengths,
        "drop_outside_range": ns.data_utils._drop_outside_range,
    }
    for name in COLLATORS:
        out[name] = vars(getattr(ns.batching, name))["__call__"]
    return out


def _original(obj: Any) -> Any:
    found = getattr(obj, _core.ORIGINAL_ATTR, None)
    assert found is not None, f"{obj!r} is not patched"
    return found


def _ours_in_axolotl_names() -> list[str]:
    """Modules under axolotl's names that are not Axolotl's files, or keep our loader."""
    bad = []
    for name, module in list(sys.modules.items()):
        if name == "axolotl" or name.startswith("axolotl."):
            loader = getattr(module, "__loader__", None)
            if getattr(module, "__file__", None) is None or isinstance(loader, _core._PatchingLoader):
                bad.append(name)
            if "fast_axolotl" in str(getattr(module, "__file__", "")):
                bad.append(name)
    return bad


# --- mechanics (fake Axolotl) -------------------------------------------------------


def test_install_before_import_patches_through_hook_and_uninstall_restores(fake_root: Path) -> None:
    assert integ.install() is True
    assert integ.is_installed()
    assert _core._STATE.finder in sys.meta_path
    assert not any(n == "axolotl" or n.startswith("axolotl.") for n in sys.modules)  # nothing imported by us
    trainer = importlib.import_module("axolotl.utils.trainer")  # imports the defining modules first
    ns = _import_all()
    patched = _snapshot(ns)
    originals = {k: _original(v) for k, v in patched.items()}
    assert trainer.get_dataset_lengths is patched["lengths"]  # the from-import saw the patch
    assert trainer.pack_parallel is patched["pack_parallel"]
    assert sorted(integ.report()["patched"]) == sorted(_core._STATE.applied)
    assert len(integ.report()["patched"]) == N_TARGETS and not integ.report()["pending"]
    assert _ours_in_axolotl_names() == []

    integ.uninstall()
    assert not integ.is_installed()
    assert _core._STATE.finder not in sys.meta_path
    assert _snapshot(ns) == originals
    for key, value in _snapshot(ns).items():
        assert value is originals[key], key
    assert trainer.get_dataset_lengths is originals["lengths"]
    assert trainer.pack_parallel is originals["pack_parallel"]
    assert _ours_in_axolotl_names() == []


def test_install_after_import_patches_directly_and_rebinds_importers(fake_root: Path) -> None:
    trainer = importlib.import_module("axolotl.utils.trainer")
    ns = _import_all()
    before = _snapshot(ns)
    integ.install()
    after = _snapshot(ns)
    for key in before:
        assert after[key] is not before[key] and _original(after[key]) is before[key]
    assert trainer.get_dataset_lengths is after["lengths"]
    integ.uninstall()
    for key, value in _snapshot(ns).items():
        assert value is before[key]
    assert trainer.get_dataset_lengths is before["lengths"]


def test_install_is_idempotent(fake_root: Path) -> None:
    ns = _import_all()
    integ.install()
    first = _snapshot(ns)
    assert integ.install() is True
    integ.install()
    assert _snapshot(ns) == first
    assert sys.meta_path.count(_core._STATE.finder) == 1
    for value in first.values():
        original = _original(value)
        assert getattr(original, _core.ORIGINAL_ATTR, None) is None  # never a wrapper of a wrapper
    integ.uninstall()
    integ.uninstall()
    assert not integ.is_installed()


def test_disable_env(fake_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAST_AXOLOTL_DISABLE", "1")
    ns = _import_all()
    before = _snapshot(ns)
    assert integ.install() is False
    assert not integ.is_installed() and integ.report()["disabled"]
    assert _core._STATE.finder not in sys.meta_path
    assert _snapshot(ns) == before


def test_patch_selection_env(fake_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAST_AXOLOTL_PATCHES", "dedup,lengths,nonsense")
    integ.install()
    ns = _import_all()
    snap = _snapshot(ns)
    assert integ.report()["groups"] == ["dedup", "lengths"]
    assert getattr(snap["dedup"], _core.ORIGINAL_ATTR, None) is not None
    assert getattr(snap["lengths"], _core.ORIGINAL_ATTR, None) is not None
    for key in ("pack_parallel", "allocate_sequentially", "drop_outside_range", *COLLATORS):
        assert getattr(snap[key], _core.ORIGINAL_ATTR, None) is None, key
    integ.install(["bins"])  # an explicit selection replaces the previous one
    snap = _snapshot(ns)
    assert getattr(snap["dedup"], _core.ORIGINAL_ATTR, None) is None
    assert getattr(snap["pack_parallel"], _core.ORIGINAL_ATTR, None) is not None


def test_unexpected_signature_is_left_alone(clean: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if REAL_AXOLOTL:
        pytest.skip("Axolotl is installed; the fake package would shadow it")
    _write_fake(tmp_path, bad_signature=True)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    _drop_axolotl_modules()
    try:
        integ.install()
        module = importlib.import_module("axolotl.utils.samplers.utils")
        assert getattr(module.get_dataset_lengths, _core.ORIGINAL_ATTR, None) is None
        assert "axolotl.utils.samplers.utils:get_dataset_lengths" in integ.report()["skipped"]
    finally:
        integ.uninstall()
        _drop_axolotl_modules()


def test_safe_without_axolotl(clean: None) -> None:
    if REAL_AXOLOTL:
        pytest.skip("Axolotl is installed")
    assert integ.install() is True
    report = integ.report()
    assert report["patched"] == [] and len(report["pending"]) == N_TARGETS
    assert "axolotl" not in sys.modules
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("axolotl.utils.data.utils")
    assert "axolotl" not in sys.modules


def _run(code: str, **env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FAST_AXOLOTL_PATCHES")}
    environment.pop("FAST_AXOLOTL_DISABLE", None)
    environment.update(env)
    environment["PYTHONPATH"] = str(Path(fast_axolotl.__file__).resolve().parent.parent)
    done = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_import_installs_unless_disabled(tmp_path: Path) -> None:
    code = "import fast_axolotl, sys; from fast_axolotl import integration as i; print(i.is_installed(), any(type(f).__name__ == '_Finder' for f in sys.meta_path))"
    assert _run(code) == "True True"
    assert _run(code, FAST_AXOLOTL_DISABLE="1") == "False False"


def test_plugin_registration_installs(clean: None) -> None:
    plugin_cls = integ.FastAxolotlPlugin
    assert not integ.is_installed()
    plugin = plugin_cls()
    assert integ.is_installed()
    integ.uninstall()
    plugin.register({})
    assert integ.is_installed()
    if REAL_AXOLOTL:
        from axolotl.integrations.base import BasePlugin

        assert isinstance(plugin, BasePlugin)


# --- patched == unpatched (fake or real Axolotl) --------------------------------------


@pytest.fixture(params=["fake", "real"])
def axo(request: pytest.FixtureRequest, clean: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    if request.param == "fake":
        if REAL_AXOLOTL:
            pytest.skip("Axolotl is installed; the fake package would shadow it")
        _write_fake(tmp_path)
        monkeypatch.syspath_prepend(str(tmp_path))
        importlib.invalidate_caches()
        _drop_axolotl_modules()
    else:
        for name in MODULES:
            pytest.importorskip(name)
    integ.install()
    ns = _import_all()
    assert len(integ.report()["patched"]) == N_TARGETS, integ.report()
    yield ns
    integ.uninstall()
    if request.param == "fake":
        _drop_axolotl_modules()


def _token_rows(rng: np.random.Generator, n: int, dup_every: int = 4) -> dict[str, list[Any]]:
    rows: dict[str, list[Any]] = {"input_ids": [], "attention_mask": [], "labels": []}
    for i in range(n):
        if i and i % dup_every == 0:
            j = int(rng.integers(0, i))
            for key in rows:
                rows[key].append(list(rows[key][j]))
            continue
        length = int(rng.integers(1, 12))
        ids = rng.integers(3, 60, length).tolist()
        rows["input_ids"].append(ids)
        rows["attention_mask"].append([1] * length)
        rows["labels"].append([-100] + ids[1:])
    return rows


def test_dedup_equal(axo: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> None:
    datasets = pytest.importorskip("datasets")
    rng = np.random.default_rng(0)
    train = datasets.Dataset.from_dict(_token_rows(rng, 300))
    evals = datasets.Dataset.from_dict(_token_rows(rng, 60, dup_every=2)).shuffle(seed=1)
    patched = axo.data_utils._deduplicate_dataset
    original = _original(patched)

    got, seen = patched(train)
    want, want_seen = original(train)
    assert got.to_list() == want.to_list() and len(got) < len(train)
    assert all(type(d) is bytes for d in seen)
    got_eval, _ = patched(evals, seen)
    want_eval, _ = original(evals, want_seen)
    assert got_eval.to_list() == want_eval.to_list()
    # train rows inside eval: cross-dedup must drop them
    mixed = datasets.concatenate_datasets([evals, train.select(range(20))])
    assert patched(mixed, patched(train)[1])[0].to_list() == original(mixed, original(train)[1])[0].to_list()

    # Axolotl's hex strings in the seen set: Axolotl's own code runs.
    got_hex, hexes = patched(evals, original(train)[1])
    assert got_hex.to_list() == want_eval.to_list() and all(isinstance(h, str) for h in hexes)

    # Eval that fast-axolotl cannot hash, after a fast train pass: still exact.
    _, seen = patched(train)

    def unsupported(*args: Any, **kwargs: Any) -> Any:
        raise errors.UnsupportedTypeError("simulated")

    monkeypatch.setattr(_wrappers, "deduplicate", unsupported)
    got_eval, _ = patched(mixed, seen)
    assert got_eval.to_list() == original(mixed, original(train)[1])[0].to_list()

    # The module-level entry point uses the patched global.
    a, b = axo.data_utils.deduplicate_and_log_datasets(train, mixed)
    assert a.to_list() == want.to_list() and b.to_list() == original(mixed, original(train)[1])[0].to_list()


@pytest.mark.parametrize("bin_size", [1, 3, 200])
def test_bins_equal(axo: SimpleNamespace, bin_size: int) -> None:
    rng = np.random.default_rng(bin_size)
    lengths = rng.integers(1, 70, 500).astype(np.int32)
    lengths[7] = 500  # longer than the capacity: a bin of its own
    patched = axo.multipack.pack_parallel
    original = _original(patched)
    for group_size in (37, 100_000):
        got = patched(lengths, 64, group_size, bin_size, num_processes=1)
        assert got == original(lengths, 64, group_size, bin_size, num_processes=1)
    seq = axo.multipack.allocate_sequentially
    for rank, ranks in ((0, 1), (1, 3), (2, 3)):
        got_s = seq(lengths, rank, 64, ranks)
        want_s = _original(seq)(lengths, rank, 64, ranks)
        assert [list(b) for b in got_s[0]] == [list(b) for b in want_s[0]]
        assert got_s[1:] == tuple(want_s[1:])


def test_lengths_equal(axo: SimpleNamespace) -> None:
    datasets = pytest.importorskip("datasets")
    rng = np.random.default_rng(3)
    rows = _token_rows(rng, 50)
    plain = datasets.Dataset.from_dict(rows)
    with_pos = plain.map(lambda r: {"position_ids": list(range(len(r["input_ids"])))})
    with_len = plain.map(lambda r: {"length": len(r["input_ids"])})
    with_len32 = with_len.cast_column("length", datasets.Value("int32"))
    patched = axo.sampler_utils.get_dataset_lengths
    original = _original(patched)
    for ds in (plain, with_pos, with_len, with_len32):
        for view in (ds, ds.shuffle(seed=2), ds.select(range(10, 30))):
            for from_arrow in (False, True):
                got, want = patched(view, from_arrow=from_arrow), original(view, from_arrow=from_arrow)
                assert got.dtype == want.dtype and np.array_equal(got, want)


def _length_rows(rng: np.random.Generator, lengths: list[int]) -> dict[str, list[Any]]:
    ids = [rng.integers(3, 60, n).tolist() for n in lengths]
    return {"input_ids": ids, "attention_mask": [[1] * len(r) for r in ids], "labels": [list(r) for r in ids]}


def test_length_filter_equal(axo: SimpleNamespace) -> None:
    datasets = pytest.importorskip("datasets")
    rng = np.random.default_rng(5)
    lengths = [0, 1, 2, 3, 15, 16, 17, 40, *rng.integers(0, 24, 60).tolist()]
    plain = datasets.Dataset.from_dict(_length_rows(rng, lengths))
    patched = axo.data_utils._drop_outside_range
    original = _original(patched)
    views = (plain, plain.shuffle(seed=4), plain.select(range(5, 40)), plain.select([]))
    for view in views:
        for min_len in (None, 1, 3):
            for kwargs in ({}, {"num_proc": None, "load_from_cache_file": True}):
                got, dropped = patched(view, 16, min_len, False, kwargs)
                want, want_dropped = original(view, 16, min_len, False, kwargs)
                assert got.to_list() == want.to_list() and dropped == want_dropped
                assert got.features == want.features
    # raise_on_long: the same ValueError for the first row that is too long ...
    with pytest.raises(ValueError) as want_error:
        original(plain, 16, None, True, {})
    with pytest.raises(ValueError) as got_error:
        patched(plain, 16, None, True, {})
    assert str(got_error.value) == str(want_error.value)
    # ... and when none is too long, short rows are still dropped (and not counted).
    short = plain.filter(lambda r: len(r["input_ids"]) <= 16)
    got, dropped = patched(short, 16, None, True, {})
    want, want_dropped = original(short, 16, None, True, {})
    assert got.to_list() == want.to_list() and (dropped, want_dropped) == (0, 0)
    # Not an Arrow-backed Dataset, or an odd argument: Axolotl's own code.
    stream = plain.to_iterable_dataset()
    got_stream, _ = patched(stream, 16, None, False, {})
    assert list(got_stream) == list(original(stream, 16, None, False, {})[0])
    assert patched(plain, 16.0, None, False, {})[0].to_list() == original(plain, 16.0, None, False, {})[0].to_list()
    # The entry point Axolotl calls picks the patched global up.
    cfg = SimpleNamespace(excess_length_strategy=None, dataset_num_proc=None, is_preprocess=True, min_sample_len=None)
    if hasattr(axo.data_utils, "handle_long_seq_in_dataset"):
        assert (
            axo.data_utils.handle_long_seq_in_dataset(plain, 16, cfg).to_list()
            == original(plain, 16, None, False, {})[0].to_list()
        )


def _tokenizer(side: str) -> Any:
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models

    vocab = {"<pad>": 0, "</s>": 2, **{f"t{i}": i for i in range(3, 64)}}
    tok = transformers.PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token="<pad>")), pad_token="<pad>", eos_token="</s>"
    )
    tok.padding_side = side
    return tok


def _rows(rng: np.random.Generator, n: int, keys: tuple[str, ...], arrays: bool = False) -> list[dict[str, Any]]:
    out = []
    for _ in range(n):
        length = int(rng.integers(1, 9))
        ids = rng.integers(3, 60, length).tolist()
        item: dict[str, Any] = {"input_ids": ids}
        if "attention_mask" in keys:
            item["attention_mask"] = [1] * length
        if "labels" in keys:
            item["labels"] = [-100] + ids[1:]
        if "position_ids" in keys:
            item["position_ids"] = list(range(length))
        if "length" in keys:
            item["length"] = length
        if arrays:
            item = {k: np.asarray(v, dtype=np.int64) if isinstance(v, list) else v for k, v in item.items()}
        out.append(item)
    return out


def _assert_same(got: Any, want: Any) -> None:
    assert type(got) is type(want)
    assert list(got.keys()) == list(want.keys())
    for key in want:
        g, w = got[key], want[key]
        assert type(g) is type(w), key
        assert g.dtype == w.dtype and tuple(g.shape) == tuple(w.shape), key
        assert np.array_equal(np.asarray(g), np.asarray(w)), key


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("multiple", [None, 8])
@pytest.mark.parametrize("tensors", ["np", "pt"])
def test_collators_equal(axo: SimpleNamespace, side: str, multiple: int | None, tensors: str) -> None:
    if tensors == "pt":
        pytest.importorskip("torch")
    tok = _tokenizer(side)
    rng = np.random.default_rng(hash((side, multiple, tensors)) % 2**32)
    batching = axo.batching
    key_sets = [
        ("attention_mask", "labels"),
        ("labels",),
        ("attention_mask", "labels", "position_ids"),
        (),
    ]
    for keys in key_sets:
        for arrays in (False, True):
            feats = _rows(rng, 5, keys, arrays)
            collator = batching.DataCollatorForSeq2Seq(tok, pad_to_multiple_of=multiple, return_tensors=tensors)
            call = type(collator).__call__
            _assert_same(call(collator, copy.deepcopy(feats)), _original(call)(collator, copy.deepcopy(feats)))
            for name in COLLATORS[1:]:
                collator = getattr(batching, name)(tok, pad_to_multiple_of=multiple, return_tensors=tensors)
                bins = [_rows(rng, int(rng.integers(1, 4)), (*keys, "length"), arrays) for _ in range(3)]
                call = type(collator).__call__
                for features in (bins, bins[0]):
                    got = call(collator, copy.deepcopy(features))
                    # The unpatched result: the subclass's original on the base's original.
                    base = batching.DataCollatorForSeq2Seq
                    patched_base = vars(base)["__call__"]
                    base.__call__ = _original(patched_base)
                    try:
                        want = _original(call)(collator, copy.deepcopy(features))
                    finally:
                        base.__call__ = patched_base
                    _assert_same(got, want)


def test_collator_unusual_settings_use_axolotl(axo: SimpleNamespace) -> None:
    tok = _tokenizer("right")
    feats = _rows(np.random.default_rng(5), 4, ("attention_mask", "labels"))
    batching = axo.batching
    collator = batching.DataCollatorForSeq2Seq(tok, padding="max_length", max_length=16, return_tensors="np")
    assert _wrappers.fast_collate(collator, feats, None, None) is None
    out = collator(copy.deepcopy(feats))
    assert out["input_ids"].shape == (4, 16)
    v2 = batching.V2BatchSamplerDataCollatorForSeq2Seq(tok, squash_position_ids=True, return_tensors="np")
    assert _wrappers.fast_collate(v2, [feats], None, "v2") is None
    extra = [dict(f, token_type_ids=[0] * len(f["input_ids"])) for f in feats]
    plain = batching.DataCollatorForSeq2Seq(tok, return_tensors="np")
    assert _wrappers.fast_collate(plain, extra, None, None) is None
    assert _wrappers.fast_collate(plain, feats, "tf", None) is None
    assert _wrappers.fast_collate(plain, feats, None, None) is not None


# --- mechanics on the real Axolotl ----------------------------------------------------


def test_real_axolotl_reversible(clean: None) -> None:
    for name in MODULES:
        pytest.importorskip(name)
    importers = [importlib.import_module(m) for m in ("axolotl.utils.samplers", "axolotl.utils.trainer")]
    ns = _import_all()
    before = _snapshot(ns)
    bound = [m.get_dataset_lengths for m in importers]
    assert bound == [before["lengths"]] * 2
    integ.install()
    integ.install()
    after = _snapshot(ns)
    for key in before:
        assert _original(after[key]) is before[key], key
    assert [m.get_dataset_lengths for m in importers] == [after["lengths"]] * 2  # from-imports re-pointed
    assert integ.report()["skipped"] == {} and len(integ.report()["patched"]) == N_TARGETS
    assert _ours_in_axolotl_names() == []
    integ.uninstall()
    for key, value in _snapshot(ns).items():
        assert value is before[key], key
    assert all(m.get_dataset_lengths is before["lengths"] for m in importers)
    assert _core._STATE.finder not in sys.meta_path and _ours_in_axolotl_names() == []


def test_real_axolotl_hook_before_import() -> None:
    pytest.importorskip("axolotl.utils.samplers.utils")
    code = (
        "import fast_axolotl, sys\n"
        "from fast_axolotl.integration import _core, report, uninstall\n"
        "import axolotl.utils.trainer as t, axolotl.utils.samplers.utils as u, axolotl.utils.data.sft\n"
        "assert t.get_dataset_lengths is u.get_dataset_lengths\n"
        "assert getattr(t.get_dataset_lengths, _core.ORIGINAL_ATTR) is not None\n"
        "r = report(); assert not r['pending'] and not r['skipped'], r\n"
        "uninstall()\n"
        "assert not hasattr(t.get_dataset_lengths, _core.ORIGINAL_ATTR)\n"
        "assert t.get_dataset_lengths is u.get_dataset_lengths\n"
        "print(len(r['patched']))\n"
    )
    assert _run(code).splitlines()[-1] == str(N_TARGETS)
