"""Shared test setup: Hypothesis profiles and the ``impl`` fixture.

``HYPOTHESIS_PROFILE`` picks the profile: ``default`` (quick, every run) or
``parity`` (many examples, no deadline; ``nox -s parity``).

``impl`` runs a test once per implementation, routing the public API through
``fast_axolotl._backend.use(name)``. "native" is skipped only when the run was
started with ``FAST_AXOLOTL_IMPL=fallback``; anywhere else a missing extension
is an error, so a broken build can never pass on the reference alone.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

import fast_axolotl
from fast_axolotl import _backend

# `impl` is function-scoped but holds no per-example state (it only selects a
# backend), so Hypothesis' function-scoped-fixture health check does not apply.
_SUPPRESS = [HealthCheck.function_scoped_fixture]
settings.register_profile("default", max_examples=100, suppress_health_check=_SUPPRESS)
settings.register_profile("parity", max_examples=1500, deadline=None, suppress_health_check=_SUPPRESS)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "default")
settings.load_profile(PROFILE)

REQUESTED = os.environ.get("FAST_AXOLOTL_IMPL", "auto").strip().lower() or "auto"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "parity: differential test of native against the reference")
    if REQUESTED in ("native", "fallback") and fast_axolotl.IMPLEMENTATION != REQUESTED:
        raise pytest.UsageError(
            f"FAST_AXOLOTL_IMPL={REQUESTED} but fast_axolotl selected {fast_axolotl.IMPLEMENTATION!r}: {fast_axolotl.REASON}"
        )


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [
        f"fast_axolotl {fast_axolotl.get_version()} from {os.path.dirname(fast_axolotl.__file__)}",
        f"FAST_AXOLOTL_IMPL={REQUESTED}; {fast_axolotl.REASON}",
        f"hypothesis profile: {PROFILE}",
    ]


@pytest.fixture(params=["native", "fallback"])
def impl(request: pytest.FixtureRequest) -> Iterator[str]:
    """The implementation the public API is routed to for this test: "native" or "fallback"."""
    name: str = request.param
    if name == "native" and REQUESTED == "fallback":
        pytest.skip("FAST_AXOLOTL_IMPL=fallback")
    with _backend.use(request.param):
        yield name
