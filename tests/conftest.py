"""Shared fixtures: run every test against both implementations, Hypothesis profiles."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

import fast_axolotl
from fast_axolotl import _backend

sys.path.insert(0, str(Path(__file__).parent))  # upstream (Axolotl's code, fetched from PyPI), helpers

# upstream_conftest.py is the conftest of Axolotl's own tests (laid out from its sdist by
# upstream.py, run only in `nox -s axolotl`, with their own rootdir).
collect_ignore = ["upstream_conftest.py", "axolotl_preprocess_driver.py"]

# `impl` only selects a backend (no per-example state), so the function-scoped
# fixture health check does not apply.
_SUPPRESS = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
settings.register_profile("default", max_examples=100, deadline=None, suppress_health_check=_SUPPRESS)
settings.register_profile("parity", max_examples=1500, deadline=None, suppress_health_check=_SUPPRESS)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "default")
settings.load_profile(PROFILE)

REQUESTED = os.environ.get("FAST_AXOLOTL_IMPL", "auto").strip().lower() or "auto"
IMPLEMENTATIONS = ["native", "fallback"] if fast_axolotl.IMPLEMENTATION == "native" else ["fallback"]
# `nox -s tests` on the Pythons other than the main one: the `impl` fixture runs the
# native implementation only (the reference is the same pure-Python source on every
# version; it runs on the main Python, in both the native and the fallback run).
ONLY = os.environ.get("FAST_AXOLOTL_TEST_IMPLS", "").replace(",", " ").split()
if ONLY:
    unknown = sorted(set(ONLY) - set(IMPLEMENTATIONS))
    if unknown:
        raise pytest.UsageError(f"FAST_AXOLOTL_TEST_IMPLS: {unknown} not available (available: {IMPLEMENTATIONS})")
    IMPLEMENTATIONS = [i for i in IMPLEMENTATIONS if i in ONLY]


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [
        f"fast_axolotl {fast_axolotl.get_version()} from {fast_axolotl.__file__}",
        f"FAST_AXOLOTL_IMPL={REQUESTED}; implementations under test: {IMPLEMENTATIONS}; {fast_axolotl.REASON}",
        f"hypothesis profile: {PROFILE}",
    ]


def pytest_sessionstart(session: pytest.Session) -> None:
    # A strict run must test what it asked for, never the fallback by accident.
    if REQUESTED in ("native", "fallback") and fast_axolotl.IMPLEMENTATION != REQUESTED:
        raise pytest.UsageError(
            f"FAST_AXOLOTL_IMPL={REQUESTED} but fast_axolotl selected {fast_axolotl.IMPLEMENTATION!r}: {fast_axolotl.REASON}"
        )


@pytest.fixture(params=IMPLEMENTATIONS)
def impl(request: pytest.FixtureRequest) -> Iterator[str]:
    """Route the public API to one implementation for the duration of a test."""
    with _backend.use(request.param):
        yield request.param


needs_native = pytest.mark.skipif(
    fast_axolotl.IMPLEMENTATION != "native", reason="the native extension is not in use in this run"
)
