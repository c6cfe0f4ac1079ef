"""Issue 18, JSON / JSON Lines: good rows first, skip counts, nesting limit 63, duplicate keys,
projection while decoding. Each test runs against both implementations (the ``impl`` fixture)
through the public API; both must give the same outcome."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import fast_axolotl as fa
from fast_axolotl.errors import DataFormatError, SchemaMismatchError

BAD = '{"a": \n'


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def good_lines(n: int, start: int = 0) -> str:
    return "".join(f'{{"a": {i}}}\n' for i in range(start, start + n))


def drain(path: str, batch_size: int = 1000, **kwargs: Any) -> tuple[list[int], list[pa.RecordBatch], Any]:
    """Batch sizes and batches delivered before the first error, and that error (or None)."""
    sizes: list[int] = []
    batches: list[pa.RecordBatch] = []
    reader = fa.read_batches(path, format="jsonl", batch_size=batch_size, **kwargs)
    try:
        for batch in reader:
            sizes.append(batch.num_rows)
            batches.append(batch)
    except DataFormatError as e:
        return sizes, batches, e
    return sizes, batches, None


# ---------------------------------------------------------------------------
# 1. Good rows first


@pytest.mark.parametrize(("good", "batch_size"), [(5, 1000), (1500, 1000), (1500, 7), (999, 1000), (1000, 1000)])
def test_good_rows_before_a_bad_line_are_delivered_first(impl: str, tmp_path: Path, good: int, batch_size: int) -> None:
    path = write(tmp_path, "bad.jsonl", good_lines(good) + BAD + good_lines(3))
    sizes, batches, error = drain(path, batch_size=batch_size)
    assert sum(sizes) == good
    # Exact batch_size batches, the last partial one included.
    assert all(s == batch_size for s in sizes[:-1])
    assert [v for b in batches for v in b.column("a").to_pylist()] == list(range(good))
    assert error is not None
    assert f"line {good + 1}" in str(error)
    assert path in str(error)


def test_open_fails_only_when_the_first_record_is_bad(impl: str, tmp_path: Path) -> None:
    path = write(tmp_path, "bad0.jsonl", BAD + good_lines(3))
    with pytest.raises(DataFormatError, match="line 1"):
        list(fa.read_batches(path, format="jsonl"))


def test_read_table_raises_after_the_good_rows(impl: str, tmp_path: Path) -> None:
    path = write(tmp_path, "bad5.jsonl", good_lines(5) + BAD)
    with pytest.raises(DataFormatError, match="line 6"):
        fa.read_table(path, format="jsonl")


# ---------------------------------------------------------------------------
# 2. on_error="skip": each dropped record counted once, the inference prefix included


def test_skip_counts_each_record_once(impl: str, tmp_path: Path) -> None:
    lines = [BAD if i % 100 == 7 else f'{{"a": {i}}}\n' for i in range(2500)]
    path = write(tmp_path, "skips.jsonl", "".join(lines))
    reader = fa.read_batches(path, format="jsonl", batch_size=300, on_error="skip")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        rows = [v for b in reader for v in b.column("a").to_pylist()]
    assert rows == [i for i in range(2500) if i % 100 != 7]
    assert reader.skipped == 25


# ---------------------------------------------------------------------------
# 3. Nesting limit: 63 levels, the record object counting as 1


def nested(levels: int) -> str:
    return '{"a": ' + "[" * (levels - 1) + "1" + "]" * (levels - 1) + "}"


def test_63_levels_are_read(impl: str, tmp_path: Path) -> None:
    path = write(tmp_path, "deep63.jsonl", nested(63) + "\n")
    table = fa.read_table(path, format="jsonl")
    assert table.num_rows == 1


@pytest.mark.parametrize("levels", [64, 65, 100])
def test_deeper_is_a_data_format_error_naming_file_and_line(impl: str, tmp_path: Path, levels: int) -> None:
    path = write(tmp_path, f"deep{levels}.jsonl", nested(2) + "\n" + nested(levels) + "\n")
    sizes, _, error = drain(path)
    assert sizes == [1]
    assert isinstance(error, DataFormatError)
    assert path in str(error) and "line 2" in str(error)
    reader = fa.read_batches(path, format="jsonl", on_error="skip")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert sum(b.num_rows for b in reader) == 1
    assert reader.skipped == 1


def test_too_deep_first_record_never_reaches_pyarrow(impl: str, tmp_path: Path) -> None:
    path = write(tmp_path, "deep80.jsonl", nested(80) + "\n")
    with pytest.raises(DataFormatError, match="line 1"):
        fa.read_table(path, format="jsonl")


# ---------------------------------------------------------------------------
# 4. Duplicate keys: every value checked, otherwise the last wins


@pytest.mark.parametrize("record", ['{"a":1e400,"a":1}', '{"a":99999999999999999999,"a":1}', '{"a":[1e400],"a":1}'])
def test_every_value_of_a_duplicate_key_is_checked(impl: str, tmp_path: Path, record: str) -> None:
    path = write(tmp_path, "dup.jsonl", '{"a": 1}\n' + record + "\n")
    sizes, _, error = drain(path)
    assert sizes == [1]
    assert isinstance(error, DataFormatError) and "line 2" in str(error)


def test_duplicate_keys_last_value_wins_at_first_position(impl: str, tmp_path: Path) -> None:
    path = write(tmp_path, "dup_ok.jsonl", '{"a": 1, "b": 2, "a": 3}\n')
    table = fa.read_table(path, format="jsonl")
    assert table.column_names == ["a", "b"]
    assert table.to_pylist() == [{"a": 3, "b": 2}]


# ---------------------------------------------------------------------------
# 5. Projection: only selected columns, the same errors with or without columns=


def test_projection_returns_only_selected_columns(impl: str, tmp_path: Path) -> None:
    text = "".join(f'{{"a": {i}, "b": "x{i}", "c": [{i}]}}\n' for i in range(50))
    path = write(tmp_path, "proj.jsonl", text)
    table = fa.read_table(path, format="jsonl", columns=["c", "a"])
    assert table.column_names == ["c", "a"]
    assert table.column("a").to_pylist() == list(range(50))


@pytest.mark.parametrize("bad", ['{"a": 2, "b": 3}', '{"a": 2, "b": ["y"]}', '{"a": 2, "b": 1e400}'])
def test_projection_keeps_the_same_errors(impl: str, tmp_path: Path, bad: str) -> None:
    text = good_lines(3).replace("}", ', "b": "x"}') + bad + "\n"
    path = write(tmp_path, "proj_bad.jsonl", text)
    outcomes = []
    for columns in [None, ["a"]]:
        sizes, _, error = drain(path, columns=columns)
        outcomes.append((sizes, type(error), "line 4" in str(error)))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] == [3] and outcomes[0][2]
    assert issubclass(outcomes[0][1], DataFormatError)


def test_schema_mismatch_in_an_unselected_column_is_still_a_mismatch(impl: str, tmp_path: Path) -> None:
    path = write(tmp_path, "mm.jsonl", '{"a": 1, "b": "x"}\n{"a": 2, "b": 3}\n')
    with pytest.raises(SchemaMismatchError, match="line 2"):
        fa.read_table(path, format="jsonl", columns=["a"])


def test_a_list_where_the_prefix_typed_an_int_is_a_mismatch(impl: str, tmp_path: Path) -> None:
    """Found by `nox -s parity`: the fast number path read eight bytes of `[false]` as a
    number of zero digits (a shift overflow: InternalError) instead of giving up."""
    path = tmp_path / "r.jsonl"
    path.write_text('{"c": 0}\n' * 1000 + '{"c": [false]}\n')
    with pytest.raises(SchemaMismatchError, match="line 1001"):
        fa.read_table(path)
    with pytest.warns(RuntimeWarning, match="skipped 1"):
        assert fa.read_table(path, on_error="skip").num_rows == 1000
