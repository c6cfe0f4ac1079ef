"""Backend selection: FAST_AXOLOTL_IMPL, strict native mode, introspection."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import pytest
from conftest import needs_native

import fast_axolotl as fa


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FAST_AXOLOTL")}
    environment.update(env)
    # Run outside the source tree so the installed package is imported, not ./fast_axolotl.
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment, cwd=tempfile.gettempdir()
    )


def test_introspection() -> None:
    assert fa.__version__ == "0.3.0"
    assert fa.IMPLEMENTATION in ("native", "fallback")
    assert fa.is_available() == (fa.IMPLEMENTATION == "native")
    assert fa.get_version() == f"{fa.__version__} ({fa.IMPLEMENTATION})"
    assert fa.thread_count() >= 1
    assert isinstance(fa.backend_reason(), str)


def test_fallback_never_loads_native() -> None:
    result = _run(
        "import sys, fast_axolotl as f; print(f.IMPLEMENTATION, 'fast_axolotl._native' in sys.modules)",
        FAST_AXOLOTL_IMPL="fallback",
    )
    assert result.stdout.split() == ["fallback", "False"], result.stderr


def test_invalid_choice_is_an_error() -> None:
    result = _run("import fast_axolotl", FAST_AXOLOTL_IMPL="turbo")
    assert result.returncode != 0 and "NativeBackendError" in result.stderr


@needs_native
def test_native_strict_mode_and_auto() -> None:
    assert (
        _run("import fast_axolotl as f; assert f.IMPLEMENTATION == 'native'", FAST_AXOLOTL_IMPL="native").returncode
        == 0
    )
    assert _run("import fast_axolotl as f; assert f.IMPLEMENTATION == 'native'").returncode == 0


def test_native_strict_mode_fails_loudly_without_extension() -> None:
    # Hide the extension: an import hook that refuses fast_axolotl._native.
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'fast_axolotl._native': raise ImportError('hidden for the test')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import fast_axolotl\n"
    )
    strict = _run(code, FAST_AXOLOTL_IMPL="native")
    assert strict.returncode != 0 and "NativeBackendError" in strict.stderr
    auto = _run(code + "print(fast_axolotl.IMPLEMENTATION)", FAST_AXOLOTL_IMPL="auto")
    assert auto.returncode == 0 and auto.stdout.strip() == "fallback"
    assert "RuntimeWarning" in auto.stderr and "pure-Python" in auto.stderr


@pytest.mark.parametrize("threads", ["1", "2", "8", "2147483648", "99999999999999999999999"])
def test_thread_count_env(threads: str) -> None:
    """The environment sets the default, capped at the cores (a huge value must not try to
    start that many threads)."""
    cores = _run("import fast_axolotl as f; print(f.thread_count())", FAST_AXOLOTL_NUM_THREADS="")
    result = _run("import fast_axolotl as f; print(f.thread_count())", FAST_AXOLOTL_NUM_THREADS=threads)
    assert int(result.stdout.strip()) == min(int(threads), int(cores.stdout.strip())), result.stderr
