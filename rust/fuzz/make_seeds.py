"""Write the seed corpus of every fuzz target to ``<out>/<target>/`` (run by ``nox -s fuzz``).

Seeds are small valid inputs of each format (first byte: the knobs byte the targets split
off), so the fuzzer starts from deep inside the parsers instead of at the magic bytes."""

from __future__ import annotations

import gzip
import io
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
import pyarrow.parquet as pq


def tables() -> list[pa.Table]:
    chat = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    return [
        pa.table({"a": [1, None, 3], "s": ["x", None, "héllo"]}),
        pa.table(
            {
                "ids": pa.array([[1, 2], None, []], pa.list_(pa.int32())),
                "l": pa.array([[1], [2, 3], None], pa.large_list(pa.int64())),
                "f": [1.5, None, -0.0],
                "b": [True, False, None],
                "m": pa.array([[{"role": "user", "content": "hi"}], None, []], chat),
                "d": pa.array(["a", "b", "a"]).dictionary_encode(),
                "ls": pa.array(["x", "yy", None], pa.large_string()),
                "bin": pa.array([b"\x00", None, b"zz"], pa.binary()),
                "i8": pa.array([1, -2, None], pa.int8()),
            }
        ),
    ]


def ipc_bytes(table: pa.Table, kind: str, codec: str | None = None) -> bytes:
    sink = pa.BufferOutputStream()
    options = ipc.IpcWriteOptions(compression=codec)
    writer = (ipc.new_file if kind == "file" else ipc.new_stream)(sink, table.schema, options=options)
    writer.write_table(table, max_chunksize=2)
    writer.close()
    return bytes(sink.getvalue().to_pybytes())


def parquet(table: pa.Table, **kw: object) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=2, **kw)  # type: ignore[arg-type]
    return sink.getvalue()


def main(out: Path) -> None:
    jsonl = b'{"a": 1, "s": "x", "l": [1, 2], "o": {"k": true}}\n{"a": null, "s": "\\u00e9", "l": []}\n'
    csv = b'a,b,c\n1,"x, ""q""",true\n2,,1.5\n'
    seeds: dict[str, list[bytes]] = {
        "read_parquet": [parquet(t) for t in tables()] + [parquet(tables()[0], compression="zstd")],
        "read_ipc": [ipc_bytes(t, k, c) for t in tables() for k in ("file", "stream") for c in (None, "zstd", "lz4")],
        "read_jsonl": [jsonl, b'{"a": [[1], [2, 3]]}\n{"a": [[4]]}\n'],
        "read_json": [b"[" + jsonl.replace(b"\n", b",", 1).rstrip(b"\n") + b"]"],
        "read_csv": [csv, b"x\ty\n1\t2\n"],
        "read_compressed": [b"\x00" + gzip.compress(jsonl), b"\x02" + gzip.compress(jsonl)],
        "rowcodec": [ipc_bytes(t, "stream") for t in tables()],
    }
    zstd = pa.Codec("zstd")
    seeds["read_compressed"] += [
        b"\x01" + zstd.compress(jsonl, asbytes=True),
        b"\x03" + zstd.compress(jsonl, asbytes=True),
    ]
    seeds["read_compressed"].append(b"\x06" + gzip.compress(parquet(tables()[0])))
    sink = io.BytesIO()
    pacsv.write_csv(tables()[0], sink)
    seeds["read_csv"].append(sink.getvalue())
    for target, items in seeds.items():
        folder = out / target
        folder.mkdir(parents=True, exist_ok=True)
        for i, item in enumerate(items):
            knob = b"" if target in ("rowcodec", "read_compressed") else bytes([i * 37 % 256])
            (folder / f"seed-{i}").write_bytes(knob + item)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
