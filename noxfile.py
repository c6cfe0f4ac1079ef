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
TEST_DEPS = [
    "pytest",
    "hypothesis",
    "numpy",
    "pyarrow",
    "datasets",
    "transformers",
    "tokenizers",
    "jinja2",  # chat templates (the prepare extra)
    "pydantic",
    "zstandard",
]
LINT_DEPS = ["ruff==0.17.6", "mypy==2.4.1", "numpy", "pyarrow", "pydantic"]  # pydantic: the plugin's YAML model
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


# Axolotl 0.21.0's wheel (the code the tests compare against) and sdist (its own tests),
# fetched from PyPI once by tests/upstream.py (sha256 pinned there) and kept unpacked here.
UPSTREAM_CACHE = ROOT / ".nox" / ".upstream"


def _upstream(session: nox.Session, *kinds: str) -> dict[str, str]:
    """Fetch the archives (``wheel``, ``sdist``) into UPSTREAM_CACHE unless they are there;
    returns the environment that points tests/upstream.py at the cache."""
    env = {"FAST_AXOLOTL_UPSTREAM_DIR": str(UPSTREAM_CACHE)}
    session.install("pip")  # tests/upstream.py runs `python -m pip download` (uv venvs have no pip)
    session.run("python", str(TESTS / "upstream.py"), "fetch", *kinds, env=env)
    return env


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
    """The test suite against the installed wheel: the native implementation on every
    Python (the one abi3 wheel), and the pure-Python reference on the main Python (it is
    the same source on every version). On the main Python the native run's `impl` fixture
    also runs every test on the reference, and a second run selects the reference through
    FAST_AXOLOTL_IMPL=fallback; on the others the fixture runs the native side only
    (the reference's side of the suite takes ~1.2 of its ~4.5 minutes on 2 cores)."""
    _install_wheel(session, *TEST_DEPS)
    upstream = _upstream(session, "wheel")
    main = session.python == MAIN_PYTHON
    for implementation in ("native", "fallback") if main else ("native",):
        _check_installed(session, implementation)
        env = {"FAST_AXOLOTL_IMPL": implementation, **upstream}
        if not main:
            env["FAST_AXOLOTL_TEST_IMPLS"] = "native"
        # tests/distributed needs Ray: the `distributed` session runs it.
        _pytest(session, str(TESTS), "--ignore", str(TESTS / "distributed"), *session.posargs, env=env)


@nox.session(python=MAIN_PYTHON, requires=["build_wheel"])
def parity(session: nox.Session) -> None:
    """Differential Hypothesis tests (native vs reference) with many examples (profile ``parity``)."""
    targets = sorted({*TESTS.glob("**/test_*parity*.py"), *TESTS.glob("parity/**/test_*.py")})
    if not targets:
        session.skip("no parity tests yet (tests/test_*parity*.py or tests/parity/)")
    # The examples are independent and mostly run Python: two workers (pytest-xdist)
    # take ~4.3 minutes where one took ~7 on 2 cores.
    _install_wheel(session, *TEST_DEPS, "pytest-xdist")
    env = {"FAST_AXOLOTL_IMPL": "native", "HYPOTHESIS_PROFILE": "parity", **_upstream(session, "wheel")}
    _check_installed(session, "native")
    _pytest(session, "-n", "auto", *map(str, targets), *session.posargs, env=env)


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


RAY_DEPS = ["ray[data]==2.60.0", "pytest-timeout"]


@nox.session(python=MAIN_PYTHON, requires=["build_wheel"])
def distributed(session: nox.Session) -> None:
    """fast_axolotl.distributed on real Ray clusters (Ray from PyPI, the `ray` extra): one node
    on loopback, and two nodes as test hosts in network namespaces the tests create (root and
    iproute2's `ip netns`; nothing leaves loopback or the namespaces' own veth pair)."""
    _install_wheel(session, *TEST_DEPS, *RAY_DEPS)
    _check_installed(session, "native")
    env = {"FAST_AXOLOTL_IMPL": "native", "RAY_USAGE_STATS_ENABLED": "0"}
    _pytest(session, str(TESTS / "distributed"), *session.posargs, env=env)


# `nox` with no arguments: cheapest feedback first; build_wheel runs (once) before
# the first session that requires it.
nox.options.sessions = ["rust", "lint", "tests", "parity", "compat020", "distributed"]


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
    """The integration against the real Axolotl 0.21.0: tests/test_integration.py
    (patched == unpatched), every tests/test_axolotl*.py (e.g. `axolotl preprocess`
    end to end, with and without fast-axolotl) and Axolotl's own tests of the patched
    modules (from its sdist, fetched from PyPI and laid out by tests/upstream.py with our
    conftest, tests/upstream_conftest.py; docs/axolotl.md lists them).

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
    env = {"FAST_AXOLOTL_IMPL": "native", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    env.update(_upstream(session, "sdist"))
    # fast-axolotl 0.2.0's suite and doc examples again, here with Axolotl (its README's
    # `import axolotl` examples run only here).
    env.update({"FAST_AXOLOTL_COMPAT020_SDIST": str(_compat020_sdist(session)), "FAST_AXOLOTL_COMPAT020_REQUIRED": "1"})
    ours = [
        str(TESTS / "test_integration.py"),
        *sorted(map(str, TESTS.glob("test_axolotl*.py"))),
        str(TESTS / "test_compat020_examples.py"),
        # the loader against Axolotl's own pin of datasets (5.0.1), not only the newest
        str(TESTS / "test_loading_datasets.py"),
        str(TESTS / "test_plugin_keys.py"),
    ]
    _pytest(session, *ours, *session.posargs, env=env)
    # Axolotl's own tests of the patched modules, with the patches installed; our conftest
    # checks that every patch is active and lists the deselected tests.
    run = _scratch_dir(session) / "axolotl-tests"
    session.run("python", str(TESTS / "upstream.py"), "axolotl-tests", str(run), env=env)
    session.chdir(_scratch_dir(session))
    session.run(
        "python", "-m", "pytest", "-c", str(run / "pytest.ini"), "--rootdir", str(run),
        str(run / "tests"), *session.posargs, env=env,
    )  # fmt: skip


# --- release artifacts: sdist, the pure-Python wheel, offline sdist build ---------------

FALLBACK = ROOT / "fallback"  # the PEP 517 project of the pure py3-none-any wheel
PURE_TAG = "py3-none-any"
COMPILED_SUFFIXES = (".so", ".pyd", ".dylib", ".dll")
# Run against the pure wheel with FAST_AXOLOTL_IMPL unset: the extension is not there,
# so the default mode must pick the reference implementation (and say why).
CHECK_PURE_AUTO = """
import importlib.util, os, warnings
os.environ.pop("FAST_AXOLOTL_IMPL", None)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import fast_axolotl
assert importlib.util.find_spec("fast_axolotl._native") is None, "the pure wheel holds an extension"
assert fast_axolotl.IMPLEMENTATION == "fallback", fast_axolotl.IMPLEMENTATION
assert any(issubclass(w.category, RuntimeWarning) for w in caught), [str(w.message) for w in caught]
print("auto mode on the pure wheel:", fast_axolotl.get_version(), "-", fast_axolotl.REASON)
"""


def _version_pep440() -> str:
    return _cargo_version().replace("-alpha.", "a").replace("-beta.", "b").replace("-rc.", "rc")


def _zip_names(path: Path) -> list[str]:
    import zipfile

    with zipfile.ZipFile(path) as zf:
        return zf.namelist()


def _check_pure_wheel(session: nox.Session, wheel: Path) -> None:
    from packaging.utils import parse_wheel_filename

    name, version, _, tags = parse_wheel_filename(wheel.name)
    if name != "fast-axolotl" or str(version) != _version_pep440() or {str(t) for t in tags} != {PURE_TAG}:
        session.error(f"{wheel.name}: expected fast-axolotl {_version_pep440()} {PURE_TAG}")
    names = _zip_names(wheel)
    compiled = [n for n in names if n.endswith(COMPILED_SUFFIXES)]
    if compiled:
        session.error(f"{wheel.name} holds compiled files: {compiled}")
    for required in ("fast_axolotl/__init__.py", "fast_axolotl/py.typed", "fast_axolotl/_native.pyi"):
        if required not in names:
            session.error(f"{wheel.name} lacks {required}")
    if not any(n.startswith("fast_axolotl/data/") for n in names):
        session.error(f"{wheel.name} lacks fast_axolotl/data/")
    session.log(f"{wheel.name}: tag {PURE_TAG}, {len(names)} files, no compiled file")


def _build_pure_wheel(session: nox.Session) -> Path:
    """Build the py3-none-any wheel twice (it must be byte-identical) and put it into dist/."""
    import filecmp
    import shutil

    session.install("build")
    tmp = Path(_scratch_dir(session))
    built = []
    for attempt in ("a", "b"):
        out = tmp / f"pure-wheel-{attempt}"
        shutil.rmtree(out, ignore_errors=True)
        session.run("python", "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(FALLBACK))
        wheels = list(out.glob("*.whl"))
        if len(wheels) != 1:
            session.error(f"expected one wheel in {out}, got {wheels}")
        built.append(wheels[0])
    if not filecmp.cmp(built[0], built[1], shallow=False):
        session.error("the pure wheel is not reproducible: two builds differ")
    DIST.mkdir(exist_ok=True)
    target = DIST / built[0].name
    shutil.copyfile(built[0], target)
    _check_pure_wheel(session, target)
    return target


@nox.session(python="3.12", default=False)
def pure(session: nox.Session) -> None:
    """Build the pure-Python wheel (py3-none-any) into dist/ and run the suite on it (reference implementation)."""
    wheel = _build_pure_wheel(session)
    session.install(str(wheel), *TEST_DEPS)
    session.install("--force-reinstall", "--no-deps", str(wheel))
    session.chdir(_scratch_dir(session))
    session.run("python", "-c", CHECK_PURE_AUTO)
    _check_installed(session, "fallback")
    _pytest(session, str(TESTS), *session.posargs, env={"FAST_AXOLOTL_IMPL": "fallback"})


def _sdist_required_files() -> list[str]:
    """Repository files the sdist must carry: every crate, the lock file, the tests, the package."""
    required = ["Cargo.toml", "Cargo.lock", "pyproject.toml", "README.md"]
    for top in ("rust", "tests", "fast_axolotl"):
        for path in sorted((ROOT / top).rglob("*")):
            rel = path.relative_to(ROOT).as_posix()
            hidden = any(part.startswith(".") for part in path.relative_to(ROOT).parts)
            if path.is_file() and not hidden and not _NOT_INPUTS.search(rel):
                required.append(rel)
    return required


def _core_metadata(path: Path) -> dict[str, object]:
    """The comparable core metadata of a wheel (METADATA, entry points) or an sdist (PKG-INFO)."""
    import configparser
    import tarfile
    import zipfile
    from email.parser import Parser

    from packaging.requirements import Requirement

    entry_points = None
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as zf:
            meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
            text = zf.read(meta).decode()
            eps = [n for n in zf.namelist() if n.endswith(".dist-info/entry_points.txt")]
            if eps:
                parser = configparser.ConfigParser()
                parser.read_string(zf.read(eps[0]).decode())
                entry_points = {s: dict(parser[s]) for s in parser.sections()}
    else:
        with tarfile.open(path) as tf:
            member = next(m for m in tf.getmembers() if m.name.count("/") == 1 and m.name.endswith("/PKG-INFO"))
            text = tf.extractfile(member).read().decode()  # type: ignore[union-attr]
    msg = Parser().parsestr(text)
    return {
        "Name": msg["Name"],
        "Version": msg["Version"],
        "Summary": msg["Summary"],
        "Requires-Python": msg["Requires-Python"],
        "License-Expression": msg["License-Expression"],
        "Requires-Dist": sorted(str(Requirement(r)) for r in msg.get_all("Requires-Dist", [])),
        "Provides-Extra": sorted(msg.get_all("Provides-Extra", [])),
        "Classifier": sorted(msg.get_all("Classifier", [])),
        "Description": (msg.get_payload() or "").strip(),
        "entry_points": entry_points,
    }


def _offline_sdist_build(session: nox.Session, sdist: Path) -> Path:
    """Unpack the sdist, vendor its crates (the only network step), then build it with no network."""
    import shutil
    import tarfile

    work = _scratch_dir(session) / "offline"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    with tarfile.open(sdist) as tf:
        if hasattr(tarfile, "data_filter"):
            tf.extractall(work, filter="data")
        else:  # pragma: no cover (Python without PEP 706)
            tf.extractall(work)
    (src,) = work.iterdir()
    if 'source = "git+' in (src / "Cargo.lock").read_text(encoding="utf-8"):
        session.error("Cargo.lock has git dependencies: extend the source replacement below")
    session.chdir(src)
    session.run("cargo", "vendor", "--locked", "--versioned-dirs", "vendor", external=True, silent=True)
    (src / ".cargo").mkdir(exist_ok=True)
    (src / ".cargo" / "config.toml").write_text(
        '[source.crates-io]\nreplace-with = "vendored-sources"\n\n'
        '[source.vendored-sources]\ndirectory = "vendor"\n\n'
        "[net]\noffline = true\n",
        encoding="utf-8",
    )
    # A fresh, empty CARGO_HOME: no registry cache or user config can help the build.
    cargo_home = work / "cargo-home"
    cargo_home.mkdir()
    wheelhouse = work / "wheelhouse"
    session.install("pip", MATURIN)  # no build isolation: the backend must already be there
    started = time.monotonic()
    session.run(
        "python", "-m", "pip", "wheel", "--no-index", "--no-build-isolation", "--no-deps",
        "--wheel-dir", str(wheelhouse), str(src),
        env={"CARGO_NET_OFFLINE": "true", "CARGO_HOME": str(cargo_home)},
    )  # fmt: skip
    elapsed = time.monotonic() - started
    (wheel,) = wheelhouse.glob("fast_axolotl-*-cp310-abi3-*.whl")
    session.log(f"offline sdist build: {wheel.name} in {int(elapsed // 60)}m{elapsed % 60:04.1f}s")
    return wheel


@nox.session(python=MAIN_PYTHON, requires=["build_wheel"], default=False)
def build(session: nox.Session) -> None:
    """Release artifacts in dist/ (abi3 wheel, sdist, pure wheel), twine check, and an offline build of the sdist."""
    import tarfile

    abi3 = _wheel(session)
    session.install(MATURIN, "twine", "packaging", "pytest", "pyyaml", "py-rattler-build", "cibuildwheel", "jsonschema")
    version = _version_pep440()

    # sdist: every crate, Cargo.lock, the tests.
    sdist = DIST / f"fast_axolotl-{version}.tar.gz"
    sdist.unlink(missing_ok=True)
    with session.chdir(ROOT):
        session.run("maturin", "sdist", "--out", str(DIST))
    if not sdist.exists():
        session.error(f"maturin sdist did not produce {sdist.name}")
    with tarfile.open(sdist) as tf:
        members = {m.name.split("/", 1)[1] for m in tf.getmembers() if "/" in m.name and m.isfile()}
    missing = [f for f in _sdist_required_files() if f not in members]
    if missing:
        session.error(f"{sdist.name} lacks {missing}")
    session.log(f"{sdist.name}: {len(members)} files, every crate, Cargo.lock and tests/ included")

    pure_wheel = _build_pure_wheel(session)
    artifacts = [abi3, sdist, pure_wheel]
    session.run("twine", "check", "--strict", *map(str, artifacts))

    # One distribution: the same metadata whichever artifact an installer picks.
    reference = _core_metadata(abi3)
    for other in (sdist, pure_wheel):
        theirs = _core_metadata(other)
        diff = {k: (reference[k], theirs[k]) for k in reference if theirs[k] != reference[k] and k != "entry_points"}
        if other.suffix == ".whl" and theirs["entry_points"] != reference["entry_points"]:
            diff["entry_points"] = (reference["entry_points"], theirs["entry_points"])
        if diff:
            session.error(f"metadata of {other.name} differs from {abi3.name}: {diff}")
    package = {n for n in _zip_names(abi3) if n.startswith("fast_axolotl/") and not n.endswith(COMPILED_SUFFIXES)}
    pure_files = {n for n in _zip_names(pure_wheel) if n.startswith("fast_axolotl/")}
    if package != pure_files:
        session.error(f"package files differ: abi3 only {package - pure_files}, pure only {pure_files - package}")
    session.log("abi3 wheel, sdist and pure wheel: same metadata; both wheels: same package files")

    # Recipe (parsed, and rendered by rattler-build), cibuildwheel table and versions agree
    # (tests/test_packaging.py, from the repository).
    with session.chdir(ROOT):
        session.run("python", "-m", "pytest", "-p", "no:cacheprovider", "--noconftest", "tests/test_packaging.py", "-q")

    offline = _offline_sdist_build(session, sdist)
    session.install("numpy", "pyarrow")
    session.install("--force-reinstall", "--no-deps", str(offline))
    _check_installed(session, "native")
    session.run("python", "-m", "fast_axolotl", "--help", silent=True)
    for artifact in artifacts:
        session.log(f"dist/{artifact.name}")


# --- hardening: multi-GB memory bound, fuzzing (not default: minutes each) ---------------

HARDENING_MB = os.environ.get("FAST_AXOLOTL_HARDENING_MB", "2500")
FUZZ_DIR = ROOT / "rust" / "fuzz"
FUZZ_TARGETS = ["read_parquet", "read_ipc", "read_jsonl", "read_json", "read_csv", "read_compressed", "rowcodec"]


@nox.session(python=MAIN_PYTHON, default=False, requires=["build_wheel"])
def hardening(session: nox.Session) -> None:
    """The memory bound on a multi-GB file (FAST_AXOLOTL_HARDENING_MB, default 2500) and the
    rest of the hardening tests (bad files, threads, fork, interrupts, panics), both backends."""
    _install_wheel(session, *TEST_DEPS)
    files = ["test_memory.py", "test_bad_files.py", "test_threads.py", "test_fork.py", "test_panics.py"]
    files += [f for f in ("test_interrupts.py", "test_fuzz_api.py") if (TESTS / f).exists()]
    _check_installed(session, "native")
    env = {"FAST_AXOLOTL_HARDENING_MB": HARDENING_MB}
    _pytest(session, *(str(TESTS / f) for f in files), "-s", *session.posargs, env=env)


@nox.session(python=MAIN_PYTHON, default=False, requires=["build_wheel"])
def fuzz(session: nox.Session) -> None:
    """cargo-fuzz on every reader and the row encoding (nightly toolchain), then Hypothesis on
    the Python API with many examples. Seconds per target: `nox -s fuzz -- 300` or
    FUZZ_SECONDS (default 60). Crashes land in rust/fuzz/artifacts/<target>/."""
    seconds = session.posargs[0] if session.posargs else os.environ.get("FUZZ_SECONDS", "60")
    session.install("pyarrow")
    work = _scratch_dir(session) / "fuzz"
    session.run("python", str(FUZZ_DIR / "make_seeds.py"), str(work / "seeds"))
    with session.chdir(ROOT):
        session.run("cargo", "+nightly", "fuzz", "build", "--fuzz-dir", str(FUZZ_DIR), "-O", external=True)
        for target in FUZZ_TARGETS:
            corpus = work / "corpus" / target
            corpus.mkdir(parents=True, exist_ok=True)
            regressions = FUZZ_DIR / "regressions" / target
            dirs = [str(corpus), str(work / "seeds" / target)]
            if regressions.is_dir():
                dirs.append(str(regressions))
            session.run(
                "cargo", "+nightly", "fuzz", "run", "--fuzz-dir", str(FUZZ_DIR), "-O", target, *dirs, "--",
                f"-max_total_time={seconds}", "-rss_limit_mb=4096", "-timeout=20", "-print_final_stats=1",
                external=True,
            )  # fmt: skip
    _install_wheel(session, *TEST_DEPS)
    _check_installed(session, "native")
    env = {"FAST_AXOLOTL_IMPL": "native", "HYPOTHESIS_PROFILE": "parity"}
    _pytest(session, str(TESTS / "test_fuzz_api.py"), *session.posargs[1:], env=env)


# --- fast-axolotl 0.2.0 compatibility -------------------------------------------------

COMPAT020_SDIST = "fast_axolotl-0.2.0.tar.gz"
COMPAT020_SHA256 = "a3e55a61f3b90333b3cded90562d977de37a79b29055ae7a4769c68f5ed95f89"
COMPAT020_CACHE = ROOT / ".nox" / "_compat020"


def _compat020_sdist(session: nox.Session) -> Path:
    """0.2.0's sdist, downloaded once into .nox/_compat020 (sha256-pinned) and unpacked."""
    import hashlib
    import shutil
    import tarfile
    import tempfile

    archive = COMPAT020_CACHE / COMPAT020_SDIST
    unpacked = COMPAT020_CACHE / COMPAT020_SDIST.removesuffix(".tar.gz")

    def digest() -> str:
        return hashlib.sha256(archive.read_bytes()).hexdigest() if archive.is_file() else ""

    if digest() != COMPAT020_SHA256:
        COMPAT020_CACHE.mkdir(parents=True, exist_ok=True)
        archive.unlink(missing_ok=True)
        session.install("pip")
        # pip prepares the sdist's metadata (maturin runs `cargo metadata`): under the
        # session's TMPDIR, inside this repository, cargo would take 0.2.0's crate for a
        # member of our workspace and fail. So pip works in a directory outside it.
        outside = tempfile.mkdtemp(prefix="fast-axolotl-020-")
        try:
            session.run(
                "python", "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                "fast-axolotl==0.2.0", "-d", str(COMPAT020_CACHE), env={"TMPDIR": outside},
            )  # fmt: skip
        finally:
            shutil.rmtree(outside, ignore_errors=True)
        if digest() != COMPAT020_SHA256:
            session.error(f"{archive}: sha256 {digest() or '(missing)'} is not the pinned {COMPAT020_SHA256}")
    if not (unpacked / "tests" / "test_fast_axolotl.py").is_file():
        with tarfile.open(archive) as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(COMPAT020_CACHE, filter="data")
            else:  # a Python without the extraction filters (< 3.10.12 / 3.11.4)
                tar.extractall(COMPAT020_CACHE)  # noqa: S202 - a sha256-pinned archive
    return unpacked


@nox.session(python=MAIN_PYTHON, requires=["build_wheel"])
def compat020(session: nox.Session) -> None:
    """fast-axolotl 0.2.0 (the earlier package of this name) keeps working: its own test
    suite, unchanged, fails exactly the tests that changed on purpose, and every Python
    example of its README and docs runs (tests/test_compat020_examples.py; the reasons
    are in docs/migrating-from-0.2.md). The sdist comes from PyPI once (sha256-pinned,
    cached under .nox/). ~30 s on 2 cores once the environment exists; the examples that
    import Axolotl are skipped here (no Axolotl in this environment)."""
    sdist = _compat020_sdist(session)
    _install_wheel(session, *TEST_DEPS)
    _check_installed(session, "native")
    env = {
        "FAST_AXOLOTL_IMPL": "native",
        "FAST_AXOLOTL_COMPAT020_SDIST": str(sdist),
        "FAST_AXOLOTL_COMPAT020_REQUIRED": "1",
    }
    files = [str(TESTS / "test_compat020.py"), str(TESTS / "test_compat020_examples.py")]
    _pytest(session, *files, "-rs", *session.posargs, env=env)
