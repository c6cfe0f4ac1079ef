"""Streaming readers (written by the reader work)."""

from __future__ import annotations

from typing import Any


def list_supported_formats() -> list[str]:
    raise NotImplementedError


def detect_format(path: Any) -> tuple[str, str | None]:
    raise NotImplementedError


def read_batches(path: Any, **kwargs: Any) -> Any:
    raise NotImplementedError


def read_table(path: Any, **kwargs: Any) -> Any:
    raise NotImplementedError


def streaming_dataset_reader(file_path: Any, *args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError
