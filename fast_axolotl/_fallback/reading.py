"""Reference readers (written by the reader work)."""

from __future__ import annotations

from typing import Any


def open_reader(*args: Any, **kwargs: Any) -> Any:  # placeholder until the reader lands
    raise NotImplementedError
