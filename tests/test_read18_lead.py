"""Issue 18, the public layer and the shared reader: pipes are read once (their bytes never
peeked by `read_batches` itself), good rows come out before an error in exact batches, and
internal failures keep their message. Both implementations."""

from __future__ import annotations

import gzip
import io
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import fast_axolotl as fa
from fast_axolotl.errors import DataFormatError, UnsupportedFormatError

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")


def _pipe(tmp_path: Path, name: str, data: bytes) -> tuple[str, threading.Thread]:
    """A named pipe and a thread writing ``data`` into it once (then closing it)."""
    path = tmp_path / name
    os.mkfifo(path)

    def write() -> None:
        with open(path, "wb") as out:
            out.write(data)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    return str(path), writer


def _lines(n: int) -> bytes:
    return b"".join(b'{"a": %d, "t": "x%d"}\n' % (i, i) for i in range(n))


def _rows(batches: Iterator[pa.RecordBatch]) -> list[int]:
    return [v for b in batches for v in b.column("a").to_pylist()]


@pytest.mark.parametrize(
    ("name", "fmt", "pack"),
    [
        ("data", "auto", lambda b: b),  # no name to go by: the content tells jsonl
        ("data", "auto", gzip.compress),  # and gzip under it
        ("data.jsonl", "auto", gzip.compress),  # the name tells jsonl, the content gzip
        ("stream", "jsonl", gzip.compress),  # format= without compression: sniffed
        ("stream", "jsonl.gz", gzip.compress),
    ],
)
def test_a_named_pipe_is_read_once(impl: str, tmp_path: Path, name: str, fmt: str, pack: object) -> None:
    path, writer = _pipe(tmp_path, name, pack(_lines(2500)))  # type: ignore[operator]
    batches = list(fa.read_batches(path, format=fmt, batch_size=1000))
    writer.join(timeout=30)
    assert [b.num_rows for b in batches] == [1000, 1000, 500]
    assert _rows(iter(batches)) == list(range(2500))


def test_parquet_through_a_pipe_is_spooled(impl: str, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    pq.write_table(pa.table({"a": list(range(3000))}), buffer, row_group_size=1000)
    path, writer = _pipe(tmp_path, "pq", buffer.getvalue())
    table = fa.read_table(path)
    writer.join(timeout=30)
    assert table.column("a").to_pylist() == list(range(3000))


def test_a_pipe_of_unknown_content_is_refused(impl: str, tmp_path: Path) -> None:
    path, writer = _pipe(tmp_path, "odd", b"a,b\n1,2\n")
    with pytest.raises(UnsupportedFormatError):
        fa.read_table(path)
    writer.join(timeout=30)


def test_detect_format_never_reads_a_pipe(tmp_path: Path) -> None:
    fifo = tmp_path / "named.jsonl.zst"
    os.mkfifo(fifo)
    # No writer: a read would block forever; the answer comes from the name.
    assert fa.detect_format(fifo) == ("jsonl", "zstd")
    bare = tmp_path / "bare"
    os.mkfifo(bare)
    with pytest.raises(UnsupportedFormatError):
        fa.detect_format(bare)


@pytest.mark.parametrize("good", [4, 999, 1000, 1500, 2047])
def test_every_good_row_before_an_error_comes_out_in_exact_batches(impl: str, tmp_path: Path, good: int) -> None:
    """Inside the inference prefix (4, 999), at its end (1000) and after it."""
    path = tmp_path / "a.jsonl"
    path.write_bytes(_lines(good) + b"{broken\n" + _lines(10))
    reader = fa.read_batches(path, batch_size=500)
    sizes: list[int] = []
    values: list[int] = []
    with pytest.raises(DataFormatError) as caught:
        for batch in reader:
            sizes.append(batch.num_rows)
            values.extend(batch.column("a").to_pylist())
    assert values == list(range(good))
    assert sizes == [500] * (good // 500) + ([good % 500] if good % 500 else [])
    assert caught.value.path == str(path)
    assert caught.value.position == f"line {good + 1}"
