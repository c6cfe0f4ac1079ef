"""Text: one string column, a row per line."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pyarrow as pa

from ...errors import (
    DataFormatError,
    FastAxolotlError,
)
from .common import MAX_LINE
from .source import _lines

if TYPE_CHECKING:
    from .reader import Reader


class _Text:
    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.schema = pa.schema([pa.field("text", pa.string())])

    def project(self, sorted_fields: list[int]) -> None:
        """One column: a projection can only keep it."""

    def batches(self) -> Iterator[pa.RecordBatch]:
        chunk: list[str] = []
        try:
            yield from self._lines_into(chunk)
        except FastAxolotlError:
            if chunk:  # good rows first: the lines before the error, then the error
                yield pa.record_batch([pa.array(chunk, pa.string())], schema=self.schema)
            raise
        if chunk:
            yield pa.record_batch([pa.array(chunk, pa.string())], schema=self.schema)

    def _lines_into(self, chunk: list[str]) -> Iterator[pa.RecordBatch]:
        """Batches of full chunks; the lines of the last, partial one are left in ``chunk``."""
        reader = self.reader
        size = 0  # UTF-8 bytes in chunk
        for path in reader.paths:
            for number, line in _lines(path, reader.compression):
                if line.endswith(b"\r"):
                    line = line[:-1]
                try:
                    text = line.decode("utf-8")
                except UnicodeDecodeError:
                    if reader.on_error == "skip":
                        reader.skipped += 1
                        continue
                    raise DataFormatError(f"{path}: line {number}: invalid UTF-8", path, f"line {number}") from None
                if size + len(line) > MAX_LINE:
                    message = (
                        "this batch would hold more than 2 GiB of text (the limit of one Arrow string column): "
                        "use a smaller batch_size"
                    )
                    raise DataFormatError(f"{path}: line {number}: {message}", path, f"line {number}")
                chunk.append(text)
                size += len(line)
                if len(chunk) >= reader.batch_size:
                    yield pa.record_batch([pa.array(chunk, pa.string())], schema=self.schema)
                    chunk.clear()
                    size = 0
