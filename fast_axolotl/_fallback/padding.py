"""Reference kernel: pad ragged rows into one 2-D int64 array."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def pad_rows(
    values: npt.NDArray[np.int64],
    offsets: npt.NDArray[np.int64],
    target_length: int,
    pad_value: int,
    left: bool,
    range_padding: bool,
) -> npt.NDArray[np.int64]:
    """Row ``i`` is ``values[offsets[i]:offsets[i+1]]`` padded to ``target_length``.

    The padding is ``pad_value`` repeated or, with ``range_padding``, ``0, 1, 2...``
    (how Axolotl pads ``position_ids``); ``left`` puts it before the tokens.
    Rows longer than ``target_length`` are the caller's error (checked before).
    """
    rows = len(offsets) - 1
    out = np.empty((rows, target_length), dtype=np.int64)
    tokens = values.tolist()
    for row in range(rows):
        seq = tokens[int(offsets[row]) : int(offsets[row + 1])]
        count = target_length - len(seq)
        padding = list(range(count)) if range_padding else [pad_value] * count
        out[row, :] = padding + seq if left else seq + padding
    return out
