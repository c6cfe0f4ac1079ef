"""The whole-table kernels of the chat_template strategy (:mod:`._chat`): where a turn's
characters are (``diff_char_span``), which tokens hold them (``token_span``, Python's
bisect on the offsets, probed one token at a time), and the labels with the EOT / EOS
rules (``labels``), all as Axolotl 0.21's ``ChatTemplateStrategy`` defines them.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ._ragged import Ragged

IGNORE_INDEX = -100
#: How far after a turn's end an EOT / EOS token still belongs to it (Axolotl's "template padding").
EOS_REACH = 3


def _common_prefix(a: str, b: str, limit: int) -> int:
    """Length of the common prefix of ``a`` and ``b`` within ``limit`` characters (by
    halving: each step one slice comparison in C)."""
    if a[:limit] == b[:limit]:
        return limit
    low, high = 0, limit  # a[:low] == b[:low], a[:high] != b[:high]
    while high - low > 1:
        middle = (low + high) // 2
        if a[low:middle] == b[low:middle]:
            low = middle
        else:
            high = middle
    return low


def _common_suffix(a: str, b: str, limit: int) -> int:
    la, lb = len(a), len(b)
    if a[la - limit :] == b[lb - limit :] or limit == 0:
        return limit
    low, high = 0, limit
    while high - low > 1:
        middle = (low + high) // 2
        if a[la - middle : la - low] == b[lb - middle : lb - low]:
            low = middle
        else:
            high = middle
    return low


def diff_char_span(full: str, dummy: str) -> tuple[int, int]:
    """``ChatTemplateStrategy._diff_char_span``: the characters of ``full`` that differ
    from ``dummy`` (the suffix bounded by the prefix)."""
    limit = min(len(full), len(dummy))
    start = _common_prefix(full, dummy, limit)
    suffix = _common_suffix(full, dummy, limit - start)
    return start, len(full) - suffix


# --- token spans, labels -----------------------------------------------------------------------


@dataclass(frozen=True)
class Located:
    """The turns to locate, flat: row, whether it trains, and its token span (-1, -1 if none)."""

    row: npt.NDArray[np.int64]
    trains: npt.NDArray[np.bool_]
    start: npt.NDArray[np.int64]
    end: npt.NDArray[np.int64]


class OffsetsUnavailable(Exception):
    """A token without character offsets (Axolotl would use its token-diff fallback)."""


class _OffsetColumn(Sequence[int]):
    """One side (0: starts, 1: ends) of an Encoding's character offsets as a sequence,
    read one token at a time (``token_to_chars``) by whoever indexes it: bisect reads only
    the tokens it probes, and gives the same answer as on the whole list, sorted or not."""

    def __init__(self, encoding: Any, count: int, side: int) -> None:
        self.encoding, self.length, self.side = encoding, count, side

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: Any) -> Any:
        chars = self.encoding.token_to_chars(index)
        if chars is None:
            raise OffsetsUnavailable(index)
        return chars[self.side]


def token_span(encoding: Any, count: int, char_start: int, char_end: int) -> tuple[int, int] | None:
    """``_find_turn_from_text``'s token span of the characters ``[char_start, char_end)``
    in a text of ``count`` tokens; None where Axolotl falls back to its token diff."""
    start = bisect_right(_OffsetColumn(encoding, count, 1), char_start)
    end = bisect_left(_OffsetColumn(encoding, count, 0), char_end)
    if start >= count or end > count:
        return None
    return start, end


def _first_token_after(
    ids: Ragged, rows: npt.NDArray[np.int64], ends: npt.NDArray[np.int64], targets: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """``find_first_eos_token(input_ids, turn_end)`` kept only when within EOS_REACH of the
    turn's end: the index, or -1. ``turn_end == -1`` scans from ``input_ids[-1]`` (a
    match there reads as "not found"), then from 0."""
    found = np.full(len(rows), -1, dtype=np.int64)
    lengths = ids.lengths[rows]
    starts = ids.offsets[:-1][rows]
    is_target = np.isin(ids.values, targets)
    normal = ends >= 0
    for step in range(EOS_REACH + 1):
        at = ends + step
        ok = normal & (found < 0) & (at < lengths)
        hit = ok.copy()
        hit[ok] = is_target[starts[ok] + at[ok]]
        found[hit] = at[hit]
    wrapped = ~normal & (lengths > 0)
    if wrapped.any():
        last_hit = np.zeros(len(rows), dtype=bool)
        last_hit[wrapped] = is_target[starts[wrapped] + lengths[wrapped] - 1]
        candidates = wrapped & ~last_hit
        for position in range(EOS_REACH):  # |i - (-1)| <= 3: i in 0, 1, 2
            ok = candidates & (found < 0) & (position < lengths)
            hit = ok.copy()
            hit[ok] = is_target[starts[ok] + position]
            found[hit] = position
    return found


def labels(
    ids: Ragged,
    located: Located,
    eot_ids: Sequence[int],
    eos_id: int,
    eot_option: str | None,
    eos_option: str | None,
) -> Ragged:
    """-100 but over the located trainable spans, and at the EOT / EOS token after a
    located turn as ``train_on_eot`` / ``train_on_eos`` say (turn, all, last, none)."""
    values = np.full(len(ids.values), IGNORE_INDEX, dtype=np.int64)
    valid = located.trains & (located.start >= 0) & (located.end >= 0) & (located.end > located.start)
    base = ids.offsets[:-1][located.row[valid]]
    mark = np.zeros(len(ids.values) + 1, dtype=np.int64)
    np.add.at(mark, base + located.start[valid], 1)
    np.add.at(mark, base + located.end[valid], -1)
    inside = np.cumsum(mark[:-1]) > 0
    values[inside] = ids.values[inside]
    for targets, option in (
        (np.asarray(eot_ids, dtype=np.int64), eot_option),
        (np.asarray([eos_id]), eos_option),
    ):
        if not len(targets):
            continue
        found = _first_token_after(ids, located.row, located.end, targets)
        hit = found >= 0
        if option == "all":
            chosen = hit
        elif option == "turn":
            chosen = hit & located.trains
        elif option == "last":
            # the last located turn of each row that found one
            chosen = np.zeros(len(found), dtype=bool)
            rows_hit = located.row[hit]
            if len(rows_hit):
                positions = np.flatnonzero(hit)
                last = np.r_[rows_hit[1:] != rows_hit[:-1], True]
                chosen[positions[last]] = True
        else:
            continue
        at = ids.offsets[:-1][located.row[chosen]] + found[chosen]
        values[at] = ids.values[at]
    return Ragged(values, ids.offsets)
