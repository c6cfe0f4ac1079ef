"""What Axolotl does to the tokenized datasets before saving, on Arrow tables.

In order (``axolotl.utils.data.sft._load_raw_datasets``): merge (concatenate, shuffled
as ``merge_datasets`` decides: ``datasets.Dataset.shuffle(seed)`` is a permutation from
``numpy.random.default_rng(seed)``), the length filter (``handle_long_seq_in_dataset``:
drop / raise / truncate), and with sample packing the zero-trainable-token filter and
``position_ids`` / ``length`` (``process_datasets_for_packing``), then exact dedup.

Rows are carried as indices into the concatenated table until the end, so the
shuffle and the filters move no token; one ``take`` builds the result.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from ..errors import UnsupportedConfigError
from ._config import PrepConfig
from ._ragged import Ragged

LOG = logging.getLogger("fast_axolotl.prepare")
TRUNCATED_COLUMNS = ("input_ids", "attention_mask", "labels", "position_ids")


@dataclass
class StepCounts:
    rows: int = 0
    dropped_length: int = 0
    dropped_untrainable: int = 0
    duplicates: int = 0
    tokens: int = 0


def permutation(rows: int, seed: int | None) -> npt.NDArray[np.int64]:
    """``Dataset.shuffle(seed=seed)``'s order (an unset seed draws one, as datasets does)."""
    if seed is None:
        legacy: Any = np.random.get_state(legacy=True)
        state, pos = legacy[1], int(legacy[2])
        seed = int(state[pos] if pos < 624 else state[0])
        np.random.random()
    return np.random.default_rng(seed).permutation(rows).astype(np.int64)


def merge(tables: list[pa.Table], cfg: PrepConfig) -> tuple[pa.Table, npt.NDArray[np.int64]]:
    """The concatenated table and the row order ``merge_datasets`` gives it."""
    # concatenate_datasets takes the first dataset's column order (a chat_template
    # strategy returns input_ids, labels, attention_mask; the others input_ids first
    # and attention_mask second)
    names = tables[0].column_names
    tables = [t.select(names) if set(t.column_names) == set(names) else t for t in tables]
    schemas = {t.schema.remove_metadata() for t in tables}
    if len(schemas) > 1:
        raise UnsupportedConfigError("datasets", "the datasets' columns differ (datasets would align or refuse them)")
    if len(tables) == 1:
        table = tables[0]
        order = np.arange(table.num_rows, dtype=np.int64)
        if cfg.shuffle_merged and not cfg.curriculum_sampling and table.num_rows:
            order = permutation(table.num_rows, cfg.seed)
        return table, order
    orders, base = [], 0
    for table in tables:
        part = np.arange(table.num_rows, dtype=np.int64)
        if cfg.shuffle_before_merging and table.num_rows:
            part = permutation(table.num_rows, cfg.seed)
        orders.append(part + base)
        base += table.num_rows
    order = np.concatenate(orders)
    merged = pa.concat_tables(tables)
    if cfg.shuffle_merged and merged.num_rows:
        order = order[permutation(merged.num_rows, cfg.seed)]
    return merged, order


def _lengths(table: pa.Table) -> npt.NDArray[np.int64]:
    return Ragged.from_arrow(table.column("input_ids")).lengths


def filter_lengths(
    table: pa.Table, order: npt.NDArray[np.int64], cfg: PrepConfig, counts: StepCounts
) -> tuple[pa.Table, npt.NDArray[np.int64]]:
    """``handle_long_seq_in_dataset``: keep ``min_sample_len or 2 <= len <= sequence_len``
    (``drop``), raise on the first too-long row (``raise``), or drop the short rows and
    cut the long ones (``truncate``)."""
    lengths = _lengths(table)[order]
    low, high = cfg.min_sample_len or 2, cfg.sequence_len
    if cfg.excess_length_strategy == "truncate":
        keep = lengths >= low
        order = order[keep]
        counts.dropped_length += int((~keep).sum())
        return _truncated(table, order, high), np.arange(len(order), dtype=np.int64)
    if cfg.excess_length_strategy == "raise":
        too_long = np.flatnonzero(lengths > high)
        if too_long.size:
            raise ValueError(
                f"Sequence encountered with {int(lengths[too_long[0]])} tokens, which exceeds the maximum {high}."
            )
    keep = (lengths >= low) & (lengths <= high)
    counts.dropped_length += int((~keep).sum())
    return table, order[keep]


def _truncated(table: pa.Table, order: npt.NDArray[np.int64], limit: int) -> pa.Table:
    columns = {}
    for name in table.column_names:
        if name in TRUNCATED_COLUMNS:
            cut = Ragged.from_arrow(table.column(name)).take(order).truncate(limit)
            columns[name] = cut.to_arrow(table.column(name).type.value_type)  # datasets keeps the types
        else:
            columns[name] = table.column(name).take(pa.array(order))
    return pa.table(columns)


def drop_untrainable(table: pa.Table, order: npt.NDArray[np.int64], counts: StepCounts) -> npt.NDArray[np.int64]:
    """``drop_no_trainable_tokens``: rows whose labels are all -100 go; none left raises."""
    trainable = Ragged.from_arrow(table.column("labels")).any_not_equal(-100)[order]
    counts.dropped_untrainable += int((~trainable).sum())
    order = order[trainable]
    if not len(order):
        raise ValueError(
            "The dataset has no samples left after dropping samples with no trainable tokens. Every sample had "
            "all of its labels masked to -100, so there is nothing to train on. Check `train_on_inputs`, "
            "`roles_to_train`, and your prompt strategy / chat template."
        )
    return order


def materialize(table: pa.Table, order: npt.NDArray[np.int64], packing: bool) -> pa.Table:
    """The rows of ``order``; with packing, ``position_ids`` and ``length`` appended."""
    if not (len(order) == table.num_rows and bool((order == np.arange(len(order))).all())):
        table = table.take(pa.array(order, type=pa.int64()))
    if packing:
        ids = Ragged.from_arrow(table.column("input_ids"))
        table = table.append_column("position_ids", ids.positions().to_arrow())
        table = table.append_column("length", pa.array(ids.lengths, type=pa.int64()))
    return table


def deduplicate(table: pa.Table, counts: StepCounts) -> pa.Table:
    """Axolotl's ``_deduplicate_dataset`` (the ``str(row)`` digest, first occurrence kept)."""
    from .. import _backend
    from ..hashing import hash_table

    digests = hash_table(table)
    kept = _backend.kernels().select_unique(digests, set())
    counts.duplicates += table.num_rows - len(kept)
    if len(kept) == table.num_rows:
        return table
    return table.take(pa.array(kept, type=pa.int64()))
