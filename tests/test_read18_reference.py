"""Issue 18's reader behaviours through the public API, each run against both
implementations (the ``impl`` fixture): good rows before an error first, skip counts,
the nesting limit, duplicate keys, gzip/zstd quirks, named pipes, Parquet/IPC types,
shard nullability, and every error a located fast_axolotl error."""

from __future__ import annotations

import datetime
import gzip
import os
import struct
import threading
import warnings
import zlib
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.ipc
import pyarrow.parquet as pq
import pytest

import fast_axolotl as fa
from fast_axolotl import _backend
from fast_axolotl.errors import DataFormatError, FastAxolotlError, SchemaMismatchError, UnsupportedFormatError


def _drain(path: Any, **options: Any) -> tuple[list[dict[str, Any]], BaseException | None]:
    """Every row delivered before the reader stopped, and the error it stopped with."""
    rows: list[dict[str, Any]] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for batch in fa.read_batches(path, **options):
                rows.extend(batch.to_pylist())
    except FastAxolotlError as exc:
        return rows, exc
    return rows, None


def _batch_sizes(path: Any, **options: Any) -> list[int]:
    sizes: list[int] = []
    with pytest.raises(FastAxolotlError):
        for batch in fa.read_batches(path, **options):
            sizes.append(batch.num_rows)
    return sizes


# 1. Good rows first


@pytest.mark.parametrize("good", [1500, 4, 1000, 1001])
def test_jsonl_good_rows_before_an_error(impl: str, tmp_path: Path, good: int) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text("".join(f'{{"a": {i}}}\n' for i in range(good)) + "{bad\n")
    rows, error = _drain(path, batch_size=1000)
    assert rows == [{"a": i} for i in range(good)]
    assert type(error) is DataFormatError
    assert error.path == str(path) and error.position == f"line {good + 1}"
    # Exact batch_size batches, the last partial one included, then the error.
    assert _batch_sizes(path, batch_size=300) == [300] * (good // 300) + ([good % 300] if good % 300 else [])


def test_error_on_the_first_record_fails_at_open(impl: str, tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{bad\n{"a": 1}\n')
    with pytest.raises(DataFormatError, match="line 1"):
        fa.read_batches(path).schema  # noqa: B018 (opening is the point)


def test_inference_uses_only_the_good_records_before_the_error(impl: str, tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"a": 1}\n{"a": 2}\n[1]\n{"a": "s"}\n')
    reader = fa.read_batches(path)
    assert reader.schema == pa.schema([pa.field("a", pa.int64())])
    rows, error = _drain(path)
    assert rows == [{"a": 1}, {"a": 2}]
    assert isinstance(error, DataFormatError) and error.position == "line 3"


def test_json_array_good_rows_before_an_error(impl: str, tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text("[" + ",".join(f'{{"a": {i}}}' for i in range(7)) + ", {bad}]")
    rows, error = _drain(path, batch_size=5)
    assert rows == [{"a": i} for i in range(7)]
    assert isinstance(error, DataFormatError) and error.path == str(path)


@pytest.mark.parametrize("good", [3, 1200])
def test_csv_good_rows_before_an_error(impl: str, tmp_path: Path, good: int) -> None:
    path = tmp_path / "a.csv"
    path.write_text("a,b\n" + "".join(f"{i},{i}\n" for i in range(good)) + "1,2,3\n")
    rows, error = _drain(path, batch_size=1000)
    assert rows == [{"a": i, "b": i} for i in range(good)]
    assert isinstance(error, DataFormatError) and error.position == f"line {good + 2}"


def test_tsv_good_rows_before_an_error(impl: str, tmp_path: Path) -> None:
    path = tmp_path / "a.tsv"
    path.write_text("a\tb\n1\t2\n3\n")
    rows, error = _drain(path)
    assert rows == [{"a": 1, "b": 2}]
    assert isinstance(error, DataFormatError) and error.position == "line 3"


def test_text_good_rows_before_an_error(impl: str, tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"one\ntwo\nthree\n\xff\nfour\n")
    rows, error = _drain(path, batch_size=1000)
    assert rows == [{"text": "one"}, {"text": "two"}, {"text": "three"}]
    assert isinstance(error, DataFormatError) and error.position == "line 4"


def test_shards_good_rows_before_an_error(impl: str, tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"a": 1}\n{"a": 2}\n')
    (tmp_path / "b.jsonl").write_text('{"a": 3}\n{bad\n')
    rows, error = _drain(tmp_path, format="jsonl", batch_size=1000)
    assert rows == [{"a": 1}, {"a": 2}, {"a": 3}]
    assert isinstance(error, DataFormatError) and error.path == str(tmp_path / "b.jsonl")


def test_parquet_row_groups_before_a_bad_shard(impl: str, tmp_path: Path) -> None:
    pq.write_table(pa.table({"a": list(range(10))}), tmp_path / "a.parquet", row_group_size=3)
    (tmp_path / "b.parquet").write_bytes(b"PAR1garbagePAR1")
    rows, error = _drain(tmp_path, format="parquet", batch_size=1000)
    assert rows == [{"a": i} for i in range(10)]
    assert isinstance(error, DataFormatError) and error.path == str(tmp_path / "b.parquet")


# 2. on_error="skip": each dropped record counted once, inference prefix included


def test_skip_counts_inside_the_inference_prefix(impl: str, tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    lines = [f'{{"a": {i}}}' if i % 10 else "{bad" for i in range(2500)]
    path.write_text("\n".join(lines) + "\n")
    reader = fa.read_batches(path, on_error="skip", batch_size=64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = [r for b in reader for r in b.to_pylist()]
    assert reader.skipped == 250
    assert len(rows) == 2250


# 3. Nesting limit: 63 levels, the record object counting 1


def _nested(depth: int) -> str:
    """A record of ``depth`` levels: the object, then depth - 1 nested lists."""
    return '{"a": ' + "[" * (depth - 1) + "1" + "]" * (depth - 1) + "}"


def test_jsonl_nesting_limit(impl: str, tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(_nested(63) + "\n")
    table = fa.read_table(path)
    assert table.num_rows == 1
    path.write_text(_nested(63) + "\n" + _nested(64) + "\n")
    rows, error = _drain(path)
    assert len(rows) == 1
    assert isinstance(error, DataFormatError) and error.path == str(path) and error.position == "line 2"
    reader = fa.read_batches(path, on_error="skip")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert sum(b.num_rows for b in reader) == 1
    assert reader.skipped == 1


@pytest.mark.parametrize("depth", [64, 100])
def test_json_too_deep_is_a_located_error(impl: str, tmp_path: Path, depth: int) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(_nested(depth) + "\n")
    with pytest.raises(DataFormatError) as info:
        fa.read_table(path)
    assert info.value.path == str(path) and info.value.position == "line 1"


# 4. Duplicate keys: every value checked, the last wins


def test_duplicate_keys(impl: str, tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"a": 1, "a": 2}\n')
    assert fa.read_table(path).to_pylist() == [{"a": 2}]
    path.write_text('{"a": 1e400, "a": 1}\n')
    with pytest.raises(DataFormatError) as info:
        fa.read_table(path)
    assert info.value.path == str(path)
    array = tmp_path / "a.json"
    array.write_text('[{"a": 1, "a": 2}]')
    assert fa.read_table(array).to_pylist() == [{"a": 2}]
    array.write_text('[{"a": 1e400, "a": 1}]')
    with pytest.raises(DataFormatError) as info:
        fa.read_table(array)
    assert info.value.path == str(array)


# 5. gzip: trailing zero padding accepted; a wrong header CRC refused


def test_gzip_trailing_zero_padding(impl: str, tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"a": 1}\n{"a": 2}\n') + b"\0" * 1024)
    assert fa.read_table(path).to_pylist() == [{"a": 1}, {"a": 2}]


def _gzip_with_header_crc(payload: bytes, crc_ok: bool) -> bytes:
    header = b"\x1f\x8b\x08\x02" + b"\0\0\0\0" + b"\x00\xff"  # FLG = FHCRC
    crc16 = zlib.crc32(header) & 0xFFFF
    if not crc_ok:
        crc16 ^= 0x5A5A
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = deflate.compress(payload) + deflate.flush()
    trailer = struct.pack("<II", zlib.crc32(payload), len(payload) & 0xFFFFFFFF)
    return header + struct.pack("<H", crc16) + body + trailer


def test_gzip_header_crc(impl: str, tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl.gz"
    path.write_bytes(_gzip_with_header_crc(b'{"a": 1}\n', crc_ok=True))
    assert fa.read_table(path).to_pylist() == [{"a": 1}]
    path.write_bytes(_gzip_with_header_crc(b'{"a": 1}\n', crc_ok=False))
    with pytest.raises(DataFormatError) as info:
        fa.read_table(path)
    assert info.value.path == str(path)


# 6. zstd with trailing garbage: the good rows, then the error


def test_zstd_trailing_garbage(impl: str, tmp_path: Path) -> None:
    zstandard = pytest.importorskip("zstandard")
    payload = "".join(f'{{"a": {i}, "pad": "{"x" * 40}"}}\n' for i in range(3000)).encode()
    path = tmp_path / "a.jsonl.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(payload) + b"garbage!" * 8)
    rows, error = _drain(path, batch_size=1000)
    assert [r["a"] for r in rows] == list(range(3000))
    assert isinstance(error, DataFormatError) and error.path == str(path)


# 7. Named pipes: read once, sniffed from a buffered head. The public layer hands such inputs
# to the kernel with format="auto" / compression="auto"; these tests call that kernel interface
# (the same in both implementations) directly.


def _feed(path: Path, data: bytes) -> threading.Thread:
    def write() -> None:
        with open(path, "wb") as pipe:
            pipe.write(data)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def _read_pipe(path: Path) -> pa.Table:
    kernel = _backend.kernels().open_reader([str(path)], "auto", "auto", 1000, None, "raise", 0)
    batches = [b if isinstance(b, pa.RecordBatch) else pa.record_batch(b) for b in kernel]
    schema = kernel.schema()
    return pa.Table.from_batches(batches, schema=schema if isinstance(schema, pa.Schema) else pa.schema(schema))


pipes = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")


@pipes
@pytest.mark.parametrize(
    "data",
    [
        b'{"a": 1}\n{"a": 2}\n',
        b'\xef\xbb\xbf  [{"a": 1}, {"a": 2}]',
        gzip.compress(b'{"a": 1}\n{"a": 2}\n'),
    ],
    ids=["jsonl", "json-bom", "jsonl-gzip"],
)
def test_named_pipe_sniffed(impl: str, tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "pipe"
    os.mkfifo(path)
    thread = _feed(path, data)
    assert _read_pipe(path).to_pylist() == [{"a": 1}, {"a": 2}]
    thread.join(5)


@pipes
def test_named_pipe_parquet(impl: str, tmp_path: Path) -> None:
    source = tmp_path / "a.parquet"
    pq.write_table(pa.table({"a": [1, 2, 3]}), source)
    path = tmp_path / "pipe"
    os.mkfifo(path)
    thread = _feed(path, source.read_bytes())
    assert _read_pipe(path).to_pylist() == [{"a": 1}, {"a": 2}, {"a": 3}]
    thread.join(5)


@pipes
def test_named_pipe_error_names_the_pipe(impl: str, tmp_path: Path) -> None:
    path = tmp_path / "pipe"
    os.mkfifo(path)
    thread = _feed(path, b'{"a": 1}\n{bad\n')
    with pytest.raises(DataFormatError) as info:
        _read_pipe(path)
    assert info.value.path == str(path) and info.value.position == "line 2"
    thread.join(5)


@pipes
@pytest.mark.parametrize("data", [b"FEA1" + b"\0" * 64, b"hello world\n"], ids=["feather-v1", "unknown"])
def test_named_pipe_unsupported(impl: str, tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "pipe"
    os.mkfifo(path)
    thread = _feed(path, data)
    with pytest.raises(UnsupportedFormatError):
        _read_pipe(path)
    thread.join(5)


# 3 and 8. Parquet / IPC: nesting, types as pyarrow.parquet gives them, INT96 range, IPC V4


def _deep_table(levels: int) -> pa.Table:
    kind: pa.DataType = pa.int64()
    value: Any = 1
    for _ in range(levels):
        kind, value = pa.list_(kind), [value]
    return pa.table({"a": pa.array([value], kind)})


def test_ipc_column_nesting_limit(impl: str, tmp_path: Path) -> None:
    path = tmp_path / "a.arrow"
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, _deep_table(62).schema) as writer:
        writer.write_table(_deep_table(62))
    assert fa.read_table(path).num_rows == 1
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, _deep_table(63).schema) as writer:
        writer.write_table(_deep_table(63))
    with pytest.raises(DataFormatError) as info:
        fa.read_table(path)
    assert info.value.path == str(path)


def test_parquet_types_as_pyarrow_reads_them(impl: str, tmp_path: Path) -> None:
    path = tmp_path / "a.parquet"
    table = pa.table(
        {
            "d": pa.array([datetime.datetime(2020, 1, 1)], pa.date64()),
            "m": pa.array([[("k", 1)]], pa.map_(pa.string(), pa.int64())),
            "t": pa.array([datetime.datetime(2020, 1, 1)], pa.timestamp("us")),
        }
    )
    pq.write_table(table, path, use_deprecated_int96_timestamps=True)
    assert fa.read_table(path).schema.types == pq.read_table(path).schema.types


def test_parquet_int96_outside_the_nanosecond_range(impl: str, tmp_path: Path) -> None:
    path = tmp_path / "a.parquet"
    stamps = [datetime.datetime(2000, 1, 1), datetime.datetime(2001, 1, 1), datetime.datetime(1500, 1, 1)]
    pq.write_table(pa.table({"t": pa.array(stamps, pa.timestamp("us"))}), path, use_deprecated_int96_timestamps=True)
    rows, error = _drain(path)
    assert len(rows) == 2
    assert isinstance(error, DataFormatError) and error.path == str(path) and error.position == "row 2"


def test_ipc_metadata_v4(impl: str, tmp_path: Path) -> None:
    path = tmp_path / "a.arrow"
    table = pa.table({"a": [1, 2]})
    options = pa.ipc.IpcWriteOptions(metadata_version=pa.ipc.MetadataVersion.V4)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    assert fa.read_table(path).to_pylist() == [{"a": 1}, {"a": 2}]


# 9. Shards: a non-nullable column, then a shard with a null in it


def test_shard_null_in_a_non_nullable_column(impl: str, tmp_path: Path) -> None:
    strict = pa.schema([pa.field("a", pa.int64(), nullable=False)])
    pq.write_table(pa.table({"a": [1, 2]}, schema=strict), tmp_path / "a.parquet")
    pq.write_table(pa.table({"a": [3, None]}), tmp_path / "b.parquet")
    rows, error = _drain(tmp_path, format="parquet")
    assert rows[:2] == [{"a": 1}, {"a": 2}]
    assert type(error) is SchemaMismatchError
    assert error.path == str(tmp_path / "b.parquet") and error.position == "row 1"


def test_shard_earliest_null_over_non_nullable_columns(impl: str, tmp_path: Path) -> None:
    strict = pa.schema([pa.field("a", pa.int64(), nullable=False), pa.field("b", pa.int64(), nullable=False)])
    pq.write_table(pa.table({"a": [1], "b": [1]}, schema=strict), tmp_path / "a.parquet")
    pq.write_table(pa.table({"a": [1, 2, None], "b": [1, None, 3]}), tmp_path / "b.parquet")
    rows, error = _drain(tmp_path, format="parquet")
    assert rows == [{"a": 1, "b": 1}, {"a": 1, "b": 1}]
    assert type(error) is SchemaMismatchError and error.position == "row 1"


# 10. Never a bare pyarrow error


@pytest.mark.parametrize("content", [b"PAR1", b"PAR1\0\0\0\0PAR1", b"ARROW1\0\0garbage"])
def test_corrupt_arrow_files_raise_fast_axolotl_errors(impl: str, tmp_path: Path, content: bytes) -> None:
    path = tmp_path / ("a.parquet" if content.startswith(b"PAR1") else "a.arrow")
    path.write_bytes(content)
    with pytest.raises(FastAxolotlError) as info:
        fa.read_table(path)
    assert getattr(info.value, "path", None) == str(path)
