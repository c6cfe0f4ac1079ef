"""Build and test automation (``nox``; the default sessions are what CI runs).

The native extension is built ONCE, as a single abi3 wheel (``cp310-abi3``), by the
``build_wheel`` session, and that same file is installed into every test
environment (CPython 3.10-3.13). A wheel in ``dist/`` that is newer than every
input of the build is reused, so repeated runs only rebuild after a change.

Tests always import the INSTALLED package: pytest runs from a scratch directory
(the repository's ``fast_axolotl/`` would otherwise shadow it) with
``--import-mode=importlib``, and each run first checks where ``fast_axolotl`` was
imported from and which implementation it selected.

    nox                      # everything CI runs (lint, rust, tests on 3.10-3.13, parity)
    nox -s tests-3.12        # one interpreter (builds or reuses the wheel first)
    nox -s tests-3.12 -- -k pack -x     # arguments after -- go to pytest
    nox -s rust              # cargo fmt --check, clippy -D warnings, cargo test (core crate)
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import nox

nox.needs_version = ">=2024.10.9"  # session(default=..., requires=...)
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"
nox.options.error_on_external_run = True

ROOT = Path(__file__).resolve().parent
DIST = ROOT / "dist"
TESTS = ROOT / "tests"
PYPROJECT = ROOT / "pyproject.toml"

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
MAIN_PYTHON = "3.11"

MATURIN = "maturin>=1.9.4,<2"
TEST_DEPS = ["pytest", "hypothesis", "numpy", "pyarrow", "datasets", "transformers", "tokenizers"]
LINT_DEPS = ["ruff==0.17.6", "mypy==2.4.1", "numpy", "pyarrow"]
LINT_PATHS = ["fast_axolotl", "tests", "noxfile.py", "benchmarks"]
STUBTEST_ALLOWLIST = ROOT / ".mypy-stubtest-allowlist"

# Everything that goes into the wheel. A wheel newer than all of it is up to date.
BUILD_INPUTS = [ROOT / "rust", ROOT / "Cargo.toml", ROOT / "Cargo.lock", PYPROJECT, ROOT / "fast_axolotl"]
# Never wheel inputs: caches and a possible `maturin develop` artifact.
_NOT_INPUTS = re.compile(r"(__pycache__|\.pyc$|\.so$|\.pyd$|/target/)")

# Run in the test environment before pytest: the package must come from site-packages
# and must have selected the implementation asked for (argv[1]).
CHECK_INSTALLED = """
import sys, sysconfig
from pathlib import Path
import fast_axolotl
from fast_axolotl import _backend
expected = sys.argv[1]
where = Path(fast_axolotl.__file__).resolve()
sites = {Path(sysconfig.get_path(k)).resolve() for k in ("purelib", "platlib")}
print(f"fast_axolotl {fast_axolotl.get_version()} imported from {where}")
assert any(site in where.parents for site in sites), f"{where} is not inside {sorted(map(str, sites))}"
assert fast_axolotl.IMPLEMENTATION == expected, (fast_axolotl.IMPLEMENTATION, expected, fast_axolotl.REASON)
native = _backend.native_module()
if expected == "native":
    assert native is not None and native.__file__.endswith(".abi3.so"), native
    print(f"native extension: {native.__file__}")
"""


def _cargo_version() -> str:
    text = (ROOT / "Cargo.toml").read_text(encoding="utf-8")
    section = re.search(r"^\[workspace\.package\](.*?)(?=^\[)", text, re.S | re.M)
    match = re.search(r'^version\s*=\s*"([^"]+)"', section.group(1) if section else "", re.M)
    if not match:
        raise RuntimeError("no [workspace.package] version in Cargo.toml")
    return match.group(1)


def _newest_input_mtime() -> float:
    newest = 0.0
    for item in BUILD_INPUTS:
        paths = [item] if item.is_file() else [p for p in item.rglob("*") if p.is_file()]
        for path in paths:
            if not _NOT_INPUTS.search(path.as_posix()):
                newest = max(newest, path.stat().st_mtime)
    return newest


def _wheels() -> list[Path]:
    version = _cargo_version().replace("-", "_")
    found = DIST.glob(f"fast_axolotl-{version}-cp310-abi3-*.whl")
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def _fresh_wheel() -> Path | None:
    """The newest abi3 wheel of this version, if it is newer than every build input."""
    wheels = _wheels()
    if wheels and wheels[0].stat().st_mtime > _newest_input_mtime():
        return wheels[0]
    return None


def _wheel(session: nox.Session) -> Path:
    wheel = _fresh_wheel()
    if wheel is None:
        session.error("no up-to-date abi3 wheel in dist/: run `nox -s build_wheel` first")
    return wheel


def _install_wheel(session: nox.Session, *extra: str) -> Path:
    wheel = _wheel(session)
    session.install(str(wheel), *extra)
    # Same version, new build: make sure this exact file is what is installed.
    session.install("--force-reinstall", "--no-deps", str(wheel))
    return wheel


def _scratch_dir(session: nox.Session) -> Path:
    """The session's scratch directory (absolute; also TMPDIR), where tests run: there
    ``./fast_axolotl`` of the repository cannot shadow the installed package."""
    with session.chdir(ROOT):
        return Path(session.create_tmp()).resolve()


def _check_installed(session: nox.Session, implementation: str) -> None:
    session.chdir(_scratch_dir(session))
    session.run("python", "-c", CHECK_INSTALLED, implementation, env={"FAST_AXOLOTL_IMPL": implementation})


def _pytest(session: nox.Session, *args: str, env: dict[str, str]) -> None:
    """pytest from the scratch directory against the installed package."""
    session.chdir(_scratch_dir(session))
    session.run(
        "python", "-m", "pytest",
        "-c", str(PYPROJECT), "--rootdir", str(ROOT), "-p", "no:cacheprovider",
        *args, env=env,
    )  # fmt: skip


@nox.session(python=MAIN_PYTHON, default=False)
def build_wheel(session: nox.Session) -> None:
    """Build the one abi3 wheel into dist/ (skipped when an up-to-date one is there)."""
    wheel = _fresh_wheel()
    if wheel is not None:
        session.log(f"reusing {wheel.relative_to(ROOT)} (newer than rust/, Cargo.*, pyproject.toml, fast_axolotl/)")
        return
    session.install(MATURIN)
    started = time.time()
    session.run("maturin", "build", "--release", "--locked", "--out", str(DIST))
    wheels = [w for w in _wheels() if w.stat().st_mtime >= started - 1]
    if not wheels:
        built = sorted(p.name for p in DIST.glob("*.whl"))
        session.error(f"maturin produced no fast_axolotl-{_cargo_version()}-cp310-abi3-*.whl (dist/: {built})")
    # Date the wheel to when the build started, so that an input edited during
    # the build makes it stale.
    os.utime(wheels[0], (started, started))
    session.log(f"built {wheels[0].relative_to(ROOT)}")


@nox.session(python=PYTHONS, requires=["build_wheel"])
def tests(session: nox.Session) -> None:
    """The test suite against the installed wheel, with the native and the reference implementation."""
    _install_wheel(session, *TEST_DEPS)
    for implementation in ("native", "fallback"):
        _check_installed(session, implementation)
        _pytest(session, str(TESTS), *session.posargs, env={"FAST_AXOLOTL_IMPL": implementation})


@nox.session(python=MAIN_PYTHON, requires=["build_wheel"])
def parity(session: nox.Session) -> None:
    """Differential Hypothesis tests (native vs reference) with many examples (profile ``parity``)."""
    targets = sorted({*TESTS.glob("**/test_*parity*.py"), *TESTS.glob("parity/**/test_*.py")})
    if not targets:
        session.skip("no parity tests yet (tests/test_*parity*.py or tests/parity/)")
    _install_wheel(session, *TEST_DEPS)
    env = {"FAST_AXOLOTL_IMPL": "native", "HYPOTHESIS_PROFILE": "parity"}
    _check_installed(session, "native")
    _pytest(session, *map(str, targets), *session.posargs, env=env)


@nox.session(python=False)
def rust(session: nox.Session) -> None:
    """cargo fmt --check, clippy with -D warnings, and the core crate's tests."""
    session.run("cargo", "fmt", "--all", "--check", external=True)
    session.run("cargo", "clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings", external=True)
    # The binding crate is a cdylib that needs an interpreter to link; its behaviour
    # is covered by the Python tests. The core crate has no Python dependency.
    session.run("cargo", "test", "-p", "fast-axolotl-core", "--locked", external=True)


@nox.session(python=MAIN_PYTHON, requires=["build_wheel"])
def lint(session: nox.Session) -> None:
    """ruff (lint + format), mypy --strict, and stubtest of _native.pyi against the built extension."""
    _install_wheel(session, *LINT_DEPS)
    paths = [p for p in LINT_PATHS if (ROOT / p).exists()]
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)
    session.run("mypy")  # strict; configured in pyproject.toml
    # Outside the repository, so that `fast_axolotl` (and the stub) are the installed ones.
    session.chdir(_scratch_dir(session))
    allowlist = ["--allowlist", str(STUBTEST_ALLOWLIST)] if STUBTEST_ALLOWLIST.exists() else []
    session.run(
        "python", "-m", "mypy.stubtest", "fast_axolotl._native", *allowlist, env={"FAST_AXOLOTL_IMPL": "native"}
    )


# `nox` with no arguments: cheapest feedback first; build_wheel runs (once) before
# the first session that requires it.
nox.options.sessions = ["rust", "lint", "tests", "parity"]


AXOLOTL_PINS = ["torch==2.13.0", "axolotl==0.21.0"]
AXOLOTL_PROBE = """
from importlib.metadata import PackageNotFoundError, version
try:
    print(version("torch").split("+")[0], version("axolotl"), version("pytest"))
except PackageNotFoundError:
    print("missing")
"""


@nox.session(python=MAIN_PYTHON, venv_backend="venv", default=False, requires=["build_wheel"])
def axolotl(session: nox.Session) -> None:
    """tests/test_integration.py against the real Axolotl 0.21.0 (patched == unpatched).

    Not a default session: the environment is ~4 GB and takes ~5 minutes to build,
    so it is reused between runs (installs are skipped when the pins are present).
    Axolotl 0.21 requires Python >= 3.12; on 3.11 it installs with
    ``--ignore-requires-python --prefer-binary`` (all its sources compile under 3.11).
    torch 2.13.0 from PyPI runs on CPU.
    """
    found = session.run("python", "-c", AXOLOTL_PROBE, silent=True) or ""
    if found.split()[:2] != ["2.13.0", "0.21.0"]:
        session.install(AXOLOTL_PINS[0])
        session.install("--prefer-binary", "--ignore-requires-python", AXOLOTL_PINS[1], "pytest", "hypothesis")
    else:
        session.log(f"reusing torch/axolotl/pytest {found.strip()}")
    wheel = _wheel(session)
    session.install("--force-reinstall", "--no-deps", str(wheel))
    _check_installed(session, "native")
    env = {"FAST_AXOLOTL_IMPL": "native"}
    _pytest(session, str(TESTS / "test_integration.py"), *session.posargs, env=env)
