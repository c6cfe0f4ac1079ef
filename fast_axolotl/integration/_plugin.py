"""``plugins: [fast_axolotl.integration.FastAxolotlPlugin]`` in an Axolotl config."""

from __future__ import annotations

import logging
from typing import Any

from ._core import install, report

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
    """Axolotl plugin whose registration installs the fast-axolotl patches.

    Axolotl instantiates the class when it loads the config's ``plugins`` and calls
    ``register(cfg)`` right after; both call :func:`fast_axolotl.integration.install`
    (idempotent; ``FAST_AXOLOTL_DISABLE=1`` still wins).
    """

    def __init__(self) -> None:
        super().__init__()
        install()

    def register(self, cfg: Any) -> None:
        super().register(cfg)
        if install():
            LOG.info("fast-axolotl plugin: %s", report())
