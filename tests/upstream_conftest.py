"""Our conftest for Axolotl 0.21.0's own tests, run with fast-axolotl's patches installed.

``tests/upstream.py`` lays the tests out from Axolotl's sdist (``nox -s axolotl``) and
writes this file as their ``tests/conftest.py``; upstream's own conftest.py sits beside it,
unchanged, as ``tests/axolotl_conftest.py``, and the upstream fixtures these tests need
are imported from it below. Left out (not imported): the hub-downloading fixtures (no
network here), among them the session-wide autouse ``download_*`` ones, the CUDA
bookkeeping hooks (CPU only) and ``cleanup_monkeypatches``.

fast_axolotl is imported here, before any test module imports Axolotl, so the patches
go in through the import hook exactly as for a user who writes ``import fast_axolotl``
first. Every patch target must be patched (none skipped) at the start and at the end
of the session, and the backend must be the one FAST_AXOLOTL_IMPL asked for.
With ``FAST_AXOLOTL_DISABLE=1`` the same tests run on Axolotl's unpatched code (and
nothing may be patched): a failure seen only without it is fast-axolotl's.
"""

# ruff: noqa: I001  (fast_axolotl must be imported before anything that imports Axolotl)
import importlib
import logging
import os
import sys
from collections import Counter

import fast_axolotl  # before axolotl
from fast_axolotl import integration
from fast_axolotl.integration import _core

import pytest

# Upstream's fixtures and test shims, from its own conftest (imported after fast_axolotl).
from tests.axolotl_conftest import (  # noqa: F401
    _apply_transformers_test_shims,
    _propagate_axolotl_logs,
    disable_telemetry,
    fixture_min_base_cfg,
    reset_plugin_manager,
    temp_dir,
    torch_manual_seed,
)

EXPECTED_IMPL = os.environ.get("FAST_AXOLOTL_IMPL", "native")
# Which fast-axolotl replacements handed a call back to Axolotl's code, and how often.
FALLBACKS: Counter = Counter()


class _FallbackCounter(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "falls back to Axolotl's code" in message:
            FALLBACKS[message.split(" falls back")[0].removeprefix("fast-axolotl: ")] += 1


def _patched_targets() -> dict:
    """Import every target module and check that each target holds our replacement."""
    state = {}
    for target in _core._STATE.targets:
        module = importlib.import_module(target.module)
        holder = getattr(module, target.owner) if target.owner else module
        current = vars(holder).get(target.attr)
        state[target.key] = getattr(current, _core.ORIGINAL_ATTR, None) is not None
    return state


def _assert_active(when: str) -> None:
    assert fast_axolotl.IMPLEMENTATION == EXPECTED_IMPL, (fast_axolotl.IMPLEMENTATION, fast_axolotl.REASON)
    if _core.disabled():  # FAST_AXOLOTL_DISABLE=1: the same tests on Axolotl's own code, for comparison
        state = _patched_targets()
        assert not integration.is_installed() and not any(state.values()), f"{when}: patched although disabled"
        return
    assert integration.is_installed(), f"{when}: fast-axolotl patches are not installed"
    state = _patched_targets()
    missing = sorted(key for key, ok in state.items() if not ok)
    assert not missing, f"{when}: not patched: {missing}; report: {integration.report()}"
    assert not integration.report()["skipped"], integration.report()


def pytest_configure(config):  # upstream (the shims), plus our checks
    _apply_transformers_test_shims()
    assert "axolotl.utils.data.utils" not in sys.modules or integration.is_installed()
    handler = _FallbackCounter(level=logging.DEBUG)
    logger = logging.getLogger("fast_axolotl.integration")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


# Upstream tests that cannot run on this machine, by node id (relative to this
# directory's parent), with the reason (docs/axolotl.md). Everything else runs; nothing is skipped
# silently. An entry that matches no collected test fails a run over the whole
# directory (stale list); a run of some files or node ids only deselects.
_HUB_TOKENIZER = (
    "needs the huggyllama/llama-7b tokenizer from the Hugging Face hub (upstream fixture "
    "`tokenizer_huggyllama`, left out: no network here)"
)
_HUB_SHAKESPEARE = (
    "needs the winglian/tiny-shakespeare dataset and the huggyllama/llama-7b tokenizer from the "
    "Hugging Face hub (upstream fixtures `dataset_winglian_tiny_shakespeare`, `tokenizer`; no network here)"
)
_HUB_EMPTY_TOKENIZER = (
    "needs the huggyllama/llama-7b tokenizer from the Hugging Face hub: offline, transformers 5's "
    "`LlamaTokenizer.from_pretrained` returns an empty tokenizer (3 special tokens; 'Hello, world!' "
    "gives no ids), so the token-count assertions fail, the same with FAST_AXOLOTL_DISABLE=1"
)
DESELECTED: dict[str, str] = {
    "test_exact_deduplication.py::TestDeduplicateRLDataset::test_load_with_deduplication": _HUB_TOKENIZER,
    "test_exact_deduplication.py::TestDeduplicateRLDataset::test_load_without_deduplication": _HUB_TOKENIZER,
    "test_packed_batch_sampler.py::TestBatchedSamplerPacking::test_packing[True-4096-1-0]": _HUB_SHAKESPEARE,
    "test_packed_batch_sampler.py::TestBatchedSamplerPacking::test_packing[True-4096-2-0]": _HUB_SHAKESPEARE,
    "test_packed_batch_sampler.py::TestBatchedSamplerPacking::test_packing[True-4096-1-2]": _HUB_SHAKESPEARE,
    "test_packed_batch_sampler.py::TestBatchedSamplerPacking::test_packing[True-4096-2-2]": _HUB_SHAKESPEARE,
    "test_packed_batch_sampler.py::TestBatchedSamplerPacking::test_packing[True-512-1-0]": _HUB_SHAKESPEARE,
    "test_packed_batch_sampler.py::TestBatchedSamplerPacking::test_packing[True-512-2-0]": _HUB_SHAKESPEARE,
    "test_packed_batch_sampler.py::TestBatchedSamplerPacking::test_packing[True-512-1-2]": _HUB_SHAKESPEARE,
    "test_packed_batch_sampler.py::TestBatchedSamplerPacking::test_packing[True-512-2-2]": _HUB_SHAKESPEARE,
    "test_packed_batch_sampler.py::TestBatchedSamplerPacking::test_packing[False-4096-1-0]": _HUB_SHAKESPEARE,
    "test_packed_batch_sampler.py::TestBatchedSamplerPacking::test_packing[False-4096-2-0]": _HUB_SHAKESPEARE,
    "test_packed_batch_sampler.py::TestBatchedSamplerPacking::test_packing[False-4096-1-2]": _HUB_SHAKESPEARE,
    "test_packed_batch_sampler.py::TestBatchedSamplerPacking::test_packing[False-4096-2-2]": _HUB_SHAKESPEARE,
    "test_packed_batch_sampler.py::TestBatchedSamplerPacking::test_packing[False-512-1-0]": _HUB_SHAKESPEARE,
    "test_packed_batch_sampler.py::TestBatchedSamplerPacking::test_packing[False-512-2-0]": _HUB_SHAKESPEARE,
    "test_packed_batch_sampler.py::TestBatchedSamplerPacking::test_packing[False-512-1-2]": _HUB_SHAKESPEARE,
    "test_packed_batch_sampler.py::TestBatchedSamplerPacking::test_packing[False-512-2-2]": _HUB_SHAKESPEARE,
    "test_packed_pretraining.py::TestPretrainingPacking::test_packing_stream_dataset": _HUB_TOKENIZER,
    "test_data.py::TestEncodePretraining::test_encode_pretraining": _HUB_EMPTY_TOKENIZER,
    "test_data.py::TestEncodePretraining::test_long_document_is_chunked_not_dropped": _HUB_EMPTY_TOKENIZER,
    "test_data.py::TestEncodePretraining::test_no_tokens_dropped_for_oversized_docs": _HUB_EMPTY_TOKENIZER,
}


def pytest_collection_modifyitems(config, items):
    keep, dropped = [], []
    for item in items:
        (dropped if _node(item) in DESELECTED else keep).append(item)
    stale = set(DESELECTED) - {_node(item) for item in dropped}
    # Only a run of this whole directory (not some files or node ids, no -k/-m) collects every entry.
    here = os.path.dirname(os.path.abspath(__file__))
    whole = all(os.path.abspath(arg) == here for arg in config.args)
    if stale and whole and not config.getoption("keyword") and not config.getoption("markexpr"):
        raise pytest.UsageError(f"DESELECTED lists tests that do not exist: {sorted(stale)}")
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def _node(item) -> str:
    return item.nodeid.split("tests/", 1)[-1] if item.nodeid.startswith("tests/") else item.nodeid


def pytest_report_header(config):
    return [
        f"fast_axolotl {fast_axolotl.get_version()} ({fast_axolotl.IMPLEMENTATION}) from {fast_axolotl.__file__}",
        f"integration installed: {integration.is_installed()}, groups: {integration.report()['groups']}",
    ]


@pytest.fixture(scope="session", autouse=True)
def _fast_axolotl_patches_active():
    _assert_active("session start")
    yield
    _assert_active("session end")


def pytest_terminal_summary(terminalreporter):
    report = integration.report()
    terminalreporter.write_sep("-", "fast-axolotl")
    for node, reason in sorted(DESELECTED.items()):
        terminalreporter.write_line(f"deselected {node}: {reason}")
    terminalreporter.write_line(f"patched: {', '.join(report['patched'])}")
    terminalreporter.write_line(f"skipped: {report['skipped'] or 'none'}")
    if FALLBACKS:
        for where, count in sorted(FALLBACKS.items()):
            terminalreporter.write_line(f"handed back to Axolotl's code: {where} x{count}")
    else:
        terminalreporter.write_line("handed back to Axolotl's code: never")
