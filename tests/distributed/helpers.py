"""Datasets cut into chosen blocks, and a dataset's rows in its order (the tests' and the
two-node driver's)."""

from __future__ import annotations

import pyarrow as pa
import ray.data


def blocks_of(table: pa.Table, sizes: list[int]) -> ray.data.Dataset:
    """``table`` as a dataset whose blocks have these sizes (in order; zeros are empty blocks)."""
    parts, start = [], 0
    for n in sizes:
        parts.append(table.slice(start, n))
        start += n
    return ray.data.from_arrow(parts)


def collect(ds: ray.data.Dataset) -> pa.Table:
    """The dataset's rows, in its order: as a user iterating it sees them."""
    tables = list(ds.iter_batches(batch_format="pyarrow", batch_size=None))
    return pa.concat_tables(tables) if tables else ds.schema().base_schema.empty_table()
