"""Issue 18, Parquet and Arrow IPC: metadata V4, nesting up to 62 levels, the Arrow types
pyarrow.parquet gives, INT96 outside the nanosecond range, non-nullable shards, good rows
first; each run against both implementations."""

from __future__ import annotations

import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc
import pyarrow.parquet as pq
import pytest
from reading_helpers import drain

import fast_axolotl as fa
from fast_axolotl.errors import DataFormatError, SchemaMismatchError

TABLE = pa.table({"a": [1, 2, None], "s": ["x", None, "z"]})


def test_an_ipc_file_with_metadata_v4_is_read(impl: str, tmp_path: Path) -> None:
    path = tmp_path / "v4.arrow"
    options = pa.ipc.IpcWriteOptions(metadata_version=pa.ipc.MetadataVersion.V4)
    with pa.ipc.new_file(path, TABLE.schema, options=options) as writer:
        writer.write_table(TABLE)
    assert fa.read_table(path, format="arrow").equals(TABLE)


def test_an_ipc_stream_with_metadata_v4_is_read(impl: str, tmp_path: Path) -> None:
    path = tmp_path / "v4.arrows"
    options = pa.ipc.IpcWriteOptions(metadata_version=pa.ipc.MetadataVersion.V4)
    with pa.ipc.new_stream(path, TABLE.schema, options=options) as writer:
        writer.write_table(TABLE)
    assert fa.read_table(path, format="arrow").equals(TABLE)


def nested_table(levels: int) -> pa.Table:
    # Built from the type, not from Python lists: pyarrow's own conversion recurses.
    inner = pa.array([1, 2], pa.int64())
    array: pa.Array = inner
    for _ in range(levels):
        array = pa.ListArray.from_arrays(pa.array([0, len(array)], pa.int32()), array)
    return pa.table({"x": array})


def write_ipc(path: Path, table: pa.Table) -> None:
    with pa.ipc.new_file(path, table.schema) as writer:
        writer.write_table(table)


@pytest.mark.parametrize("levels", [50, 62])
def test_ipc_nested_up_to_62_levels_reads_as_pyarrow(impl: str, tmp_path: Path, levels: int) -> None:
    path = tmp_path / f"deep{levels}.arrow"
    table = nested_table(levels)
    write_ipc(path, table)
    assert fa.read_table(path, format="arrow").equals(pa.ipc.open_file(path).read_all())


def test_ipc_nested_63_levels_is_refused_at_open(impl: str, tmp_path: Path) -> None:
    path = tmp_path / "deep63.arrow"
    write_ipc(path, nested_table(63))
    with pytest.raises(DataFormatError, match="deep63.arrow"):
        _ = fa.read_batches(path, format="arrow").schema  # opening reads the schema


# Parquet is shallower than IPC: pyarrow's Parquet reader refuses a schema more than 100
# nodes deep (a list level takes two), so 49 list levels read and 50 are refused, as there.
@pytest.mark.parametrize("levels", [30, 49])
def test_parquet_nested_as_deep_as_pyarrow_reads_equals_pyarrow(impl: str, tmp_path: Path, levels: int) -> None:
    path = tmp_path / f"deep{levels}.parquet"
    pq.write_table(nested_table(levels), path)
    assert fa.read_table(path, format="parquet").equals(pq.read_table(path))


@pytest.mark.parametrize("levels", [50, 62, 63])
def test_parquet_nested_deeper_than_pyarrow_reads_is_refused_at_open(impl: str, tmp_path: Path, levels: int) -> None:
    path = tmp_path / f"deep{levels}.parquet"
    pq.write_table(nested_table(levels), path)
    with pytest.raises(DataFormatError, match=f"deep{levels}.parquet"):
        _ = fa.read_batches(path, format="parquet").schema  # opening reads the schema


def test_parquet_date64_int96_and_map_types_match_pyarrow(impl: str, tmp_path: Path) -> None:
    path = tmp_path / "types.parquet"
    table = pa.table(
        {
            "d64": pa.array([datetime.date(2020, 1, 1), None], pa.date64()),
            "ts": pa.array([datetime.datetime(2020, 1, 1, 12), None], pa.timestamp("us")),
            "m": pa.array([[("a", 1)], None], pa.map_(pa.string(), pa.int64())),
        }
    )
    pq.write_table(table, path, use_deprecated_int96_timestamps=True)
    ours = fa.read_table(path, format="parquet")
    theirs = pq.read_table(path)
    assert ours.schema.remove_metadata().equals(theirs.schema.remove_metadata())
    assert ours.to_pylist() == theirs.to_pylist()


def test_int96_outside_the_nanosecond_range_is_refused_with_its_row(impl: str, tmp_path: Path) -> None:
    path = tmp_path / "far.parquet"
    days = [datetime.datetime(2000, 1, 1), datetime.datetime(1500, 1, 1)]
    pq.write_table(
        pa.table({"ts": pa.array(days, pa.timestamp("us"))}),
        path,
        use_deprecated_int96_timestamps=True,
    )
    with pytest.raises(DataFormatError) as caught:
        fa.read_table(path, format="parquet")
    assert str(path) in str(caught.value) and "row 1" in str(caught.value)


def test_a_null_in_a_later_shard_of_a_non_nullable_column(impl: str, tmp_path: Path) -> None:
    strict = pa.schema([pa.field("a", pa.int64(), nullable=False)])
    pq.write_table(pa.table({"a": [1, 2]}, schema=strict), tmp_path / "part-0.parquet")
    later = tmp_path / "part-1.parquet"
    pq.write_table(pa.table({"a": [3, 4, None]}), later)
    reader = fa.read_batches(tmp_path, format="parquet", batch_size=1)
    sizes, error = drain(reader)
    assert sum(sizes) == 4  # every good row before the null (2 + 2), never the null
    assert isinstance(error, SchemaMismatchError)
    assert str(later) in str(error) and "row 2" in str(error)


def test_good_record_batches_before_a_damaged_one_come_out_first(impl: str, tmp_path: Path) -> None:
    path = tmp_path / "damaged.arrows"
    batch = pa.record_batch({"a": list(range(100))})
    with pa.ipc.new_stream(path, batch.schema) as writer:
        writer.write_batch(batch)
        writer.write_batch(batch)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 40])  # the second batch's body cut short
    sizes, error = drain(fa.read_batches(path, format="arrow", batch_size=64))
    assert sizes == [64, 36]
    assert isinstance(error, DataFormatError) and str(path) in str(error)
