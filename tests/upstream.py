"""Axolotl 0.21.0's own code for the tests to compare against, fetched from PyPI, never copied.

The functions fast-axolotl must equal (``pack_parallel``, ``_deduplicate_dataset``,
``encode_streaming``, the collators ...) are imported from the files of the
``axolotl==0.21.0`` wheel, downloaded with ``pip download`` the first time they are
needed, checked against the sha256 pinned below and unpacked into a cache:

* ``$FAST_AXOLOTL_UPSTREAM_DIR`` when set (the nox sessions set it to ``.nox/.upstream``),
* else ``.nox/.upstream`` of the repository when it has a ``.nox/`` folder,
* else the user cache (``$XDG_CACHE_HOME`` or ``~/.cache``, ``%LOCALAPPDATA%`` on
  Windows) ``/fast-axolotl/upstream``.

The download happens once: a file lock serializes concurrent fetches (pytest-xdist
workers) and each archive is unpacked into a temporary folder that is renamed into
place, so a half-unpacked tree is never used. ``python tests/upstream.py fetch``
fills the cache (nox runs it before pytest); ``python tests/upstream.py path wheel``
prints where a tree is. The same file also has the sdist (Axolotl's own tests, run by
``nox -s axolotl``; see ``axolotl_tests``).

The test environments have neither torch nor numba nor the rest of Axolotl's
dependencies, so each upstream file is executed as a private module (not under the
``axolotl`` names fast-axolotl patches) with stand-ins for what it imports and cannot
get: ``numba`` (``njit`` is the identity: the same semantics in Python), a list-backed
``torch`` (only ``tensor``, ``cat``, ``full``, ``numel``, ``tolist`` are called by the
functions used here), ``axolotl.utils.logging.get_logger`` and placeholders for the
other Axolotl-internal names (a placeholder raises when called). numpy, datasets,
transformers, pyarrow ... are the real ones when installed. Where the real Axolotl
0.21.0, torch and numba are installed (``nox -s axolotl``), the installed Axolotl
files are executed the same way with all their real imports: private copies of their
definitions, so fast-axolotl's patches (which replace the functions and collator
methods of the ``axolotl`` modules) cannot make a comparison compare a patch with itself.

The public names are those of Axolotl's modules: ``import upstream as axo`` then
``axo.pack_parallel(...)``; ``axo.module("axolotl.utils.samplers.multipack")`` is the
whole private module.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import importlib
import importlib.metadata
import importlib.util
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import types
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

VERSION = "0.21.0"
# sha256 of the two files of axolotl 0.21.0 on PyPI (checked after every download).
ARCHIVES = {
    "wheel": ("axolotl-0.21.0-py3-none-any.whl", "5db0468897d1f3a80fa2becc80dd4409f378ce887dcb2c98854dc70b38196391"),
    "sdist": ("axolotl-0.21.0.tar.gz", "8ffe32db155c764775c5cd3864621065d7cbdb07f04ce006dacf543fee2ae257"),
}
ENV = "FAST_AXOLOTL_UPSTREAM_DIR"
REPO = Path(__file__).resolve().parent.parent

# Axolotl 0.21.0's tests of the modules fast-axolotl patches (paths inside the sdist's
# tests/), run by `nox -s axolotl`; docs/axolotl.md says why these and not others.
AXOLOTL_TEST_FILES = [
    "__init__.py",
    "constants.py",
    "hf_offline_utils.py",
    "fixtures/sampler_ordering_golden.json",
    "test_accumulation_balancing.py",
    "test_balanced_sampler_integration.py",
    "test_balanced_sampler_resume.py",
    "test_calculate_total_num_steps.py",
    "test_data.py",
    "test_exact_deduplication.py",
    "test_fa_varlen_collator.py",
    "test_flattening_sampler.py",
    "test_label_balance_window.py",
    "test_label_balanced_packing.py",
    "test_label_balanced_sampler.py",
    "test_microbatch_balancing.py",
    "test_packed_batch_sampler.py",
    "test_packed_pretraining.py",
    "test_sampler_ordering_optimization.py",
    "test_save_deduplicated.py",
    "test_streaming.py",
    "utils/data/test_utils.py",
]
# Upstream's tests/conftest.py, next to ours (which imports the fixtures it keeps from it).
AXOLOTL_CONFTEST = "axolotl_conftest.py"
OUR_CONFTEST = Path(__file__).with_name("upstream_conftest.py")
PYTEST_INI = """\
# Written by tests/upstream.py: Axolotl 0.21.0's own tests (from its sdist) with
# fast-axolotl's patches installed (nox -s axolotl). Their own rootdir: their modules
# import each other as `tests.*` (prepend import mode, as upstream).
[pytest]
addopts = -ra --import-mode=prepend -p no:cacheprovider
testpaths = tests
"""


# --- the cache ---------------------------------------------------------------------------


def cache_root() -> Path:
    """Where the unpacked archives live (see the module docstring)."""
    configured = os.environ.get(ENV, "").strip()
    if configured:
        return Path(configured).expanduser().resolve()
    if (REPO / ".nox").is_dir() and (REPO / "noxfile.py").is_file():
        return REPO / ".nox" / ".upstream"
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        base = Path(os.environ["LOCALAPPDATA"])
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "fast-axolotl" / "upstream"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """An exclusive lock (POSIX flock; elsewhere none: the rename below still keeps it safe)."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pythons_with_pip() -> Iterator[str]:
    seen = set()
    for exe in (sys.executable, getattr(sys, "_base_executable", None), shutil.which("python3")):
        if not exe or exe in seen:
            continue
        seen.add(exe)
        done = subprocess.run([exe, "-m", "pip", "--version"], capture_output=True, check=False)
        if done.returncode == 0:
            yield exe


def _download(kind: str, dest: Path) -> Path:
    name, expected = ARCHIVES[kind]
    binary = ["--only-binary", ":all:"] if kind == "wheel" else ["--no-binary", ":all:"]
    errors = []
    for python in _pythons_with_pip():
        command = [
            python, "-m", "pip", "download", "--no-deps", "--ignore-requires-python",
            "--disable-pip-version-check", *binary, "--dest", str(dest), f"axolotl=={VERSION}",
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode == 0 and (dest / name).is_file():
            break
        errors.append(f"{' '.join(command)}: exit {done.returncode}\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    else:
        raise RuntimeError(
            f"could not download {name} from PyPI (set {ENV} to a folder that holds the unpacked "
            f"archives, or make pip available): " + ("\n".join(errors) or "no Python with pip found")
        )
    actual = _sha256(dest / name)
    if actual != expected:
        raise RuntimeError(f"{name}: sha256 {actual}, expected {expected} (pinned in {__file__})")
    return dest / name


def _unpack(kind: str, archive: Path, into: Path) -> None:
    if kind == "wheel":
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(into)
        return
    scratch = into.with_name(into.name + ".tar")
    with tarfile.open(archive) as tf:
        if hasattr(tarfile, "data_filter"):
            tf.extractall(scratch, filter="data")
        else:  # pragma: no cover (Python without PEP 706)
            tf.extractall(scratch)
    (top,) = scratch.iterdir()  # axolotl-0.21.0/
    top.rename(into)
    scratch.rmdir()


def fetch(kind: str) -> Path:
    """The unpacked wheel (``kind="wheel"``: holds ``axolotl/``) or sdist (``"sdist"``: holds
    ``tests/``, ``src/``), downloaded and unpacked on first use."""
    if kind not in ARCHIVES:
        raise ValueError(f"kind must be one of {sorted(ARCHIVES)}, not {kind!r}")
    final = cache_root() / f"axolotl-{VERSION}" / kind
    if final.is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with _lock(final.parent / ".lock"):
        if final.is_dir():  # another process fetched it while this one waited
            return final
        work = Path(tempfile.mkdtemp(prefix=f".{kind}-", dir=final.parent))
        try:
            archive = _download(kind, work / "download")
            _unpack(kind, archive, work / kind)
            try:
                os.rename(work / kind, final)  # atomic: the tree is complete or absent
            except OSError:
                if not final.is_dir():
                    raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return final


def axolotl_tests(run_dir: Path) -> Path:
    """Lay out Axolotl's own tests (AXOLOTL_TEST_FILES from the sdist, verbatim) in
    ``run_dir`` with a pytest.ini and our conftest (``upstream_conftest.py``; upstream's
    own conftest.py beside it as ``axolotl_conftest.py``). Returns ``run_dir/tests``."""
    sdist_tests = fetch("sdist") / "tests"
    tests = run_dir / "tests"
    shutil.rmtree(tests, ignore_errors=True)
    for rel in AXOLOTL_TEST_FILES:
        target = tests / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sdist_tests / rel, target)
    shutil.copyfile(sdist_tests / "conftest.py", tests / AXOLOTL_CONFTEST)
    shutil.copyfile(OUR_CONFTEST, tests / "conftest.py")
    shutil.copyfile(fetch("sdist") / "LICENSE", run_dir / "LICENSE")
    (run_dir / "pytest.ini").write_text(PYTEST_INI, encoding="utf-8")
    return tests


# --- executing upstream files with stand-ins ---------------------------------------------


def _real_axolotl() -> bool:
    """Axolotl 0.21.0 with torch and numba installed: use its own files and imports."""
    if any(importlib.util.find_spec(name) is None for name in ("axolotl", "torch", "numba")):
        return False
    try:
        return importlib.metadata.version("axolotl") == VERSION
    except importlib.metadata.PackageNotFoundError:
        return False


REAL_AXOLOTL = _real_axolotl()


def source_dir() -> Path:
    """The folder that holds ``axolotl/`` (the installed one, or the unpacked wheel)."""
    if REAL_AXOLOTL:
        spec = importlib.util.find_spec("axolotl")
        assert spec is not None and spec.origin is not None
        return Path(spec.origin).parent.parent
    return fetch("wheel")


def _raiser(name: str) -> Callable[..., Any]:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError(f"{name} is a stand-in (tests/upstream.py): the real one is not installed")

    return __init__


class _StandIn(types.ModuleType):
    """A module whose unknown attributes are placeholder classes (subclassable, usable in
    annotations; calling one raises)."""

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        value = type(attr, (), {"__module__": self.__name__, "__init__": _raiser(f"{self.__name__}.{attr}")})
        setattr(self, attr, value)
        return value


class _Tensor(list):  # type: ignore[type-arg]
    """The list-backed stand-in for the few tensor methods encode_streaming calls."""

    def numel(self) -> int:
        return len(self)

    def tolist(self) -> list[Any]:
        return list(self)


def _torch_stand_in() -> dict[str, types.ModuleType]:
    torch = _StandIn("torch")
    torch.long = "long"  # type: ignore[attr-defined]
    torch.tensor = lambda data, dtype=None: _Tensor(data)  # type: ignore[attr-defined]
    torch.full = lambda shape, fill_value, dtype=None: _Tensor([fill_value] * shape[0])  # type: ignore[attr-defined]

    def cat(tensors: Any, dim: int = 0) -> _Tensor:
        out = _Tensor()
        for t in tensors:
            out.extend(t)
        return out

    torch.cat = cat  # type: ignore[attr-defined]
    modules = {"torch": torch}
    for sub in ("torch.utils", "torch.utils.data", "torch.cuda"):
        modules[sub] = _StandIn(sub)
    torch.utils = modules["torch.utils"]  # type: ignore[attr-defined]
    torch.cuda = modules["torch.cuda"]  # type: ignore[attr-defined]
    modules["torch.utils"].data = modules["torch.utils.data"]  # type: ignore[attr-defined]
    return modules


def _numba_stand_in() -> types.ModuleType:
    numba = _StandIn("numba")

    def njit(*args: Any, **kwargs: Any) -> Any:  # @numba.njit and @numba.njit(...)
        if len(args) == 1 and callable(args[0]) and not kwargs:
            return args[0]
        return lambda fn: fn

    numba.njit = numba.jit = njit  # type: ignore[attr-defined]
    numba.prange = range  # type: ignore[attr-defined]
    return numba


class _Log(logging.LoggerAdapter):  # type: ignore[type-arg]
    def warning_once(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self.warning(msg, *args, **kwargs)


def _axolotl_stand_in(name: str) -> types.ModuleType:
    module = _StandIn(name)
    module.__path__ = []  # a package too, for `from axolotl.x import y`
    if name == "axolotl.utils.logging":
        module.get_logger = lambda n, *a, **k: _Log(logging.getLogger(n), {})  # type: ignore[attr-defined]
    return module


def _module_imports(tree: ast.Module) -> list[str]:
    """Absolute module names imported when the module runs (not inside functions)."""
    names: list[str] = []
    todo: list[ast.stmt] = list(tree.body)
    while todo:
        node = todo.pop(0)
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            for field in ("body", "orelse", "finalbody", "handlers"):
                for child in getattr(node, field, []):
                    todo.extend(child.body if isinstance(child, ast.ExceptHandler) else [child])
    return names


def _findable(top: str) -> bool:
    """A real top-level package is installed (a stand-in of ours does not count)."""
    if top in sys.modules:
        return not isinstance(sys.modules[top], _StandIn)
    return importlib.util.find_spec(top) is not None


IMPORT = "import"  # from `internal`: let the import system import the module as usual


def importing(names: Iterable[str]) -> Callable[[str], str | None]:
    """An ``internal`` for exec_upstream: ``names`` are real modules (e.g. files of a fake
    ``axolotl`` package on sys.path), every other ``axolotl.*`` module a placeholder."""
    real = frozenset(names)
    return lambda name: IMPORT if name in real else None


def exec_upstream(
    namespace: dict[str, Any],
    relpath: str,
    internal: Callable[[str], types.ModuleType | str | None] = lambda name: None,
) -> None:
    """Run the upstream file ``relpath`` (e.g. ``axolotl/utils/samplers/multipack.py``) in
    ``namespace``. Its imports that cannot be had are stand-ins in ``sys.modules`` while it
    runs (only then). ``internal(name)`` decides each ``axolotl.*`` import: a module to use,
    ``IMPORT`` (import it for real), or None (a placeholder module)."""
    path = source_dir() / relpath
    text = path.read_text(encoding="utf-8")
    code = compile(text, str(path), "exec")
    overlay: dict[str, types.ModuleType] = {}
    if not REAL_AXOLOTL:
        torch_real = _findable("torch")
        for name in _module_imports(ast.parse(text)):
            top = name.split(".")[0]
            if top == "axolotl":
                parts = name.split(".")
                for i in range(1, len(parts) + 1):
                    prefix = ".".join(parts[:i])
                    decided = internal(prefix)
                    if decided == IMPORT or prefix in overlay:
                        continue
                    overlay[prefix] = decided if isinstance(decided, types.ModuleType) else _axolotl_stand_in(prefix)
            elif top == "numba":
                overlay.setdefault("numba", _numba_stand_in())
            elif top == "torch" and not torch_real:
                for key, module in _torch_stand_in().items():
                    overlay.setdefault(key, module)
            else:
                try:  # the real package, imported now (before any stand-in is visible)
                    importlib.import_module(name)
                except ImportError:
                    for i in range(1, name.count(".") + 2):
                        prefix = ".".join(name.split(".")[:i])
                        if not _findable(prefix.split(".")[0]):
                            overlay.setdefault(prefix, _axolotl_stand_in(prefix))
    # An enclosing exec_upstream's stand-ins (a file importing a file) stay as they are.
    overlay = {k: v for k, v in overlay.items() if not isinstance(sys.modules.get(k), _StandIn)}
    previous = {key: sys.modules.get(key) for key in overlay}
    sys.modules.update(overlay)
    try:
        exec(code, namespace)
    finally:
        for key, module in overlay.items():
            if sys.modules.get(key) is module:
                if previous[key] is None:
                    del sys.modules[key]
                else:
                    sys.modules[key] = previous[key]  # type: ignore[assignment]


# The upstream modules the tests use, by their Axolotl name.
MODULES = {
    "axolotl.utils.samplers.multipack": "axolotl/utils/samplers/multipack.py",
    "axolotl.utils.samplers.utils": "axolotl/utils/samplers/utils.py",
    "axolotl.utils.data.utils": "axolotl/utils/data/utils.py",
    "axolotl.utils.data.streaming": "axolotl/utils/data/streaming.py",
    "axolotl.utils.collators.batching": "axolotl/utils/collators/batching.py",
    "axolotl.utils.trainer": "axolotl/utils/trainer.py",
}
_PRIVATE = "_upstream_axolotl_" + VERSION.replace(".", "_")
_LOADED: dict[str, types.ModuleType] = {}


def module(name: str) -> types.ModuleType:
    """A private copy of the upstream module ``name`` (a key of MODULES)."""
    if name in _LOADED:
        return _LOADED[name]
    private = f"{_PRIVATE}.{name.removeprefix('axolotl.')}"
    mod = types.ModuleType(private)
    mod.__file__ = str(source_dir() / MODULES[name])
    sys.modules[private] = mod  # pickling by qualified name (pack_parallel's process pool)
    _LOADED[name] = mod
    try:
        exec_upstream(mod.__dict__, MODULES[name], lambda n: module(n) if n in MODULES else None)
    except BaseException:
        del _LOADED[name], sys.modules[private]
        raise
    return mod


# Public name -> the module that defines it.
_NAMES = {
    **dict.fromkeys(["pack_group", "_process_group", "pack_parallel", "allocate_sequentially"], "samplers.multipack"),
    "get_dataset_lengths": "samplers.utils",
    **dict.fromkeys(["sha256", "_deduplicate_dataset", "deduplicate_and_log_datasets"], "data.utils"),
    "_drop_outside_range": "data.utils",
    "handle_long_seq_in_dataset": "data.utils",
    "filter_sequences_by_length": "trainer",
    "encode_streaming": "data.streaming",
    **dict.fromkeys(
        [
            "DataCollatorForSeq2Seq",
            "BatchSamplerDataCollatorForSeq2Seq",
            "V2BatchSamplerDataCollatorForSeq2Seq",
            "PretrainingBatchSamplerDataCollatorForSeq2Seq",
        ],
        "collators.batching",
    ),
}


def __getattr__(attr: str) -> Any:
    if attr in _NAMES:
        return getattr(module(f"axolotl.utils.{_NAMES[attr]}"), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_NAMES])


def main(argv: list[str]) -> int:
    usage = "usage: python tests/upstream.py fetch [wheel|sdist ...] | path wheel|sdist | axolotl-tests DIR"
    if not argv:
        print(usage, file=sys.stderr)
        return 2
    command, args = argv[0], argv[1:]
    if command == "fetch":
        for kind in args or sorted(ARCHIVES):
            print(f"{ARCHIVES[kind][0]}: {fetch(kind)}")
    elif command == "path" and len(args) == 1:
        print(fetch(args[0]))
    elif command == "axolotl-tests" and len(args) == 1:
        print(axolotl_tests(Path(args[0]).resolve()))
    else:
        print(usage, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
