"""The driver shared by the record formats: inference prefix, validation, good rows first."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ...errors import (
    FastAxolotlError,
)
from .common import _Bad, _record_error

if TYPE_CHECKING:
    from .reader import Reader


class _Records:
    """Shared driver of the record formats: inference over the first INFER_ROWS accepted
    records, then validation of every later record, then column building."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.skip = reader.on_error == "skip"
        self._source = self.records()
        self._buffer: list[Any] = []
        # An error met during inference after some good records: raised once they are delivered.
        self._pending: FastAxolotlError | None = None
        #: The columns built (sorted indices of the schema; None: all). Every record is still
        #: checked whole: the same errors with or without a projection.
        self.projection: list[int] | None = None
        self._infer()

    def project(self, sorted_fields: list[int]) -> None:
        self.projection = sorted_fields

    def _built(self, schema: pa.Schema) -> list[int]:
        return list(range(len(schema))) if self.projection is None else self.projection

    def records(self) -> Iterator[tuple[str, str, Any]]:  # (path, position, raw record)
        raise NotImplementedError

    def _infer(self) -> None:
        raise NotImplementedError

    def _fail(self, bad: _Bad, path: str, position: str) -> None:
        if self.skip:
            self.reader.skipped += 1
            return
        raise _record_error(bad, path, position)

    def _prefix(self) -> Iterator[tuple[str, str, Any]]:
        """The source during inference. An error (a bad record under on_error="raise", or a
        fatal one from the source) ends the prefix: the schema is inferred from the good records
        before it, which are delivered, then the error. Opening fails only when no good
        record precedes it."""
        try:
            # Not ``yield from``: when inference stops early this generator is closed, and
            # ``yield from`` would close the source with it; rows() reads the rest of the source.
            for item in self._source:  # noqa: UP028 (see above)
                yield item
        except FastAxolotlError as exc:
            if not self._buffer:
                raise
            self._pending = exc

    def _reject(self, bad: _Bad, path: str, position: str) -> bool:
        """A bad record during inference: True when skipped (go on), False when it ends the
        prefix (kept in ``_pending``); raised at once when no good record precedes it."""
        if self.skip:
            self.reader.skipped += 1
            return True
        error = _record_error(bad, path, position)
        if not self._buffer:
            raise error
        self._pending = error
        return False

    def _buffered(self) -> Iterator[Any]:
        """The inference prefix's records, then the error that ended it, if any."""
        yield from self._buffer
        self._buffer = []
        if self._pending is not None:
            raise self._pending

    def _chunks(self, rows: Iterator[Any]) -> Iterator[list[Any]]:
        """Rows in lists of batch_size; the rows before an error come out first."""
        chunk: list[Any] = []
        try:
            for row in rows:
                chunk.append(row)
                if len(chunk) >= self.reader.batch_size:
                    yield chunk
                    chunk = []
        except FastAxolotlError:
            if chunk:
                yield chunk
            raise
        if chunk:
            yield chunk
