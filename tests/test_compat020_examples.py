"""fast-axolotl 0.2.0's own test suite and documentation examples, run against this package.

0.2.0 (an earlier, unrelated package of the same name) is what ``pip install -U
fast-axolotl`` upgrades from, so its tests and its documented examples must keep working,
except where a behaviour changed on purpose (docs/migrating-from-0.2.md says what and why).

* ``test_020_suite``: 0.2.0's ``tests/test_fast_axolotl.py``, unchanged, in a pytest
  subprocess; exactly the tests of :data:`DELIBERATE_FAILURES` must fail.
* ``test_020_example``: every Python example of 0.2.0's README.md, docs/usage.md,
  docs/installation.md and the "Example" blocks of docs/api.md, each in a fresh
  interpreter from a scratch directory, with a prelude defining the names the docs assume
  and the docs' placeholder paths mapped to small real files. Blocks that import Axolotl
  run only where Axolotl is importable.

Needs 0.2.0's unpacked sdist: ``FAST_AXOLOTL_COMPAT020_SDIST=<dir>`` (``nox -s compat020``
downloads it, sha256-pinned, and sets it together with ``FAST_AXOLOTL_COMPAT020_REQUIRED=1``,
which turns a missing sdist into a failure). Without it these tests are skipped. Nothing of
0.2.0 is committed to this repository.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

SDIST_ENV = "FAST_AXOLOTL_COMPAT020_SDIST"
REQUIRED_ENV = "FAST_AXOLOTL_COMPAT020_REQUIRED"
SDIST = os.environ.get(SDIST_ENV, "")
REQUIRED = os.environ.get(REQUIRED_ENV, "") not in ("", "0")
SUITE = "tests/test_fast_axolotl.py"
TIMEOUT = 300

#: 0.2.0's tests that fail on purpose, with the reason docs/migrating-from-0.2.md gives.
DELIBERATE_FAILURES = {
    "TestRustExtension::test_streaming_reader_validation": (
        "typed errors: a missing file raises DatasetNotFoundError (a FileNotFoundError), not RuntimeError"
    ),
    "TestBatchPadding::test_pad_sequences_right": "numpy arrays instead of lists (compared with == to a list)",
    "TestBatchPadding::test_pad_sequences_left": "numpy arrays instead of lists (compared with == to a list)",
    "TestShim::test_shim_creates_modules": "no fake sys.modules entries (axolotl.rust_ext, ...): Axolotl is patched in place",
    "TestEdgeCases::test_detect_format_no_extension": "no 'json' guess for a name that tells no format",
    "TestEdgeCases::test_pad_sequences_empty": "numpy arrays instead of lists (an empty array == [] is ambiguous)",
    "TestEdgeCases::test_pad_sequences_zero_target_length": "numpy arrays instead of lists (compared with == to a list)",
    "TestEdgeCases::test_pack_sequences_empty": "numpy arrays instead of lists (compared with == to a dict of lists)",
    "TestErrorPaths::test_detect_format_compressed_no_base_extension": "no 'json' guess for a name that tells no format",
    "TestErrorPaths::test_pad_sequences_to_multiple_of_zero": "pad_to_multiple_of=0 is refused (InvalidArgumentError)",
    "TestErrorPaths::test_concatenate_and_pack_empty": "numpy arrays instead of lists (compared with == to a dict of lists)",
}
SUITE_SIZE = 39

#: Python blocks per documentation file (api.md: its "Example" blocks and "Module Exports").
DOC_FILES = {"README.md": 5, "docs/usage.md": 14, "docs/api.md": 13, "docs/installation.md": 1}

#: 0.2.0's ``__all__``: what api.md's examples use without importing.
API_NAMES = [
    "is_available",
    "get_version",
    "install",
    "uninstall",
    "RUST_AVAILABLE",
    "list_supported_formats",
    "detect_format",
    "streaming_dataset_reader",
    "RustStreamingDataset",
    "create_rust_streaming_dataset",
    "should_use_rust_streaming",
    "pack_sequences",
    "concatenate_and_pack",
    "parallel_hash_rows",
    "deduplicate_indices",
    "pad_sequences",
    "create_padding_mask",
]


def _sdist() -> Path:
    if not SDIST:
        if REQUIRED:
            pytest.fail(f"{REQUIRED_ENV} is set but {SDIST_ENV} is not")
        pytest.skip(f"fast-axolotl 0.2.0's sdist is not available (set {SDIST_ENV}, or run `nox -s compat020`)")
    root = Path(SDIST)
    if not (root / SUITE).is_file():
        pytest.fail(f"{SDIST_ENV}={SDIST} is not an unpacked fast-axolotl 0.2.0 sdist (no {SUITE})")
    return root


# ---------------------------------------------------------------------------
# 0.2.0's test suite


_OUTCOME = re.compile(r"^(PASSED|FAILED|ERROR|XFAIL|XPASS)\s+(\S+)")


def _outcomes(output: str) -> dict[str, str]:
    """``{node id relative to the test file: outcome}`` from pytest's ``-rA`` summary."""
    found: dict[str, str] = {}
    for line in output.splitlines():
        match = _OUTCOME.match(line)
        if match and "::" in match.group(2):
            found[match.group(2).split("::", 1)[1]] = match.group(1)
    return found


def test_020_suite(tmp_path: Path) -> None:
    root = _sdist()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    # From a scratch dir, with 0.2.0's config ignored (-c /dev/null): only its test file.
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", os.devnull, "--rootdir", str(tmp_path), "-p", "no:cacheprovider",
         "--import-mode=importlib", "-rA", "--tb=short", "-q", str(root / SUITE)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    outcomes = _outcomes(done.stdout)
    report = done.stdout[-6000:] + done.stderr[-2000:]
    assert len(outcomes) == SUITE_SIZE, f"expected {SUITE_SIZE} results, got {len(outcomes)}:\n{report}"
    failed = {node for node, outcome in outcomes.items() if outcome in ("FAILED", "ERROR")}
    unexpected = sorted(failed - set(DELIBERATE_FAILURES))
    passing = sorted(set(DELIBERATE_FAILURES) - failed)
    assert not unexpected, f"0.2.0 tests that must pass failed: {unexpected}\n{report}"
    assert not passing, f"listed as deliberate failures but passed (update the list and the guide): {passing}"
    assert set(outcomes.values()) <= {"PASSED", "FAILED"}, outcomes


# ---------------------------------------------------------------------------
# 0.2.0's documentation examples


@dataclass(frozen=True)
class Block:
    doc: str
    index: int  # 1-based, per file
    line: int
    code: str
    imported: tuple[str, ...]  # names earlier blocks of the same page imported from fast_axolotl

    @property
    def id(self) -> str:
        return f"{self.doc}#{self.index}"


_FENCE = re.compile(r"^(\s*)```(\w*)\s*$")


def _fenced(text: str) -> list[tuple[int, str, str, str]]:
    """``(line, language, code, context)`` of each fenced block; context = the nearest
    non-empty line above and the current ``##`` heading."""
    blocks = []
    lines = text.splitlines()
    heading, previous, i = "", "", 0
    while i < len(lines):
        line = lines[i]
        match = _FENCE.match(line)
        if match:
            start, indent, lang = i, match.group(1), match.group(2)
            body = []
            i += 1
            while i < len(lines) and lines[i].strip() != "```":
                body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
                i += 1
            blocks.append((start + 1, lang, "\n".join(body) + "\n", f"{heading}|{previous}"))
            previous = ""
        elif line.startswith("## "):
            heading = line[3:].strip()
        elif line.strip():
            previous = line.strip()
        i += 1
    return blocks


def _imports(code: str) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.ImportFrom) and node.module == "fast_axolotl":
            names.extend(alias.asname or alias.name for alias in node.names)
    return names


def extract(root: Path) -> list[Block]:
    blocks: list[Block] = []
    for doc in DOC_FILES:
        seen: list[str] = []
        index = 0
        for line, lang, code, context in _fenced((root / doc).read_text(encoding="utf-8")):
            if lang != "python":
                continue
            if doc == "docs/api.md":
                heading, previous = context.split("|", 1)
                if not (previous.startswith("**Example") or heading == "Module Exports"):
                    continue  # a signature, not an example
            index += 1
            blocks.append(Block(doc, index, line, code, tuple(dict.fromkeys(seen))))
            seen.extend(_imports(code))
    return blocks


def _uses(code: str) -> set[str]:
    return {node.id for node in ast.walk(ast.parse(code)) if isinstance(node, ast.Name)}


def _imports_axolotl(code: str) -> bool:
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "axolotl" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "axolotl":
            return True
    return False


def _prelude(block: Block, data: Path) -> str:
    # Only the names the block uses (a name the block lacks must fail the block, not the prelude).
    used = _uses(block.code)
    names = [n for n in [*block.imported, *(API_NAMES if block.doc == "docs/api.md" else [])] if n in used]
    lines = ["import json", "import fast_axolotl"]
    if names:
        lines.append(f"from fast_axolotl import {', '.join(dict.fromkeys(names))}")
    lines += [
        "def process(*args, **kwargs): pass",
        "def process_batch(*args, **kwargs): pass",
        "rows = ['row1', 'row2', 'row3', 'row1']",
        "sequences = [[1, 2, 3], [4, 5], [6, 7, 8, 9, 10]]  # usage.md's padding blocks share it",
        "def load_previous_hashes(): return fast_axolotl.parallel_hash_rows(['row2'])",
        f"path = {str(data / 'data.parquet')!r}",
    ]
    if "dataset" in _uses(block.code):
        lines += [
            "import datasets",
            "dataset = datasets.Dataset.from_dict({'text': ['a', 'b', 'a', 'c'], 'label': [0, 1, 0, 1]})",
        ]
    return "\n".join(lines) + "\n"


def _localize(code: str, data: Path) -> str:
    """The docs' placeholder paths -> the small real files of ``data``."""
    return code.replace("/path/to/", f"{data}/")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = tmp_path_factory.mktemp("compat020_data")
    table = pa.table({"text": [f"sample text {i}" for i in range(50)], "label": [i % 2 for i in range(50)]})
    for name in ("data.parquet", "large_dataset.parquet"):
        pq.write_table(table, root / name)
    datasets = pytest.importorskip("datasets")
    datasets.Dataset(table).save_to_disk(str(root / "hf_dir"))
    return root


def _blocks() -> list[Block]:
    return extract(Path(SDIST)) if SDIST and (Path(SDIST) / SUITE).is_file() else []


def test_020_examples_found() -> None:
    root = _sdist()
    blocks = extract(root)
    counts = {doc: sum(b.doc == doc for b in blocks) for doc in DOC_FILES}
    assert counts == DOC_FILES, counts
    for block in blocks:
        ast.parse(block.code)  # every example is valid Python


@pytest.mark.parametrize("block", _blocks() or [None], ids=lambda b: b.id if b else "no-sdist")
def test_020_example(block: Block | None, data: Path, tmp_path: Path) -> None:
    _sdist()
    assert block is not None
    if _imports_axolotl(block.code) and importlib.util.find_spec("axolotl") is None:
        pytest.skip(f"{block.id} imports Axolotl, which is not installed here (runs in the Axolotl environment)")
    (tmp_path / "data.parquet").write_bytes((data / "data.parquet").read_bytes())
    script = tmp_path / "example.py"
    code = _localize(block.code, data)
    script.write_text(_prelude(block, data) + "\n# --- the example ---\n" + code, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, (
        f"{block.id} (line {block.line}) raised:\n{textwrap.indent(block.code, '    ')}\n{done.stderr[-3000:]}"
    )
