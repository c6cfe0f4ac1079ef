"""Issue 18: ``columns=`` decodes only the columns asked for, in both implementations (a
column not asked for is neither delivered nor refused where its file is not decoded, and
still checked where every record is parsed whole), and INT96 timestamps below the top
level read as pyarrow types them, refused with their row outside the nanosecond range."""

from __future__ import annotations

import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc
import pyarrow.parquet as pq
import pytest
from reading_helpers import drain

import fast_axolotl as fa
from fast_axolotl.errors import ArgumentTypeError, DataFormatError, InvalidArgumentError, SchemaMismatchError


def write_shards(tmp_path: Path, fmt: str) -> list[Path]:
    """Shard 0 declares ``b`` non-nullable; shard 1 holds a null in it."""
    strict = pa.schema([pa.field("a", pa.int64()), pa.field("b", pa.int64(), nullable=False)])
    tables = [pa.table({"a": [1, 2], "b": [3, 4]}, schema=strict), pa.table({"a": [5, 6], "b": [None, 7]})]
    paths = [tmp_path / f"part-{i}.{fmt}" for i in range(2)]
    for path, table in zip(paths, tables, strict=True):
        if fmt == "parquet":
            pq.write_table(table, path)
        else:
            with pa.ipc.new_file(path, table.schema) as writer:
                writer.write_table(table)
    return paths


@pytest.mark.parametrize("fmt", ["parquet", "arrow"])
def test_a_null_in_a_column_not_asked_for_is_not_refused(impl: str, tmp_path: Path, fmt: str) -> None:
    paths = write_shards(tmp_path, fmt)
    assert fa.read_table(paths, columns=["a"]).to_pydict() == {"a": [1, 2, 5, 6]}
    sizes, error = drain(fa.read_batches(paths, batch_size=1))
    assert sum(sizes) == 2 and isinstance(error, SchemaMismatchError) and "row 0" in str(error)


@pytest.mark.parametrize("fmt", ["parquet", "arrow"])
def test_columns_come_back_in_the_order_asked(impl: str, tmp_path: Path, fmt: str) -> None:
    paths = write_shards(tmp_path, fmt)[:1]
    table = fa.read_table(paths, columns=["b", "a"])
    assert table.column_names == ["b", "a"] and table.to_pydict() == {"b": [3, 4], "a": [1, 2]}


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_records_are_checked_whole_with_columns(impl: str, tmp_path: Path, fmt: str) -> None:
    """Every record is parsed: a bad value in a column not asked for is the same error."""
    path = tmp_path / f"bad.{fmt}"
    good = 1100  # past the type inference prefix (1000 records)
    if fmt == "jsonl":
        path.write_text("".join(f'{{"a": {i}, "b": {i}}}\n' for i in range(good)) + '{"a": 5, "b": "x"}\n')
        line = good + 1
    else:
        path.write_text("a,b\n" + "".join(f"{i},{i}\n" for i in range(good)) + "5,x\n")
        line = good + 2
    errors = []
    for columns in (None, ["a"]):
        sizes, error = drain(fa.read_batches(path, columns=columns, batch_size=64))
        assert sum(sizes) == good
        errors.append(error)
    assert all(isinstance(e, DataFormatError) and f"line {line}" in str(e) for e in errors), errors
    with pytest.warns(RuntimeWarning, match="skipped 1"):
        table = fa.read_table(path, columns=["b", "a"], on_error="skip")
    assert table.column_names == ["b", "a"] and table.column("a").to_pylist() == list(range(good))


#: The Rust tests' fixtures (rust/core/src/read/testdata/make_parquet_types.py wrote them):
#: INT96 in a list, a struct and a map; in the ``_far`` one, row 2's list holds the year 1500
#: and row 3's struct the year 1400.
TESTDATA = Path(__file__).resolve().parents[1] / "rust" / "core" / "src" / "read" / "testdata"


def nested_int96(path: Path, far: bool) -> None:
    name = "int96_nested_far.parquet" if far else "int96_nested.parquet"
    path.write_bytes((TESTDATA / name).read_bytes())


def test_int96_in_lists_structs_and_maps_reads_as_pyarrow(impl: str, tmp_path: Path) -> None:
    path = tmp_path / "nested.parquet"
    nested_int96(path, far=False)
    for columns in (None, ["m", "l"]):
        ours = fa.read_table(path, columns=columns)
        theirs = pq.read_table(path, columns=columns)
        assert ours.schema.remove_metadata().equals(theirs.schema.remove_metadata())
        assert ours.to_pylist() == theirs.to_pylist()


def test_int96_outside_nanoseconds_below_the_top_level_names_its_row(impl: str, tmp_path: Path) -> None:
    path = tmp_path / "far.parquet"
    nested_int96(path, far=True)
    for columns, good, row, column in ((None, 2, 2, "l"), (["id", "s"], 3, 3, "s")):
        sizes, error = drain(fa.read_batches(path, columns=columns, batch_size=1))
        assert sum(sizes) == good, columns
        assert isinstance(error, DataFormatError), error
        assert str(path) in str(error) and f"row {row}" in str(error) and repr(column)[1:-1] in str(error)
    # The far values are only in l and s: the other columns read.
    assert fa.read_table(path, columns=["id", "m"]).num_rows == 4


def test_a_range_of_row_groups_reads_those_rows(impl: str, tmp_path: Path) -> None:
    path = tmp_path / "groups.parquet"
    table = pa.table({"id": list(range(1000)), "s": [f"r{i}" for i in range(1000)]})
    pq.write_table(table, path, row_group_size=100)
    assert fa.read_table(path, row_groups=range(3, 6)).equals(table.slice(300, 300))
    assert fa.read_table(path, row_groups=range(3, 6), columns=["s"]).equals(table.slice(300, 300).select(["s"]))
    assert fa.read_table(path, row_groups=range(4, 4)).num_rows == 0
    with pytest.raises(InvalidArgumentError, match="10 row group"):
        fa.read_table(path, row_groups=range(9, 11))
    with pytest.raises(InvalidArgumentError, match="one Parquet file"):
        fa.read_table([path, path], row_groups=range(0, 1))
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text('{"a": 1}\n')
    with pytest.raises(InvalidArgumentError, match="one Parquet file"):
        fa.read_table(jsonl, row_groups=range(0, 1))
    with pytest.raises(ArgumentTypeError):
        fa.read_table(path, row_groups=[0, 1])  # type: ignore[arg-type]


def test_an_error_in_a_later_row_group_names_the_row_of_the_file(impl: str, tmp_path: Path) -> None:
    path = tmp_path / "far.parquet"
    days = [datetime.datetime(2000, 1, 1)] * 5 + [datetime.datetime(1500, 1, 1)]
    pq.write_table(
        pa.table({"ts": pa.array(days, pa.timestamp("us"))}),
        path,
        use_deprecated_int96_timestamps=True,
        row_group_size=2,
    )
    sizes, error = drain(fa.read_batches(path, row_groups=range(2, 3), batch_size=1))
    assert sum(sizes) == 1 and isinstance(error, DataFormatError) and "row 5" in str(error)
