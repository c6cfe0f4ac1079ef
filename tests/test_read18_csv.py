"""Issue 18, CSV / TSV and text: good rows first, on_error="skip" counted once, projection
while decoding, errors naming file and line; each run against both implementations."""

from __future__ import annotations

import warnings
from pathlib import Path

import pyarrow as pa
import pytest
from reading_helpers import drain

import fast_axolotl as fa
from fast_axolotl.errors import DataFormatError, SchemaMismatchError


def delimited(tmp_path: Path, fmt: str, lines: list[str], name: str = "data") -> Path:
    """A CSV (or TSV: commas become tabs) file of these lines."""
    sep = "," if fmt == "csv" else "\t"
    path = tmp_path / f"{name}.{fmt}"
    path.write_text("".join(line.replace(",", sep) + "\n" for line in lines))
    return path


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_good_rows_before_an_error_inside_the_inference_prefix(impl: str, tmp_path: Path, fmt: str) -> None:
    # Line 6 is ragged: the schema comes from lines 2-5, those four rows come out first.
    path = delimited(tmp_path, fmt, ["a,b", "1,x", "2,y", "3,z", "4,w", "5", "6,v"])
    reader = fa.read_batches(path, format=fmt, batch_size=3)
    sizes, error = drain(reader)
    assert sizes == [3, 1]
    assert isinstance(error, DataFormatError)
    assert str(path) in str(error) and "line 6" in str(error)
    assert reader.schema.field("a").type == pa.int64()


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_good_rows_before_an_error_after_the_prefix(impl: str, tmp_path: Path, fmt: str) -> None:
    lines = ["a,b"] + [f"{i},s{i}" for i in range(1500)] + ["1,2,3", "7,t"]
    path = delimited(tmp_path, fmt, lines)
    sizes, error = drain(fa.read_batches(path, format=fmt, batch_size=1000))
    assert sizes == [1000, 500]
    assert isinstance(error, DataFormatError) and "line 1502" in str(error)


def test_good_rows_before_a_grammar_error(impl: str, tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_bytes(b'a\n1\n2\n"3\n')  # an unterminated quote on line 4
    sizes, error = drain(fa.read_batches(path, batch_size=10))
    assert sizes == [2]
    assert isinstance(error, DataFormatError) and str(path) in str(error)


def test_good_rows_before_a_type_clash_after_the_prefix(impl: str, tmp_path: Path) -> None:
    lines = ["a,b"] + [f"{i},s" for i in range(1200)] + ["x,s"]
    path = delimited(tmp_path, "csv", lines)
    sizes, error = drain(fa.read_batches(path, batch_size=500))
    assert sizes == [500, 500, 200]
    assert isinstance(error, SchemaMismatchError) and "line 1202" in str(error)


def test_error_before_any_good_row(impl: str, tmp_path: Path) -> None:
    path = delimited(tmp_path, "csv", ["a,b", "1", "2,3"])
    sizes, error = drain(fa.read_batches(path))
    assert sizes == []
    assert isinstance(error, DataFormatError) and "line 2" in str(error)


def test_second_file_after_the_first_files_rows(impl: str, tmp_path: Path) -> None:
    first = delimited(tmp_path, "csv", ["a,b", "1,2", "3,4"], "first")
    second = delimited(tmp_path, "csv", ["a,c", "5,6"], "second")
    sizes, error = drain(fa.read_batches([first, second], batch_size=10))
    assert sizes == [2]
    assert isinstance(error, SchemaMismatchError) and str(second) in str(error)


@pytest.mark.parametrize("batch_size", [1, 7, 1000, 5000])
def test_skip_counts_each_dropped_row_once(impl: str, tmp_path: Path, batch_size: int) -> None:
    # Two ragged rows inside the inference prefix, two after it.
    lines = ["a,b", "1,x", "2"]
    for i in range(1200):
        lines.append(f"{i},s")
        if i % 400 == 0:
            lines.append("1,2,3")
    path = delimited(tmp_path, "csv", lines)
    reader = fa.read_batches(path, batch_size=batch_size, on_error="skip")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = sum(b.num_rows for b in reader)
    assert (rows, reader.skipped) == (1201, 4)


def test_projection_same_rows_and_errors(impl: str, tmp_path: Path) -> None:
    lines = ["a,b,c"] + [f"{i},s{i},{str(i % 2 == 0).lower()}" for i in range(3000)]
    good = delimited(tmp_path, "csv", lines, "good")
    full = fa.read_table(good)
    for columns in (["b"], ["c", "a"]):
        assert fa.read_table(good, columns=columns) == full.select(columns)
    # A value that does not fit an unselected column: the same error with or without columns=.
    bad = delimited(tmp_path, "csv", [*lines, "x,s,true"], "bad")
    outcomes = []
    for columns in (None, ["b"], ["c"]):
        sizes, error = drain(fa.read_batches(bad, batch_size=1000, columns=columns))
        outcomes.append((sizes, type(error), str(error)))
    assert outcomes[0][0] == [1000, 1000, 1000]
    assert outcomes[0][1] is SchemaMismatchError
    assert all(o == outcomes[0] for o in outcomes), outcomes


def test_text_good_lines_before_invalid_utf8(impl: str, tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_bytes(b"a\nb\nc\n\xff\xfe\nd\n")
    sizes, error = drain(fa.read_batches(path, format="text", batch_size=2))
    assert sizes == [2, 1]
    assert isinstance(error, DataFormatError)
    assert str(path) in str(error) and "line 4" in str(error)


def test_text_skip_counts_each_bad_line_once(impl: str, tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_bytes(b"\xff\na\n\xfe\xfe\nb\n\xff")
    reader = fa.read_batches([path, path], format="text", batch_size=2, on_error="skip")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = [r for b in reader for r in b.column("text").to_pylist()]
    assert rows == ["a", "b", "a", "b"]
    assert reader.skipped == 6
