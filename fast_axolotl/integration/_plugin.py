"""``plugins: [fast_axolotl.integration.FastAxolotlPlugin]`` in an Axolotl config."""

from __future__ import annotations

import logging
from typing import Any

from ._core import install, report
from ._keys import apply_aliases
from ._loading import set_config

LOG = logging.getLogger("fast_axolotl.integration")


def _base() -> Any:
    try:
        from axolotl.integrations.base import BasePlugin
    except Exception:  # Axolotl (or one of its heavy dependencies) is not importable

        class BasePlugin:  # type: ignore[no-redef]
            """Stand-in with the two methods Axolotl calls at registration."""

            def __init__(self) -> None:
                pass

            def register(self, cfg: Any) -> None:
                pass

    return BasePlugin


_Base: Any = _base()


class FastAxolotlPlugin(_Base):  # type: ignore[misc]
    """Axolotl plugin: installs the fast-axolotl patches and declares its YAML keys.

    Axolotl instantiates the class when it loads the config's ``plugins`` and calls
    ``register(cfg)`` (the raw config) right after; both install the patches
    (``FAST_AXOLOTL_DISABLE=1`` still wins). ``get_input_args()`` adds the keys of
    :class:`fast_axolotl.integration._args.FastAxolotlArgs` to Axolotl's schema:
    ``dataset_use_rust_streaming`` (local files read by our reader, see
    :mod:`fast_axolotl.integration._loading`), ``dedupe`` (0.2.0's name of
    ``dataset_exact_deduplication``) and ``fast_axolotl_patches``.
    ``load_datasets(cfg, preprocess)`` prepares the datasets with :mod:`fast_axolotl.prepare`
    when the config is one it reproduces exactly (see
    :mod:`fast_axolotl.integration._prepare`); otherwise it returns None and Axolotl prepares
    them itself (through the patched functions).
    """

    def __init__(self) -> None:
        super().__init__()
        install()

    def get_input_args(self) -> str:
        return "fast_axolotl.integration._args.FastAxolotlArgs"

    def register(self, cfg: Any) -> None:
        super().register(cfg)
        # Before validation, so that Axolotl's own checks of dataset_exact_deduplication
        # (not with streaming, part of the prepared-dataset hash) see 0.2.0's `dedupe`.
        apply_aliases(cfg)
        patches = cfg.get("fast_axolotl_patches") if hasattr(cfg, "get") else None
        set_config(cfg)
        if install(patches):
            LOG.info("fast-axolotl plugin: %s", report())

    def load_datasets(self, cfg: Any, preprocess: bool = False) -> Any:
        from ._prepare import prepare_for_axolotl

        set_config(cfg)
        return prepare_for_axolotl(cfg, preprocess)
