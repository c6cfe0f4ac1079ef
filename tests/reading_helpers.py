"""Writers of test data in every format, and a runner comparing both backends (reader tests)."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

import fast_axolotl as fa
from fast_axolotl import _backend


def compress(data: bytes, compression: str | None) -> bytes:
    if compression is None:
        return data
    if compression == "gzip":
        return gzip.compress(data, mtime=0)
    sink = pa.BufferOutputStream()
    stream = pa.CompressedOutputStream(sink, "zstd")
    stream.write(data)
    stream.close()
    return sink.getvalue().to_pybytes()


SUFFIX = {None: "", "gzip": ".gz", "zstd": ".zst"}


def write_bytes(path: Path, data: bytes, compression: str | None) -> Path:
    path = Path(str(path) + SUFFIX[compression])
    path.write_bytes(compress(data, compression))
    return path


def arrow_bytes(table: pa.Table, kind: str, max_chunksize: int | None = None, codec: str | None = None) -> bytes:
    sink = pa.BufferOutputStream()
    options = ipc.IpcWriteOptions(compression=codec)
    opener = ipc.new_file if kind == "file" else ipc.new_stream
    with opener(sink, table.schema, options=options) as writer:
        writer.write_table(table, max_chunksize=max_chunksize)
    return sink.getvalue().to_pybytes()


def parquet_bytes(table: pa.Table, row_group_size: int | None = None) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=row_group_size)
    return sink.getvalue()


def jsonl_bytes(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


def json_bytes(rows: list[dict[str, Any]]) -> bytes:
    return json.dumps(rows, ensure_ascii=False, indent=1).encode()


def csv_bytes(header: list[str], rows: list[list[Any]], delimiter: str = ",") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    # Python 3.10's writer refuses a NUL character unless an escape character is set
    # (3.11+ writes it as is, and so does 3.10 with one): that writer takes such rows.
    nul_writer = csv.writer(out, delimiter=delimiter, lineterminator="\n", escapechar="\\")
    writer.writerow(header)
    for row in rows:
        values = ["" if v is None else v for v in row]
        try:
            writer.writerow(values)
        except csv.Error:
            nul_writer.writerow(values)
    return out.getvalue().encode()


def run(impl: str, fn: Any) -> Any:
    with _backend.use(impl):  # type: ignore[arg-type]
        return fn()


def outcome(impl: str, path: Any, **kwargs: Any) -> tuple[str, Any]:
    """("ok", (batches, schema, skipped)) or ("error", exception type)."""

    def go() -> tuple[str, Any]:
        try:
            reader = fa.read_batches(path, **kwargs)
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                batches = list(reader)
            return "ok", (batches, reader.schema, reader.skipped)
        except fa.errors.FastAxolotlError as exc:
            return "error", type(exc)

    return run(impl, go)


def assert_same(a: tuple[str, Any], b: tuple[str, Any]) -> None:
    assert a[0] == b[0], (a, b)
    if a[0] == "error":
        assert a[1] is b[1], (a[1], b[1])
        return
    (xb, xs, xk), (yb, ys, yk) = a[1], b[1]
    assert xs.equals(ys, check_metadata=True), (xs, ys)
    assert [x.num_rows for x in xb] == [y.num_rows for y in yb]
    for x, y in zip(xb, yb, strict=True):
        assert x.schema.equals(y.schema, check_metadata=True), (x.schema, y.schema)
        assert x.equals(y), (x.to_pylist(), y.to_pylist())
    assert xk == yk


def both(path: Any, **kwargs: Any) -> tuple[str, Any]:
    native = outcome("native", path, **kwargs)
    fallback = outcome("fallback", path, **kwargs)
    assert_same(native, fallback)
    return native


def drain(reader: Any) -> tuple[list[int], BaseException | None]:
    """The sizes of the batches delivered before the iteration ended, and its error."""
    sizes: list[int] = []
    try:
        for batch in reader:
            sizes.append(batch.num_rows)
    except Exception as e:  # noqa: BLE001 - the test inspects it
        return sizes, e
    return sizes, None
