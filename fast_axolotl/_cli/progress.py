"""Progress bars (tqdm) on stderr, only for a person watching a terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


class Progress:
    """Makes tqdm bars when ``enabled``; otherwise every call is a no-op.

    Disabled with ``--quiet`` and whenever stderr is not a TTY (pipes, CI logs, tests),
    so captured output never holds carriage-return noise."""

    def __init__(self, quiet: bool) -> None:
        self.enabled = not quiet and sys.stderr.isatty()

    def iterate(self, items: Iterable[T], desc: str, unit: str = "it", total: int | None = None) -> Iterator[T]:
        if not self.enabled:
            yield from items
            return
        from tqdm import tqdm

        yield from tqdm(items, desc=desc, unit=unit, total=total, unit_scale=True, leave=False, dynamic_ncols=True)

    def counter(self, desc: str, unit: str, total: int | None = None) -> Any:
        """A bar advanced by ``.update(n)``; use as a context manager."""
        if not self.enabled:
            return _NoBar()
        from tqdm import tqdm

        return tqdm(desc=desc, unit=unit, total=total, unit_scale=True, leave=False, dynamic_ncols=True)


class _NoBar:
    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def update(self, n: int = 1) -> None:
        return None

    def set_description_str(self, desc: str) -> None:
        return None
