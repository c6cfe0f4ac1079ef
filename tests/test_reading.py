"""Readers: round trips over every format x compression, semantics, detection and bad files,
each run against both implementations (the ``impl`` fixture)."""

from __future__ import annotations

import gzip
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.feather as feather
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from reading_helpers import (  # noqa: E402
    arrow_bytes,
    compress,
    csv_bytes,
    json_bytes,
    jsonl_bytes,
    parquet_bytes,
    write_bytes,
)

import fast_axolotl as fa  # noqa: E402
from fast_axolotl import _backend, reading  # noqa: E402
from fast_axolotl.errors import (  # noqa: E402
    DataFormatError,
    DatasetNotFoundError,
    DatasetReadError,
    InvalidArgumentError,
    SchemaMismatchError,
    UnsupportedFormatError,
)

COMPRESSIONS = [None, "gzip", "zstd"]


# ---------------------------------------------------------------------------
# Test data

N = 53
MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))


def rich_table(n: int = N) -> pa.Table:
    """Nulls, unicode, nested lists, chat structs, small ints, large types."""
    text = [None if i % 7 == 3 else f"héllo ✓ {i} 🚀" for i in range(n)]
    ids = [[i, i + 1, -i][: i % 4] if i % 5 else None for i in range(n)]
    msgs = [
        [{"role": "user", "content": f"q{i} ünï"}, {"role": "assistant", "content": None if i % 3 == 0 else "a"}]
        if i % 6
        else None
        for i in range(n)
    ]
    return pa.table(
        {
            "id": pa.array(range(n), pa.int64()),
            "text": pa.array(text, pa.string()),
            "mask": pa.array([[1, 0, 1][: i % 3] for i in range(n)], pa.list_(pa.int8())),
            "i16": pa.array([None if i % 4 == 0 else i * 100 - 2000 for i in range(n)], pa.int16()),
            "score": pa.array([None if i % 9 == 0 else i / 7 for i in range(n)], pa.float64()),
            "flag": pa.array([None if i % 8 == 1 else i % 2 == 0 for i in range(n)], pa.bool_()),
            "input_ids": pa.array(ids, pa.large_list(pa.int64())),
            "big": pa.array(text, pa.large_string()),
            "messages": pa.array(msgs, MESSAGES),
        }
    )


def json_rows(n: int = N) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        row: dict[str, Any] = {"id": i, "text": None if i % 7 == 3 else f"héllo ✓ {i} 🚀"}
        if i % 5:
            row["input_ids"] = [i, i + 1, -i][: i % 4]
        row["score"] = i if i % 2 else i / 7  # ints and floats mix -> float64
        row["flag"] = None if i % 8 == 1 else i % 2 == 0
        if i % 6:
            row["messages"] = [
                {"role": "user", "content": f"q{i} ünï"},
                {"role": "assistant", "content": None if i % 3 == 0 else "a"},
            ]
        rows.append(row)
    return rows


def json_expected(n: int = N) -> pa.Table:
    rows = json_rows(n)
    schema = pa.schema(
        [
            # keys in first-seen order: row 0 has no input_ids / messages
            ("id", pa.int64()),
            ("text", pa.string()),
            ("score", pa.float64()),
            ("flag", pa.bool_()),
            ("input_ids", pa.list_(pa.int64())),
            ("messages", MESSAGES),
        ]
    )
    return pa.Table.from_pylist(
        [{k: (float(v) if k == "score" else v) for k, v in r.items()} for r in rows], schema=schema
    )


def csv_table(n: int = N) -> tuple[list[str], list[list[Any]], pa.Table]:
    header = ["id", "text", "score", "flag", "note"]
    rows = []
    for i in range(n):
        text = None if i % 7 == 3 else f'héllo, "q" {i}\nline2' if i % 5 == 0 else f"t\t{i}"
        rows.append([i, text, i / 4, ["true", "false", None][i % 3], None])
    expected = pa.table(
        {
            "id": pa.array([r[0] for r in rows], pa.int64()),
            "text": pa.array([r[1] for r in rows], pa.string()),
            "score": pa.array([r[2] for r in rows], pa.float64()),
            "flag": pa.array([{"true": True, "false": False, None: None}[r[3]] for r in rows], pa.bool_()),
            "note": pa.array([None] * n, pa.string()),
        }
    )
    return header, rows, expected


def write_format(tmp: Path, fmt: str, compression: str | None) -> tuple[Path, pa.Table]:
    table = rich_table()
    if fmt == "parquet":
        return write_bytes(tmp / "d.parquet", parquet_bytes(table, row_group_size=10), compression), table
    if fmt == "arrow":
        return write_bytes(tmp / "d.arrow", arrow_bytes(table, "file", 8, "zstd"), compression), table
    if fmt == "arrow_stream":
        return write_bytes(tmp / "d.arrow", arrow_bytes(table, "stream", 11, "lz4"), compression), table
    if fmt == "feather":
        sink = pa.BufferOutputStream()
        feather.write_feather(table, sink, chunksize=9)  # Feather v2, LZ4 by default
        return write_bytes(tmp / "d.feather", sink.getvalue().to_pybytes(), compression), table
    if fmt == "jsonl":
        return write_bytes(tmp / "d.jsonl", jsonl_bytes(json_rows()), compression), json_expected()
    if fmt == "json":
        return write_bytes(tmp / "d.json", json_bytes(json_rows()), compression), json_expected()
    if fmt in ("csv", "tsv"):
        header, rows, expected = csv_table()
        data = csv_bytes(header, rows, "," if fmt == "csv" else "\t")
        return write_bytes(tmp / f"d.{fmt}", data, compression), expected
    assert fmt == "text"
    lines = [f"line {i} ✓" if i % 9 else "" for i in range(N)]
    data = "\n".join(lines).encode()
    return write_bytes(tmp / "d.txt", data, compression), pa.table({"text": pa.array(lines, pa.string())})


FORMATS = ["parquet", "arrow", "arrow_stream", "feather", "jsonl", "json", "csv", "tsv", "text"]


@pytest.mark.parametrize("compression", COMPRESSIONS)
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("batch_size", [1, 7, 1000])
def test_round_trip(impl: str, tmp_path: Path, fmt: str, compression: str | None, batch_size: int) -> None:
    path, expected = write_format(tmp_path, fmt, compression)
    reader = fa.read_batches(path, batch_size=batch_size)
    batches = list(reader)
    sizes = [b.num_rows for b in batches]
    assert all(s == batch_size for s in sizes[:-1]) and 0 < sizes[-1] <= batch_size
    assert sum(sizes) == expected.num_rows
    got = pa.Table.from_batches(batches)
    assert got.schema.equals(expected.schema), (got.schema, expected.schema)
    assert got.equals(expected)
    assert fa.read_table(path).equals(expected)
    base = {"arrow_stream": "arrow"}.get(fmt, fmt)
    assert fa.detect_format(path) == (base, compression)


def test_hf_save_to_disk(impl: str, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    table = rich_table(40)
    ds = datasets.Dataset(table)
    ds.save_to_disk(str(tmp_path / "hf"), num_shards=3)
    assert fa.detect_format(tmp_path / "hf") == ("hf_dataset", None)
    batches = list(fa.read_batches(tmp_path / "hf", batch_size=6))
    assert [b.num_rows for b in batches] == [6] * 6 + [4]
    assert pa.Table.from_batches(batches).equals(table)
    assert fa.read_table(tmp_path / "hf", format="hf_dataset").equals(table)


def test_ipc_batch_size_is_rows_not_batches(impl: str, tmp_path: Path) -> None:
    """0.2.0 dropped rows: five 2-row record batches read with batch_size=3 gave 6 rows."""
    table = pa.table({"x": list(range(10))})
    path = tmp_path / "x.arrow"
    path.write_bytes(arrow_bytes(table, "file", 2))
    assert [b.num_rows for b in fa.read_batches(path, batch_size=3)] == [3, 3, 3, 1]


def test_shards_directory_glob_and_list(impl: str, tmp_path: Path) -> None:
    shard_dir = tmp_path / "shards"
    shard_dir.mkdir()
    rows = [{"a": i} for i in range(10)]
    (shard_dir / "part-1.jsonl").write_bytes(jsonl_bytes(rows[5:]))
    (shard_dir / "part-0.jsonl").write_bytes(jsonl_bytes(rows[:5]))
    (shard_dir / "_SUCCESS").write_bytes(b"")
    want = list(range(10))
    assert fa.detect_format(shard_dir) == ("jsonl", None)
    assert fa.read_table(shard_dir).column("a").to_pylist() == want
    assert fa.read_table(str(shard_dir / "part-*.jsonl")).column("a").to_pylist() == want
    given = [shard_dir / "part-1.jsonl", shard_dir / "part-0.jsonl"]
    assert fa.read_table(given).column("a").to_pylist() == want[5:] + want[:5]
    sizes = [b.num_rows for b in fa.read_batches(shard_dir, batch_size=4)]
    assert sizes == [4, 4, 2]  # batches span shards


def test_parquet_shards_must_match(impl: str, tmp_path: Path) -> None:
    (tmp_path / "a.parquet").write_bytes(parquet_bytes(pa.table({"x": [1]})))
    (tmp_path / "b.parquet").write_bytes(parquet_bytes(pa.table({"x": ["s"]})))
    with pytest.raises(SchemaMismatchError):
        fa.read_table(tmp_path)


@pytest.mark.parametrize("fmt", ["parquet", "arrow", "arrow_stream", "jsonl", "csv"])
def test_columns_projection(impl: str, tmp_path: Path, fmt: str) -> None:
    path, expected = write_format(tmp_path, fmt, None)
    cols = list(reversed(expected.column_names[:3]))
    got = fa.read_table(path, columns=cols)
    assert got.column_names == cols
    assert got.equals(expected.select(cols))
    with pytest.raises(InvalidArgumentError):
        list(fa.read_batches(path, columns=["nope"]))


def test_argument_validation(impl: str, tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"a": 1}\n')
    with pytest.raises(InvalidArgumentError):
        fa.read_batches(path, batch_size=0)
    with pytest.raises(fa.errors.ArgumentTypeError):
        fa.read_batches(path, batch_size="3")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        fa.read_batches(path, columns=["a", "a"])
    with pytest.raises(InvalidArgumentError):
        fa.read_batches(path, on_error="ignore")
    with pytest.raises(UnsupportedFormatError):
        fa.read_batches(path, format="xml")
    assert fa.read_table(path, format="jsonl").num_rows == 1
    assert fa.read_table(path, format="JSONL").num_rows == 1


def test_streaming_dataset_reader_dicts(impl: str, tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b"zeta,alpha\n1,x\n2,y\n3,z\n")
    out = list(fa.streaming_dataset_reader(str(path), "auto", batch_size=2))
    assert out == [{"zeta": [1, 2], "alpha": ["x", "y"]}, {"zeta": [3], "alpha": ["z"]}]
    assert list(out[0]) == ["zeta", "alpha"]
    assert list(fa.streaming_dataset_reader(str(path), "csv", 10, 4, columns=["alpha"])) == [{"alpha": ["x", "y", "z"]}]


def test_zero_rows(impl: str, tmp_path: Path) -> None:
    path = tmp_path / "e.parquet"
    path.write_bytes(parquet_bytes(pa.table({"a": pa.array([], pa.int8())})))
    assert list(fa.read_batches(path)) == []
    table = fa.read_table(path)
    assert table.num_rows == 0 and table.schema == pa.schema([("a", pa.int8())])
    for name, data, schema in [
        ("e.jsonl", b"", pa.schema([])),
        ("h.csv", b"a,b\n", pa.schema([("a", pa.string()), ("b", pa.string())])),
        ("e.txt", b"", pa.schema([("text", pa.string())])),
    ]:
        (tmp_path / name).write_bytes(data)
        assert list(fa.read_batches(tmp_path / name)) == []
        assert fa.read_table(tmp_path / name).schema == schema


# ---------------------------------------------------------------------------
# JSON / CSV / text semantics


def jsonl(tmp_path: Path, *lines: str, name: str = "x.jsonl") -> Path:
    path = tmp_path / name
    path.write_bytes(("\n".join(lines) + "\n").encode())
    return path


def test_json_inference(impl: str, tmp_path: Path) -> None:
    path = jsonl(
        tmp_path,
        '{"a": 1, "b": null, "m": [{"role": "user", "content": "hi"}]}',
        "",
        '  {"a": 2.5, "c": {"x": [1, 2]}, "m": []}  ',
        '{"c": {"y": true}, "a": -0}',
    )
    table = fa.read_table(path)
    assert table.schema == pa.schema(
        [
            ("a", pa.float64()),
            ("b", pa.null()),
            ("m", MESSAGES),
            ("c", pa.struct([("x", pa.list_(pa.int64())), ("y", pa.bool_())])),
        ]
    )
    assert table.to_pylist() == [
        {"a": 1.0, "b": None, "m": [{"role": "user", "content": "hi"}], "c": None},
        {"a": 2.5, "b": None, "m": [], "c": {"x": [1, 2], "y": None}},
        {"a": 0.0, "b": None, "m": None, "c": {"x": None, "y": True}},
    ]


@pytest.mark.parametrize(
    "line, error",
    [
        ('{"a": NaN}', DataFormatError),
        ('{"a": Infinity}', DataFormatError),
        ('{"a": 9223372036854775808}', DataFormatError),
        ('{"a": 1e400}', DataFormatError),
        ('{"a": "\\ud800"}', DataFormatError),
        ("[1, 2]", DataFormatError),
        ('{"a": "x"}', SchemaMismatchError),
        ('{"a": 1, "b": [1]}', SchemaMismatchError),
        ('{"a": 1, "b": {"d": "s"}}', SchemaMismatchError),
    ],
)
def test_json_bad_values(impl: str, tmp_path: Path, line: str, error: type) -> None:
    path = jsonl(tmp_path, '{"a": 1, "b": {"d": 1}}', line)
    with pytest.raises(error) as info:
        fa.read_table(path)
    assert type(info.value) is error
    assert info.value.position == "line 2" and info.value.path == str(path)


def test_json_valid_surrogate_pair_and_big_values(impl: str, tmp_path: Path) -> None:
    path = jsonl(tmp_path, '{"a": "\\ud83d\\ude80", "i": -9223372036854775808, "f": 1.7976931348623157e308}')
    assert fa.read_table(path).to_pylist() == [{"a": "🚀", "i": -(2**63), "f": 1.7976931348623157e308}]


def test_json_after_inference_prefix(impl: str, tmp_path: Path) -> None:
    from fast_axolotl._fallback.reading import INFER_ROWS

    lines = ['{"a": 1}'] * INFER_ROWS
    ok = jsonl(tmp_path, *lines, '{"a": 2.5}', name="ok.jsonl")  # int column, float later: mismatch
    with pytest.raises(SchemaMismatchError) as info:
        fa.read_table(ok)
    assert info.value.position == f"line {INFER_ROWS + 1}"
    new_key = jsonl(tmp_path, *lines, '{"a": 1, "z": 1}', name="k.jsonl")
    with pytest.raises(SchemaMismatchError):
        fa.read_table(new_key)
    floats = jsonl(tmp_path, *(['{"a": 1.5}'] * INFER_ROWS), '{"a": 3}', name="f.jsonl")
    assert fa.read_table(floats).column("a").to_pylist()[-1] == 3.0  # ints widen into floats


def test_jsonl_unterminated_string_line_number(impl: str, tmp_path: Path) -> None:
    path = jsonl(tmp_path, '{"a": 1}', '{"a": 2}', "", '{"a": "oops}', '{"a": 5}')
    with pytest.raises(DataFormatError) as info:
        list(fa.read_batches(path))
    assert type(info.value) is DataFormatError
    assert info.value.position == "line 4" and info.value.path == str(path)
    assert "line 4" in str(info.value)


def test_on_error_skip(impl: str, tmp_path: Path) -> None:
    path = jsonl(tmp_path, '{"a": 1}', "{bad", '{"a": "s"}', "[1]", '{"a": 2}')
    reader = fa.read_batches(path, on_error="skip")
    with pytest.warns(RuntimeWarning, match="skipped 3"):
        rows = [r for b in reader for r in b.to_pylist()]
    assert rows == [{"a": 1}, {"a": 2}]
    assert reader.skipped == 3
    csv_path = tmp_path / "s.csv"
    csv_path.write_bytes(b"a,b\n1,2\n3\n4,5,6\n5,6\n")  # ragged rows
    reader = fa.read_batches(csv_path, on_error="skip")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert pa.Table.from_batches(list(reader)).to_pylist() == [{"a": 1, "b": 2}, {"a": 5, "b": 6}]
    assert reader.skipped == 2


def test_json_array(impl: str, tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_bytes(b' [ {"a": 1} ,\n {"a": [2]} ] ')
    with pytest.raises(SchemaMismatchError):
        fa.read_table(path)
    path.write_bytes(b'[{"a": 1}, {"b": "x"}]')
    assert fa.read_table(path).to_pylist() == [{"a": 1, "b": None}, {"a": None, "b": "x"}]
    for bad in [b'{"a": 1}', b"[1, 2", b'[{"a": 1}] x', b"", b"[{}],"]:
        path.write_bytes(bad)
        with pytest.raises(DataFormatError):
            fa.read_table(path, format="json")
    path.write_bytes(b"[]")
    assert fa.read_table(path).num_rows == 0


def test_csv_inference_and_grammar(impl: str, tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b'i,f,b,s,z,e\r\n1,1,true,007,"-0",\r\n-2,2.5e3,False,x,0,\r\n\r\n,,,"a ""q"", b",-1,\n')
    table = fa.read_table(path)
    assert table.schema == pa.schema(
        [
            ("i", pa.int64()),
            ("f", pa.float64()),
            ("b", pa.bool_()),
            ("s", pa.string()),
            ("z", pa.int64()),
            ("e", pa.string()),
        ]
    )
    assert table.to_pylist() == [
        {"i": 1, "f": 1.0, "b": True, "s": "007", "z": 0, "e": None},
        {"i": -2, "f": 2500.0, "b": False, "s": "x", "z": 0, "e": None},
        {"i": None, "f": None, "b": None, "s": 'a "q", b', "z": -1, "e": None},
    ]
    tsv = tmp_path / "a.tsv"
    tsv.write_bytes(b"id\tval\n1\ta,b\n")
    assert fa.read_table(tsv).to_pylist() == [{"id": 1, "val": "a,b"}]


@pytest.mark.parametrize(
    "data, error, position",
    [
        (b"a,b\n1,2\n3\n", DataFormatError, "line 3"),
        (b'a,b\n1,"2\n3,4\n', DataFormatError, "line 2"),
        (b'a,b\n1,"2"x\n', DataFormatError, "line 2"),
        (b"a,a\n1,2\n", DataFormatError, "line 1"),
        (b"a\n1\n" + b"2\n" * 1000 + b"x\n", SchemaMismatchError, "line 1003"),
        # Invalid UTF-8 past the inference rows, also a character split by a delimiter (each
        # field invalid, their concatenation valid) and by a quoted field's end.
        (b"a,b\n" + "1,é\n".encode() * 1100 + b"1,\xff\n", DataFormatError, "line 1102"),
        (b"a,b\n" + "1,é\n".encode() * 1100 + b"\xc3,\xa9\n", DataFormatError, "line 1102"),
        (b"a,b\n" + "1,é\n".encode() * 1100 + b'"\xc3","\xa9"\n', DataFormatError, "line 1102"),
    ],
)
def test_csv_errors(impl: str, tmp_path: Path, data: bytes, error: type, position: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(data)
    with pytest.raises(error) as info:
        fa.read_table(path)
    assert type(info.value) is error and info.value.position == position


def test_csv_invalid_utf8_skipped(impl: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(b"a,b\n" + "1,é\n".encode() * 1100 + b"\xc3,\xa9\n2,\xe2\x82\xac\n")
    reader = fa.read_batches(path, on_error="skip")
    with pytest.warns(RuntimeWarning, match="skipped 1"):
        rows = pa.Table.from_batches(list(reader)).to_pylist()
    assert rows == [{"a": 1, "b": "é"}] * 1100 + [{"a": 2, "b": "€"}]
    assert reader.skipped == 1


def test_text_semantics(impl: str, tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"\xef\xbb\xbfone\r\n\ntwo\rstill two\nthree")
    assert fa.read_table(path).column("text").to_pylist() == ["one", "", "two\rstill two", "three"]
    path.write_bytes(b"ok\n\xff\xfe\n")
    with pytest.raises(DataFormatError):
        fa.read_table(path)


# ---------------------------------------------------------------------------
# Detection


def test_detect_format(impl: str, tmp_path: Path) -> None:
    cases = {
        "a.parquet": (parquet_bytes(pa.table({"a": [1]})), ("parquet", None)),
        "a.ipc": (arrow_bytes(pa.table({"a": [1]}), "file"), ("arrow", None)),
        "a.ndjson": (b'{"a": 1}\n', ("jsonl", None)),
        "lines.json": (b'\n {"a": 1}\n{"a": 2}\n', ("jsonl", None)),  # JSON Lines in a .json file
        "a.json": (b'[{"a": 1}]', ("json", None)),
        "a.tsv.gzip": (gzip.compress(b"a\n1\n"), ("tsv", "gzip")),
        "a.txt.zstd": (compress(b"x\n", "zstd"), ("text", "zstd")),
        "noext_parquet": (parquet_bytes(pa.table({"a": [1]})), ("parquet", None)),
        "noext_stream": (arrow_bytes(pa.table({"a": [1]}), "stream"), ("arrow", None)),
        "noext_file.bin": (arrow_bytes(pa.table({"a": [1]}), "file"), ("arrow", None)),
        "gz_no_suffix.jsonl": (gzip.compress(b'{"a": 1}\n'), ("jsonl", "gzip")),
        "zst_parquet": (compress(parquet_bytes(pa.table({"a": [1]})), "zstd"), ("parquet", "zstd")),
    }
    for name, (data, want) in cases.items():
        (tmp_path / name).write_bytes(data)
        assert fa.detect_format(tmp_path / name) == want, name
        assert fa.read_table(tmp_path / name).num_rows > 0, name
    for name, data in [("Makefile", b"all:\n"), ("a.parquet.bz2", b"BZh9"), ("old.bin", b"FEA1xxxxFEA1")]:
        (tmp_path / name).write_bytes(data)
        with pytest.raises(UnsupportedFormatError):
            fa.detect_format(tmp_path / name)
    # A missing path is judged by its name (0.2.0's rule); an unknown name is an error.
    assert fa.detect_format(tmp_path / "missing.jsonl") == ("jsonl", None)
    with pytest.raises(DatasetNotFoundError):
        fa.detect_format(tmp_path / "missing")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "a.jsonl").write_bytes(b"{}\n")
    (mixed / "b.csv").write_bytes(b"a\n")
    with pytest.raises(UnsupportedFormatError):
        fa.detect_format(mixed)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetNotFoundError):
        fa.detect_format(empty)
    dd = tmp_path / "dd"
    dd.mkdir()
    (dd / "dataset_dict.json").write_text(json.dumps({"splits": ["train"]}))
    with pytest.raises(UnsupportedFormatError):
        fa.detect_format(dd)


def test_list_supported_formats() -> None:
    assert fa.list_supported_formats() == [
        "parquet",
        "arrow",
        "feather",
        "hf_dataset",
        "jsonl",
        "json",
        "csv",
        "tsv",
        "text",
        # the compressed combinations fast-axolotl 0.2.0 listed (tests/test_compat020.py reads each)
        *(
            f"{base}.{suffix}"
            for base in ("parquet", "arrow", "json", "jsonl", "csv", "text")
            for suffix in ("zst", "gz")
        ),
    ]
    assert reading.list_supported_compressions() == ["gzip", "zstd"]


# ---------------------------------------------------------------------------
# Bad files


def test_missing_file(impl: str, tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError):
        fa.read_batches(tmp_path / "nope.parquet")
    with pytest.raises(DatasetNotFoundError):
        fa.read_batches(str(tmp_path / "*.parquet"))
    # The kernel itself, given a vanished file.
    kernel = _backend.kernels().open_reader([str(tmp_path / "gone.jsonl")], "jsonl", None, 10, None, "raise")
    with pytest.raises(DatasetNotFoundError):
        next(iter(kernel))


def test_directory_given_as_file(impl: str, tmp_path: Path) -> None:
    for fmt in ["jsonl", "parquet", "arrow", "csv", "text"]:
        kernel = _backend.kernels().open_reader([str(tmp_path)], fmt, None, 10, None, "raise")
        with pytest.raises(DatasetReadError):
            next(iter(kernel))


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_permission_denied(impl: str, tmp_path: Path) -> None:
    path = tmp_path / "secret.jsonl"
    path.write_bytes(b'{"a": 1}\n')
    path.chmod(0)
    with pytest.raises(DatasetReadError):
        fa.read_table(path, format="jsonl")


@pytest.mark.parametrize(
    "name, fmt",
    [("e.parquet", "parquet"), ("e.arrow", "arrow"), ("e.feather", "feather"), ("e.json", "json")],
)
def test_empty_binary_or_json_file(impl: str, tmp_path: Path, name: str, fmt: str) -> None:
    (tmp_path / name).write_bytes(b"")
    with pytest.raises(DataFormatError):
        fa.read_table(tmp_path / name, format=fmt)


def test_truncated_parquet_footer(impl: str, tmp_path: Path) -> None:
    data = parquet_bytes(rich_table(), row_group_size=10)
    for cut in (1, 4, 8, len(data) // 2):
        path = tmp_path / f"t{cut}.parquet"
        path.write_bytes(data[:-cut])
        with pytest.raises(DataFormatError) as info:
            list(fa.read_batches(path))
        assert info.value.path == str(path)


def test_ipc_stream_cut_mid_batch(impl: str, tmp_path: Path) -> None:
    table = rich_table()
    data = arrow_bytes(table, "stream", 20)
    path = tmp_path / "cut.arrow"
    path.write_bytes(data[: len(data) - 300])
    reader = fa.read_batches(path, batch_size=5)
    with pytest.raises(DataFormatError):
        list(reader)
    file_data = arrow_bytes(table, "file", 20)
    path.write_bytes(file_data[: len(file_data) - 100])
    with pytest.raises(DataFormatError):
        list(fa.read_batches(path))


def test_gzip_bad_crc(impl: str, tmp_path: Path) -> None:
    data = bytearray(gzip.compress(jsonl_bytes(json_rows())))
    data[-8] ^= 0xFF  # CRC32 of the member
    path = tmp_path / "crc.jsonl.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(DataFormatError) as info:
        list(fa.read_batches(path, batch_size=5))
    assert type(info.value) is DataFormatError
    path.write_bytes(bytes(data[: len(data) // 2]))  # truncated member
    with pytest.raises(DataFormatError):
        list(fa.read_batches(path))


def test_zstd_bad_frame(impl: str, tmp_path: Path) -> None:
    good = compress(jsonl_bytes(json_rows()), "zstd")
    bad = bytearray(good)
    bad[4] |= 0x08  # reserved bit of the frame header descriptor
    path = tmp_path / "bad.jsonl.zst"
    path.write_bytes(bytes(bad))
    with pytest.raises(DataFormatError):
        list(fa.read_batches(path))
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataFormatError):
        list(fa.read_batches(path))
    path.write_bytes(good + b"garbage!")
    with pytest.raises(DataFormatError):
        list(fa.read_batches(path))


def test_compressed_parquet_corrupt(impl: str, tmp_path: Path) -> None:
    data = compress(parquet_bytes(rich_table()), "gzip")
    path = tmp_path / "p.parquet.gz"
    path.write_bytes(data[: len(data) - 20])
    with pytest.raises(DataFormatError):
        list(fa.read_batches(path))


def test_reader_finished_after_error(impl: str, tmp_path: Path) -> None:
    path = jsonl(tmp_path, '{"a": 1}', "{")
    reader = fa.read_batches(path, batch_size=1)
    with pytest.raises(DataFormatError):
        list(reader)
    assert list(reader) == []


def test_gzip_with_reserved_header_flags_is_corrupt_in_both_backends(impl: str, tmp_path) -> None:
    # Found by the damaged-file parity test: Python's gzip ignores reserved FLG bits, flate2 (rightly,
    # RFC 1952) refuses them; both backends must raise the same class.
    import gzip

    from fast_axolotl.errors import DataFormatError

    data = bytearray(gzip.compress(b"c,d\n1.5,true\n2,false\n"))
    data[3] ^= 0x20
    path = tmp_path / "flags.csv.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(DataFormatError):
        fa.read_table(path)
