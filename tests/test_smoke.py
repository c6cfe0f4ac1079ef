"""Smoke test: the package imports and its core entry points answer under both implementations."""

from __future__ import annotations

import os
import re

import fast_axolotl
from fast_axolotl import _backend


def test_public_api_imports() -> None:
    for name in fast_axolotl.__all__:
        assert hasattr(fast_axolotl, name), name


def test_implementation_and_version() -> None:
    requested = os.environ.get("FAST_AXOLOTL_IMPL", "auto")
    assert fast_axolotl.IMPLEMENTATION in ("native", "fallback")
    if requested in ("native", "fallback"):
        assert fast_axolotl.IMPLEMENTATION == requested
    assert fast_axolotl.is_available() == (fast_axolotl.IMPLEMENTATION == "native")
    assert re.fullmatch(r"\d+\.\d+\.\d+\S* \((native|fallback)\)", fast_axolotl.get_version())
    assert fast_axolotl.get_version() == f"{fast_axolotl.__version__} ({fast_axolotl.IMPLEMENTATION})"


def test_pack_bins(impl: str) -> None:
    module = _backend.kernels()
    expected_module = _backend.native_module() if impl == "native" else _backend._fallback
    assert module is expected_module
    assert fast_axolotl.pack_bins([5, 3000, 7, 2, 9, 9, 9], 16) == [[0, 2, 3], [1], [4], [5], [6]]
