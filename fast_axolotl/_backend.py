"""Choose the implementation once, at import: the native extension or the reference.

``FAST_AXOLOTL_IMPL``:
  * ``auto`` (default): native when it imports and its version equals the package's,
    else the pure-Python reference, with one warning saying why.
  * ``native``: native or :class:`~fast_axolotl.errors.NativeBackendError`.
  * ``fallback``: never import the extension.

Both implementations expose the same kernel functions (see ``_native.pyi``); the
public API validates arguments once and calls ``kernels()``.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import warnings
from collections.abc import Iterator
from types import ModuleType
from typing import Literal

from ._version import __version__
from .errors import NativeBackendError

Implementation = Literal["native", "fallback"]
_CHOICES = ("auto", "native", "fallback")


def _load_native() -> tuple[ModuleType | None, str]:
    try:
        module = importlib.import_module("fast_axolotl._native")
    except ImportError as exc:
        return None, f"the native extension could not be imported ({exc})"
    native_version = getattr(module, "__version__", None)
    if native_version != __version__:
        return None, (
            f"the native extension is version {native_version!r} but the package is {__version__!r} (a stale build?)"
        )
    return module, "the native extension is loaded"


def _select() -> tuple[Implementation, ModuleType | None, str]:
    requested = os.environ.get("FAST_AXOLOTL_IMPL", "auto").strip().lower() or "auto"
    if requested not in _CHOICES:
        raise NativeBackendError(f"FAST_AXOLOTL_IMPL={requested!r} is not one of {', '.join(_CHOICES)}")
    if requested == "fallback":
        return "fallback", None, "FAST_AXOLOTL_IMPL=fallback"
    native, why = _load_native()
    if native is not None:
        return "native", native, why
    if requested == "native":
        raise NativeBackendError(f"FAST_AXOLOTL_IMPL=native but {why}")
    warnings.warn(
        f"fast_axolotl: using the pure-Python reference implementation because {why}",
        RuntimeWarning,
        stacklevel=3,
    )
    return "fallback", None, why


IMPLEMENTATION, _native, REASON = _select()

from . import _fallback  # noqa: E402  (after selection: the reference never needs the extension)

_active: ModuleType = _native if _native is not None else _fallback


def kernels() -> ModuleType:
    """The module whose kernel functions the public API calls."""
    return _active


def native_module() -> ModuleType | None:
    """The loaded extension, or None."""
    return _native


@contextlib.contextmanager
def use(implementation: Implementation) -> Iterator[ModuleType]:
    """Temporarily route the public API to one implementation (tests and benchmarks)."""
    global _active
    if implementation == "native":
        if _native is None:
            raise NativeBackendError(f"native implementation unavailable: {REASON}")
        chosen: ModuleType = _native
    elif implementation == "fallback":
        chosen = _fallback
    else:
        raise ValueError(f"unknown implementation {implementation!r}")
    previous, _active = _active, chosen
    try:
        yield chosen
    finally:
        _active = previous
