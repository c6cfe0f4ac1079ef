"""Install / uninstall machinery: which Axolotl attributes are patched, and how.

Patches are applied in two ways (see docs/axolotl.md):

* a module that is already imported is patched at once (module attribute, or
  ``__call__`` on an existing class); other Axolotl modules that ``from``-imported
  a patched function are re-pointed too;
* a module that is not imported yet is patched right after it executes, by a
  ``sys.meta_path`` finder that wraps its loader (before any importer can bind the
  name). No module is ever inserted into ``sys.modules``.

``uninstall()`` puts every original object back, including names that Axolotl
modules imported from a patched module while the patches were installed.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import inspect
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

LOG = logging.getLogger("fast_axolotl.integration")

#: Set on every replacement: the object it replaced.
ORIGINAL_ATTR = "__fast_axolotl_original__"

PATCH_GROUPS = ("dedup", "bins", "lengths", "collators", "filter", "loading")


@dataclass(frozen=True)
class Target:
    """One attribute to replace: ``module.attr`` or ``module.owner.attr`` (a class)."""

    group: str
    module: str
    owner: str | None
    attr: str
    params: tuple[str, ...]
    make: Callable[[Any], Any]

    @property
    def key(self) -> str:
        owner = f"{self.owner}." if self.owner else ""
        return f"{self.module}:{owner}{self.attr}"


@dataclass
class _Applied:
    target: Target
    holder: Any
    original: Any
    replacement: Any


class _State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.targets: list[Target] = []
        self.installed = False
        self.selected: frozenset[str] = frozenset()
        self.applied: dict[str, _Applied] = {}
        self.rebound: list[tuple[ModuleType, str, Any, Any]] = []  # module, name, original, replacement
        self.skipped: dict[str, str] = {}
        self.logged: set[str] = set()
        self.finder = _Finder()


def _log_once(key: str, message: str, level: int = logging.INFO) -> None:
    if key not in _STATE.logged:
        _STATE.logged.add(key)
        LOG.log(level, message)


def param_names(obj: Any) -> tuple[str, ...] | None:
    """Parameter names of a function (a numba dispatcher's Python function), or None."""
    func = getattr(obj, "py_func", obj)
    try:
        return tuple(inspect.signature(func).parameters)
    except (TypeError, ValueError):
        return None


def disabled() -> bool:
    return os.environ.get("FAST_AXOLOTL_DISABLE", "").strip().lower() not in ("", "0", "false", "no")


def _selection(patches: Iterable[str] | None) -> frozenset[str]:
    if patches is None:
        raw = os.environ.get("FAST_AXOLOTL_PATCHES", "").strip()
        if raw in ("", "all"):
            return frozenset(PATCH_GROUPS)
        patches = [p.strip() for p in raw.split(",") if p.strip()]
    chosen = set()
    for name in patches:
        if name in PATCH_GROUPS:
            chosen.add(name)
        else:
            _log_once(
                f"unknown:{name}",
                f"fast-axolotl: unknown patch {name!r} ignored (known: {', '.join(PATCH_GROUPS)})",
                logging.WARNING,
            )
    return frozenset(chosen)


def _active_targets() -> list[Target]:
    return [t for t in _STATE.targets if t.group in _STATE.selected]


def _watched() -> frozenset[str]:
    return frozenset(t.module for t in _active_targets())


def _patch_module(module: ModuleType) -> None:
    for target in _active_targets():
        if target.module != module.__name__ or target.key in _STATE.applied:
            continue
        if target.owner is None:
            holder: Any = module
            original = vars(module).get(target.attr)
        else:
            holder = vars(module).get(target.owner)
            if not isinstance(holder, type):
                _skip(target, f"{target.module}.{target.owner} is not a class here")
                continue
            original = vars(holder).get(target.attr)
        if original is None:
            _skip(target, "not found")
            continue
        if getattr(original, ORIGINAL_ATTR, None) is not None:
            _skip(target, "already replaced by another copy of fast-axolotl")
            continue
        names = param_names(original)
        if names != target.params:
            _skip(target, f"unexpected signature {names} (expected {target.params})")
            continue
        replacement = target.make(original)
        setattr(replacement, ORIGINAL_ATTR, original)
        setattr(holder, target.attr, replacement)
        _STATE.applied[target.key] = _Applied(target, holder, original, replacement)
        _STATE.skipped.pop(target.key, None)
        LOG.debug("fast-axolotl: patched %s", target.key)
        if target.owner is None:
            _rebind_importers(target.attr, original, replacement, skip=module)


def _skip(target: Target, reason: str) -> None:
    _STATE.skipped[target.key] = reason
    _log_once(f"skip:{target.key}:{reason}", f"fast-axolotl: leaving {target.key} alone: {reason}", logging.WARNING)


def _axolotl_modules() -> list[ModuleType]:
    return [
        m
        for name, m in list(sys.modules.items())
        if isinstance(m, ModuleType) and (name == "axolotl" or name.startswith("axolotl."))
    ]


def _rebind_importers(attr: str, original: Any, replacement: Any, skip: ModuleType) -> None:
    """Axolotl modules imported before ``install()`` hold the original via ``from`` imports."""
    for module in _axolotl_modules():
        if module is not skip and vars(module).get(attr) is original:
            setattr(module, attr, replacement)
            _STATE.rebound.append((module, attr, original, replacement))


class _PatchingLoader(importlib.abc.Loader):
    """Runs the real loader, then patches the fresh module (before anyone imports from it)."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        created: ModuleType | None = self._loader.create_module(spec)
        return created

    def exec_module(self, module: ModuleType) -> None:
        # The module keeps the real loader: nothing of ours stays behind in it.
        spec = getattr(module, "__spec__", None)
        if spec is not None and spec.loader is self:
            spec.loader = self._loader
        if getattr(module, "__loader__", None) is self:
            module.__loader__ = self._loader
        self._loader.exec_module(module)
        with _STATE.lock:
            if _STATE.installed:
                _patch_module(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class _Finder(importlib.abc.MetaPathFinder):
    """Wraps the loader of the Axolotl modules that hold patch targets; ignores all others."""

    def __init__(self) -> None:
        self._busy = threading.local()

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith("axolotl.") or fullname not in _watched():
            return None
        busy: set[str] = getattr(self._busy, "names", set())
        if fullname in busy:
            return None
        self._busy.names = busy | {fullname}
        try:
            for finder in list(sys.meta_path):
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                        spec.loader = _PatchingLoader(spec.loader)
                    return spec
            return None
        finally:
            self._busy.names = busy


_STATE = _State()


def register(targets: Iterable[Target]) -> None:
    _STATE.targets = list(targets)


def install(patches: Iterable[str] | None = None) -> bool:
    """Patch Axolotl (now for imported modules, on import for the others).

    ``patches`` picks groups among ``dedup, bins, lengths, collators, filter`` (default: the
    ``FAST_AXOLOTL_PATCHES`` env var, else all). Does nothing and returns False when
    ``FAST_AXOLOTL_DISABLE=1``. Idempotent; safe when Axolotl is not installed.
    Returns True when the patches are installed after the call (by it or before it);
    the top-level ``fast_axolotl.install()`` keeps 0.2.0's meaning instead (True only
    when that call installed them).
    """
    with _STATE.lock:
        if disabled():
            _log_once("disabled", "fast-axolotl: FAST_AXOLOTL_DISABLE is set; Axolotl is not patched")
            return False
        selected = _selection(patches)
        if _STATE.installed and selected == _STATE.selected:
            return True
        if _STATE.installed:
            uninstall()
        _STATE.installed = True
        _STATE.selected = selected
        if _STATE.finder not in sys.meta_path:
            sys.meta_path.insert(0, _STATE.finder)
        for name in sorted(_watched()):
            module = sys.modules.get(name)
            if isinstance(module, ModuleType):
                _patch_module(module)
        return True


def uninstall() -> bool:
    """Put every original object back and remove the import hook. Idempotent.

    Returns True if the patches were installed (and are now removed), False if not
    (as fast-axolotl 0.2.0's ``uninstall()``)."""
    with _STATE.lock:
        was_installed = _STATE.installed
        while _STATE.finder in sys.meta_path:
            sys.meta_path.remove(_STATE.finder)
        back = {id(a.replacement): (a.replacement, a.original) for a in _STATE.applied.values()}
        for module, name, original, replacement in reversed(_STATE.rebound):
            if vars(module).get(name) is replacement:
                setattr(module, name, original)
        for applied in reversed(list(_STATE.applied.values())):
            current = vars(applied.holder).get(applied.target.attr)
            if current is applied.replacement:
                setattr(applied.holder, applied.target.attr, applied.original)
            else:
                LOG.warning("fast-axolotl: %s was replaced by someone else; not restoring it", applied.target.key)
        # Modules imported while installed may have bound a replacement with `from ... import`.
        for module in _axolotl_modules():
            for name, value in list(vars(module).items()):
                found = back.get(id(value))
                if found is not None and found[0] is value:
                    setattr(module, name, found[1])
        _STATE.applied.clear()
        _STATE.rebound.clear()
        _STATE.skipped.clear()
        _STATE.installed = False
        _STATE.selected = frozenset()
        return was_installed


def is_installed() -> bool:
    """True between ``install()`` (that did not find ``FAST_AXOLOTL_DISABLE``) and ``uninstall()``."""
    return _STATE.installed


def report() -> dict[str, Any]:
    """What is patched, what waits for its module to be imported, and what was left alone (why)."""
    with _STATE.lock:
        active = _active_targets() if _STATE.installed else []
        return {
            "installed": _STATE.installed,
            "disabled": disabled(),
            "groups": sorted(_STATE.selected),
            "patched": sorted(_STATE.applied),
            "pending": sorted(t.key for t in active if t.key not in _STATE.applied and t.key not in _STATE.skipped),
            "skipped": dict(sorted(_STATE.skipped.items())),
        }
