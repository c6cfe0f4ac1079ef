"""fast_axolotl.distributed on a real one-node Ray cluster (loopback): every result equals
the single-machine function on the same rows (Hypothesis tables with duplicates within and
across blocks, empty and one-row blocks), files read through ``read`` equal ``read_table``,
and a bad file fails with our own error, nothing written."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import ray
import ray.data
from hypothesis import given, settings
from hypothesis import strategies as st

import fast_axolotl as fa
from fast_axolotl import distributed as fd
from fast_axolotl.errors import (
    ArgumentTypeError,
    DataFormatError,
    DatasetNotFoundError,
    InvalidArgumentError,
    SchemaMismatchError,
)

from .cluster import LocalCluster
from .helpers import blocks_of, collect

# Each example runs a few Ray tasks (tens of ms each): a few dozen examples per property.
EXAMPLES = settings(max_examples=25, deadline=None)


@pytest.fixture(scope="module", autouse=True)
def cluster(ray_local: LocalCluster) -> LocalCluster:
    """Every test here runs on one node on loopback (conftest's ``ray_local``)."""
    return ray_local


@st.composite
def tables_in_blocks(draw: Any) -> tuple[pa.Table, list[int]]:
    """Rows drawn from a small pool (so duplicates are frequent, within and across blocks),
    cut into blocks of 0, 1 or more rows."""
    pool = draw(
        st.lists(
            st.tuples(st.lists(st.integers(0, 5), max_size=4), st.one_of(st.none(), st.text(max_size=3))),
            min_size=1,
            max_size=6,
        )
    )
    picks = draw(st.lists(st.integers(0, len(pool) - 1), max_size=40))
    rows = [pool[i] for i in picks]
    table = pa.table(
        {
            "input_ids": pa.array([r[0] for r in rows], pa.list_(pa.int64())),
            "text": pa.array([r[1] for r in rows], pa.string()),
        }
    )
    sizes: list[int] = []
    left = len(rows)
    while left:
        n = draw(st.sampled_from([0, 1, 2, 5, 13]))
        n = min(n, left)
        sizes.append(n)
        left -= n
    sizes += draw(st.lists(st.just(0), max_size=2))  # trailing empty blocks
    return table, sizes or [0]


@EXAMPLES
@given(tables_in_blocks(), st.sampled_from([None, 1, 3, 8]))
def test_deduplicate_equals_one_machine(case: tuple[pa.Table, list[int]], partitions: int | None) -> None:
    table, sizes = case
    ours = collect(fd.deduplicate(blocks_of(table, sizes), num_partitions=partitions))
    theirs, _ = fa.deduplicate(table)
    assert ours.equals(theirs)


@EXAMPLES
@given(tables_in_blocks(), tables_in_blocks())
def test_deduplicate_against_seen_equals_one_machine(
    train: tuple[pa.Table, list[int]], evals: tuple[pa.Table, list[int]]
) -> None:
    kept_train, seen = fa.deduplicate(train[0])
    theirs, _ = fa.deduplicate(evals[0], seen=set(seen))
    as_set = collect(fd.deduplicate(blocks_of(evals[0], evals[1]), seen=set(seen), num_partitions=3))
    assert as_set.equals(theirs)
    # The digests of the deduplicated train split, as a dataset: the same result.
    train_digests = fd.digests(blocks_of(kept_train, [kept_train.num_rows]))
    as_dataset = collect(fd.deduplicate(blocks_of(evals[0], evals[1]), seen=train_digests, num_partitions=2))
    assert as_dataset.equals(theirs)


def test_digests_equal_hash_table() -> None:
    table = pa.table({"a": [1, 2, 1, None], "b": ["x", "y", "x", "z"]})
    ours = collect(fd.digests(blocks_of(table, [1, 0, 3])))
    assert ours.column("digest").type == pa.binary(32)
    assert [bytes(d) for d in ours.column("digest").to_pylist()] == [r.tobytes() for r in fa.hash_table(table)]


@EXAMPLES
@given(tables_in_blocks(), st.integers(1, 7), st.integers(3, 12), st.booleans())
def test_pack_equals_pack_sequences_batch_by_batch(
    case: tuple[pa.Table, list[int]], batch_size: int, max_length: int, positions: bool
) -> None:
    table, sizes = case
    ds = fd.pack(blocks_of(table, sizes), max_length, 0, 2, batch_size=batch_size, return_position_ids=positions)
    ours = collect(ds)
    values = table.column("input_ids").combine_chunks()
    expected: dict[str, list[list[int]]] = {}
    for start in range(0, len(values), batch_size):
        packed = fa.pack_sequences(values.slice(start, batch_size), max_length, 0, 2, return_position_ids=positions)
        for name, matrix in packed.items():
            expected.setdefault(name, []).extend(matrix.tolist())
    assert ours.column_names == (["input_ids", "labels", "attention_mask"] + (["position_ids"] if positions else []))
    for name in ours.column_names:
        assert ours.column(name).to_pylist() == expected.get(name, []), name


@EXAMPLES
@given(st.lists(st.integers(0, 30), max_size=60), st.integers(1, 40), st.integers(1, 9), st.sampled_from([None, 2]))
def test_pack_bins_equals_one_machine(lengths: list[int], capacity: int, group_size: int, bin_size: int | None) -> None:
    table = pa.table({"length": pa.array(lengths, pa.int64())})
    sizes = [7] * (len(lengths) // 7) + [len(lengths) % 7]
    ds = fd.pack_bins(blocks_of(table, sizes), capacity, column="length", group_size=group_size, bin_size=bin_size)
    ours = collect(ds).column("indices").to_pylist() if lengths else []
    assert ours == fa.pack_bins(lengths, capacity, group_size=group_size, bin_size=bin_size)


def write_files(tmp_path: Path) -> tuple[Path, pa.Table]:
    table = pa.table(
        {
            "input_ids": pa.array([[i, i + 1] if i % 3 else [1] for i in range(3000)], pa.list_(pa.int64())),
            "text": [f"row {i % 50}" for i in range(3000)],
        }
    )
    folder = tmp_path / "shards"
    folder.mkdir()
    for k, start in enumerate(range(0, 3000, 700)):
        pq.write_table(table.slice(start, 700), folder / f"part-{k:02d}.parquet", row_group_size=128)
    return folder, table


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "jsonl.gz", "csv", "arrow"])
def test_read_equals_read_table(tmp_path: Path, fmt: str) -> None:
    folder, table = write_files(tmp_path)
    if fmt != "parquet":
        other = tmp_path / fmt.replace(".", "_")
        other.mkdir()
        for path in sorted(folder.iterdir()):
            part = pq.read_table(path)
            target = other / f"{path.stem}.{fmt}"
            if fmt.startswith("jsonl"):
                text = "".join(f'{{"input_ids": {r["input_ids"]}, "text": "{r["text"]}"}}\n' for r in part.to_pylist())
                target.write_bytes(gzip.compress(text.encode()) if fmt.endswith(".gz") else text.encode())
            elif fmt == "csv":
                import pyarrow.csv as pcsv

                pcsv.write_csv(part.drop_columns(["input_ids"]), target)
            else:
                with pa.ipc.new_file(target, part.schema) as writer:
                    writer.write_table(part)
        folder = other
    ours = collect(fd.read(folder, block_rows=256))
    assert ours.equals(fa.read_table(folder))
    assert collect(fd.read(folder, columns=["text"])).equals(fa.read_table(folder, columns=["text"]))


def test_a_bad_file_raises_our_error_naming_it(tmp_path: Path) -> None:
    good = tmp_path / "a.jsonl"
    good.write_text("".join(f'{{"a": {i}}}\n' for i in range(10)))
    bad = tmp_path / "b.jsonl"
    bad.write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(DataFormatError) as caught:
        fd.deduplicate(fd.read([good, bad]))
    assert type(caught.value) is DataFormatError  # ours, not Ray's wrapper
    assert caught.value.path == str(bad) and caught.value.position == "line 2"
    assert "Failed to" not in str(caught.value)


def test_a_json_file_typed_otherwise_than_the_first_is_a_schema_mismatch(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"a": 1}\n')
    (tmp_path / "b.jsonl").write_text('{"a": "x"}\n')
    with pytest.raises(SchemaMismatchError, match="b.jsonl"):
        collect(fd.read(tmp_path))


def test_arguments_are_checked() -> None:
    with pytest.raises(ArgumentTypeError):
        fd.deduplicate(pa.table({"a": [1]}))  # type: ignore[arg-type]
    with pytest.raises(ArgumentTypeError):
        fd.deduplicate(ray.data.from_arrow(pa.table({"a": [1]})), seen=[b"x" * 32])
    with pytest.raises(InvalidArgumentError):
        fd.pack(ray.data.from_arrow(pa.table({"a": [[1]]})), 8, 0, 2)
    with pytest.raises(InvalidArgumentError, match="at most 65,536"):
        fd.deduplicate(ray.data.from_arrow(pa.table({"a": [1]})), num_partitions=2**31)
    with pytest.raises(DatasetNotFoundError):
        fd.read(["/nonexistent/*.parquet"])


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fast_axolotl", *args], capture_output=True, text=True, timeout=300)


def test_prepare_on_ray_writes_what_prepare_writes(tmp_path: Path) -> None:
    folder, _ = write_files(tmp_path)
    address = ray.get_runtime_context().gcs_address
    for mode in (["--pack", "16", "--batch-rows", "500"], ["--multipack", "40", "--group-size", "600"]):
        out = tmp_path / f"out-{mode[0][2:]}"
        done = run_cli("prepare", "--ray", address, str(folder), "--dedupe", *mode, "-o", str(out), "-q")
        assert done.returncode == 0, done.stderr[-3000:]
        local = tmp_path / f"local-{mode[0][2:]}.parquet"
        done = run_cli("prepare", str(folder), "--dedupe", *mode, "-o", str(local), "-q")
        assert done.returncode == 0, done.stderr[-3000:]
        shards = sorted(p.name for p in out.iterdir())
        assert shards == [f"part-{i:05d}.parquet" for i in range(len(shards))]
        assert fa.read_table(out).equals(pq.read_table(local))


def test_prepare_on_ray_leaves_nothing_when_a_file_is_bad(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_text('{"input_ids": [1, 2]}\n' * 5)
    (tmp_path / "in" / "b.jsonl").write_text('{"input_ids": [1, 2]}\n{"input_ids": [\n')
    out = tmp_path / "out"
    address = ray.get_runtime_context().gcs_address
    done = run_cli("prepare", "--ray", address, str(tmp_path / "in"), "--dedupe", "-o", str(out), "-q")
    assert done.returncode != 0
    assert "DataFormatError" in done.stderr or "b.jsonl" in done.stderr
    assert str(tmp_path / "in" / "b.jsonl") in done.stderr and "line 2" in done.stderr
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_digest_partitions_are_even() -> None:
    from fast_axolotl.distributed._dedup import partition_of

    digests = fa.hash_table(pa.table({"a": np.arange(20_000)}))
    counts = np.bincount(partition_of(digests, 8), minlength=8)
    assert counts.min() > 0.9 * 20_000 / 8


def test_a_large_parquet_file_is_read_by_several_tasks_in_order(tmp_path: Path) -> None:
    from fast_axolotl.distributed._source import FastAxolotlDatasource

    path = tmp_path / "big.parquet"
    table = pa.table({"id": np.arange(20_000), "text": [f"t{i % 97}" for i in range(20_000)]})
    pq.write_table(table, path, row_group_size=1000)
    tasks = FastAxolotlDatasource(path, task_bytes=5_000).get_read_tasks(2)
    assert len(tasks) > 3  # a range of row groups each
    assert collect(fd.read(path, task_bytes=5_000, block_rows=700)).equals(fa.read_table(path))
    assert collect(fd.deduplicate(fd.read(path, task_bytes=5_000), columns=["text"])).equals(
        table.take(pa.array(np.sort(np.unique([f"t{i % 97}" for i in range(20_000)], return_index=True)[1])))
    )
