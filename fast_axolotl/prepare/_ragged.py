"""Token rows as one flat array plus offsets (Arrow's list layout), and the whole-array
operations Axolotl's strategies apply row by row: the EOS rule, BOS stripping, joining
prompt and response, cutting into ``sequence_len`` chunks, truncation, position ids.

Every operation is a handful of numpy calls over all rows at once; no row is a Python
object. ``to_arrow`` gives the ``list<...>`` column ``datasets`` writes for lists of Python
ints (int32 offsets, split into chunks below 2**31 values).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
import numpy.typing as npt
import pyarrow as pa

Int64s = npt.NDArray[np.int64]

#: Rows per Arrow chunk: keeps each chunk's int32 offsets far from overflow.
_CHUNK_VALUES = 1 << 30


@dataclass(frozen=True)
class Ragged:
    values: Int64s
    offsets: Int64s  # len(rows) + 1, offsets[0] == 0

    @property
    def rows(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> Int64s:
        return np.diff(self.offsets)

    @staticmethod
    def from_lists(rows: Sequence[Sequence[int]]) -> Ragged:
        lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        values = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=int(offsets[-1]))
        return Ragged(values, offsets)

    @staticmethod
    def from_lengths(values: Int64s, lengths: Int64s) -> Ragged:
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return Ragged(values, offsets)

    @staticmethod
    def from_arrow(column: pa.ChunkedArray | pa.Array) -> Ragged:
        """A list-of-integers column (chunks joined, a sliced array's offsets rebased)."""
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
        offsets = column.offsets.to_numpy().astype(np.int64)
        values = column.values.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
        values = values[offsets[0] : offsets[-1]]
        return Ragged(values, offsets - offsets[0])

    def like(self, fill: int) -> Ragged:
        return Ragged(np.full(len(self.values), fill, dtype=np.int64), self.offsets)

    def take(self, rows: Int64s) -> Ragged:
        """The rows ``rows`` (any order, repeats allowed), as a new contiguous array."""
        starts, lengths = self.offsets[:-1][rows], self.lengths[rows]
        out = Ragged.from_lengths(np.empty(0, dtype=np.int64), lengths)
        gather = np.repeat(starts - out.offsets[:-1], lengths) + np.arange(int(out.offsets[-1]), dtype=np.int64)
        return Ragged(self.values[gather], out.offsets)

    def truncate(self, limit: int) -> Ragged:
        """Each row cut to at most ``limit`` values (Axolotl's ``truncate_long_seq``)."""
        lengths = np.minimum(self.lengths, limit)
        if bool((lengths == self.lengths).all()):
            return self
        out = Ragged.from_lengths(np.empty(0, dtype=np.int64), lengths)
        gather = np.repeat(self.offsets[:-1] - out.offsets[:-1], lengths) + np.arange(
            int(out.offsets[-1]), dtype=np.int64
        )
        return Ragged(self.values[gather], out.offsets)

    def append_where(self, mask: npt.NDArray[np.bool_], value: int) -> Ragged:
        """``value`` appended to the rows where ``mask`` holds."""
        if not mask.any():
            return self
        values = np.insert(self.values, self.offsets[1:][mask], value)
        return Ragged.from_lengths(values, self.lengths + mask)

    def drop_first_where(self, mask: npt.NDArray[np.bool_]) -> Ragged:
        """The first value removed from the rows where ``mask`` holds (rows must be non-empty there)."""
        if not mask.any():
            return self
        values = np.delete(self.values, self.offsets[:-1][mask])
        return Ragged.from_lengths(values, self.lengths - mask)

    def first(self, default: int) -> Int64s:
        out = np.full(self.rows, default, dtype=np.int64)
        filled = self.lengths > 0
        out[filled] = self.values[self.offsets[:-1][filled]]
        return out

    def last(self, default: int) -> Int64s:
        out = np.full(self.rows, default, dtype=np.int64)
        filled = self.lengths > 0
        out[filled] = self.values[self.offsets[1:][filled] - 1]
        return out

    def chunked(self, size: int) -> Ragged:
        """Every row cut into consecutive pieces of ``size`` values (a shorter last piece;
        an empty row gives none): Axolotl's completion ``val[i : i + sequence_len]``."""
        lengths = self.lengths
        pieces = -(-lengths // size)
        group_start = np.repeat(np.cumsum(pieces) - pieces, pieces)
        within = np.arange(int(pieces.sum()), dtype=np.int64) - group_start
        starts = np.repeat(self.offsets[:-1], pieces) + within * size
        return Ragged(self.values, np.append(starts, self.offsets[-1]).astype(np.int64))

    def any_not_equal(self, value: int) -> npt.NDArray[np.bool_]:
        """Per row: does any value differ from ``value`` (False for an empty row)."""
        running = np.zeros(len(self.values) + 1, dtype=np.int64)
        np.cumsum(self.values != value, out=running[1:])
        return (running[self.offsets[1:]] - running[self.offsets[:-1]]) > 0

    def positions(self) -> Ragged:
        """0, 1, ... within each row (``add_position_ids``)."""
        total = int(self.offsets[-1])
        values = np.arange(total, dtype=np.int64) - np.repeat(self.offsets[:-1], self.lengths)
        return Ragged(values, self.offsets)

    def to_arrow(self, value_type: pa.DataType | None = None) -> pa.ChunkedArray:
        value_type = value_type or pa.int64()
        chunks = []
        start = 0
        while True:
            # the furthest row end within the chunk's value budget (at least one row)
            stop = int(np.searchsorted(self.offsets, self.offsets[start] + _CHUNK_VALUES, side="right")) - 1
            stop = min(max(stop, start + 1), self.rows)
            offsets = (self.offsets[start : stop + 1] - self.offsets[start]).astype(np.int32)
            values = pa.array(
                self.values[self.offsets[start] : self.offsets[stop]].astype(value_type.to_pandas_dtype())
            )
            chunks.append(pa.ListArray.from_arrays(pa.array(offsets, type=pa.int32()), values))
            start = stop
            if start >= self.rows:
                return pa.chunked_array(chunks, type=pa.list_(value_type))


def join_rows(left: Ragged, right: Ragged) -> Ragged:
    """Row ``i`` of the result is ``left[i] + right[i]``."""
    lengths_left, lengths_right = left.lengths, right.lengths
    out = Ragged.from_lengths(np.empty(0, dtype=np.int64), lengths_left + lengths_right)
    values = np.empty(int(out.offsets[-1]), dtype=np.int64)
    at_left = np.repeat(out.offsets[:-1] - left.offsets[:-1], lengths_left) + np.arange(
        len(left.values), dtype=np.int64
    )
    at_right = np.repeat(out.offsets[:-1] + lengths_left - right.offsets[:-1], lengths_right) + np.arange(
        len(right.values), dtype=np.int64
    )
    values[at_left] = left.values
    values[at_right] = right.values
    return Ragged(values, out.offsets)


def concat(parts: Iterable[Ragged]) -> Ragged:
    parts = list(parts)
    if not parts:
        return Ragged(np.empty(0, np.int64), np.zeros(1, np.int64))
    values = np.concatenate([p.values for p in parts])
    lengths = np.concatenate([p.lengths for p in parts])
    return Ragged.from_lengths(values, lengths)
