"""The driver the two-node test runs inside the head's network namespace: it connects to
the cluster (argv[1]: the head's address), checks that both nodes take part, and compares
every distributed function with the single-machine one on Hypothesis tables and on files
(argv[2]: a scratch folder). Prints ``ok <examples>`` and exits 0 when all agree."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import ray
import ray.data
from helpers import collect  # (run as a script: its folder is on sys.path)
from hypothesis import given, settings
from hypothesis import strategies as st
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

import fast_axolotl as fa
from fast_axolotl import distributed as fd


@st.composite
def tables_in_blocks(draw: Any) -> tuple[pa.Table, list[int]]:
    pool = draw(st.lists(st.lists(st.integers(0, 4), max_size=3), min_size=1, max_size=5))
    picks = draw(st.lists(st.integers(0, len(pool) - 1), max_size=30))
    table = pa.table({"input_ids": pa.array([pool[i] for i in picks], pa.list_(pa.int64()))})
    sizes, left = [], len(picks)
    while left:
        n = min(draw(st.sampled_from([0, 1, 3, 7])), left)
        sizes.append(n)
        left -= n
    return table, sizes or [0]


EXAMPLES = 0


@settings(max_examples=15, deadline=None, database=None)
@given(tables_in_blocks(), st.integers(1, 5))
def check_dedup_and_pack(case: tuple[pa.Table, list[int]], batch_size: int) -> None:
    global EXAMPLES
    EXAMPLES += 1
    table, sizes = case
    theirs, _ = fa.deduplicate(table)
    assert collect(fd.deduplicate(blocks_of(table, sizes), num_partitions=2)).equals(theirs)
    packed = collect(fd.pack(blocks_of(table, sizes), 8, 0, 2, batch_size=batch_size))
    values = table.column("input_ids").combine_chunks()
    expected = [
        row
        for start in range(0, len(values), batch_size)
        for row in fa.pack_sequences(values.slice(start, batch_size), 8, 0, 2)["input_ids"].tolist()
    ]
    assert packed.column("input_ids").to_pylist() == expected


def node_of(_: int) -> str:
    return str(ray.get_runtime_context().get_node_id())


def _identity(table: pa.Table) -> pa.Table:
    return table


NODES: list[str] = []


def blocks_of(table: pa.Table, sizes: list[int]) -> ray.data.Dataset:
    """``table`` in blocks of these sizes, made on the two nodes in turn: every function
    then moves data between the nodes."""
    make = ray.remote(_identity)
    refs, start = [], 0
    for i, n in enumerate(sizes):
        where = NodeAffinitySchedulingStrategy(NODES[i % len(NODES)], soft=False)
        refs.append(make.options(scheduling_strategy=where).remote(table.slice(start, n)))
        start += n
    return ray.data.from_arrow_refs(refs)


def main() -> None:
    address, scratch = sys.argv[1], Path(sys.argv[2])
    ray.init(address=address, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    NODES.extend(sorted(n["NodeID"] for n in ray.nodes() if n["Alive"]))
    assert len(NODES) == 2, NODES
    # Both nodes run tasks: blocks are made on each in turn (blocks_of).
    task = ray.remote(node_of)
    pinned = [task.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n, soft=False)).remote(0) for n in NODES]
    assert ray.get(pinned) == NODES
    check_dedup_and_pack()
    # Files read on both nodes: equal to read_table.
    rng = np.random.default_rng(1)
    table = pa.table({"input_ids": pa.array([rng.integers(0, 9, rng.integers(1, 6)).tolist() for _ in range(4000)])})
    folder = scratch / "shards"
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(4):
        pq.write_table(table.slice(k * 1000, 1000), folder / f"part-{k}.parquet", row_group_size=250)
    assert collect(fd.read(folder)).equals(fa.read_table(folder))
    assert collect(fd.read(folder, task_bytes=1)).equals(fa.read_table(folder))  # a task per row group
    assert collect(fd.deduplicate(fd.read(folder))).equals(fa.deduplicate(fa.read_table(folder))[0])
    print(f"ok {EXAMPLES}")


if __name__ == "__main__":
    main()
