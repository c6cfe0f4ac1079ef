"""Axolotl integration: replace Axolotl 0.21's hot data-pipeline functions with
fast-axolotl's, with identical results (see docs/axolotl.md).

``import fast_axolotl`` calls :func:`install` unless ``FAST_AXOLOTL_DISABLE=1``;
``FAST_AXOLOTL_PATCHES=dedup,bins,lengths,collators,filter`` picks some of the patches.
In an Axolotl YAML, ``plugins: [fast_axolotl.integration.FastAxolotlPlugin]``
does the same through Axolotl's plugin system.
"""

from __future__ import annotations

from typing import Any

from ._core import PATCH_GROUPS, install, is_installed, register, report, uninstall
from ._loading import LOADING_TARGETS
from ._prep import PREP_TARGETS
from ._wrappers import TARGETS

__all__ = ["PATCH_GROUPS", "install", "uninstall", "is_installed", "report", "FastAxolotlPlugin"]

register([*TARGETS, *PREP_TARGETS, *LOADING_TARGETS])

#: What ``install()`` returned when fast_axolotl was imported.
installed_at_import = install()


def __getattr__(name: str) -> Any:
    # Lazy: importing the plugin class imports axolotl.integrations.base (torch, peft).
    if name == "FastAxolotlPlugin":
        from ._plugin import FastAxolotlPlugin

        return FastAxolotlPlugin
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
