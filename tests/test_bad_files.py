"""The bad-file corpus (docs/hardening.md): every damaged input raises its documented class,
naming the file and the position (``line N``, ``row N`` or ``byte N``), in both backends.

test_reading.py holds more variants of some of these; here each case also pins the position.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import select
import shutil
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from reading_helpers import arrow_bytes, compress, jsonl_bytes, parquet_bytes

import fast_axolotl as fa
from fast_axolotl.errors import DataFormatError, DatasetNotFoundError, DatasetReadError

ROWS = 1000
TABLE = pa.table({"id": pa.array(range(ROWS), pa.int64()), "text": [f"row {i} " * 3 for i in range(ROWS)]})


def corrupt_page_parquet() -> bytes:
    """Four row groups of 250 rows; the page of column ``text`` in row group 2 is damaged."""
    sink = io.BytesIO()
    pq.write_table(TABLE, sink, row_group_size=250, compression="snappy", use_dictionary=False)
    data = bytearray(sink.getvalue())
    page = pq.ParquetFile(io.BytesIO(bytes(data))).metadata.row_group(2).column(1).data_page_offset
    data[page + 40 : page + 80] = b"\xff" * 40
    return bytes(data)


def ipc_stream_cut() -> bytes:
    data = arrow_bytes(TABLE, "stream", 300)  # batches of 300 rows; the last one (100 rows) is cut
    return data[: len(data) - 500]


def gzip_bad_crc() -> bytes:
    data = bytearray(gzip.compress(jsonl_bytes([{"a": i} for i in range(100)])))
    data[-8] ^= 0xFF  # the member's CRC32
    return bytes(data)


def zstd_bad_frame() -> bytes:
    data = bytearray(compress(jsonl_bytes([{"a": i} for i in range(100)]), "zstd"))
    data[4] |= 0x08  # a reserved bit of the frame header descriptor
    return bytes(data)


# name, file name, content, error class, position pattern, rows read correctly before the damage
# (-1: not a table of TABLE's rows)
CORPUS: list[tuple[str, str, Callable[[], bytes], type, str, int]] = [
    ("truncated parquet footer", "t.parquet", lambda: parquet_bytes(TABLE)[:-6], DataFormatError, r"row 0", 0),
    ("parquet corrupt page", "p.parquet", corrupt_page_parquet, DataFormatError, r"row 500", 500),
    ("ipc stream cut mid-batch", "s.arrow", ipc_stream_cut, DataFormatError, r"row 900", 900),
    ("gzip bad crc", "c.jsonl.gz", gzip_bad_crc, DataFormatError, r"byte \d+", -1),
    ("zstd bad frame", "z.jsonl.zst", zstd_bad_frame, DataFormatError, r"byte 0", 0),
    (
        "jsonl unterminated string",
        "u.jsonl",
        lambda: b'{"a": 1}\n{"a": 2}\n\n{"a": "oops}\n{"a": 5}\n',
        DataFormatError,
        r"line 4",
        -1,
    ),
    ("csv ragged row", "r.csv", lambda: b"a,b\n1,2\n3,4\n5\n6,7\n", DataFormatError, r"line 4", -1),
    ("empty parquet", "e.parquet", lambda: b"", DataFormatError, r"row 0", 0),
    ("empty arrow", "e.arrow", lambda: b"", DataFormatError, r"row 0", 0),
]


@pytest.mark.parametrize("case", CORPUS, ids=[c[0] for c in CORPUS])
def test_bad_file(impl: str, tmp_path: Path, case: tuple[str, str, Callable[[], bytes], type, str, int]) -> None:
    _, name, make, error, position, delivered = case
    path = tmp_path / name
    path.write_bytes(make())
    reader = fa.read_batches(path, batch_size=250)
    got = 0
    with pytest.raises(error) as info:
        for batch in reader:
            if delivered >= 0:
                assert pa.Table.from_batches([batch]).equals(TABLE.slice(got, batch.num_rows))
            got += batch.num_rows
    assert type(info.value) is error
    assert info.value.path == str(path) and str(path) in str(info.value)
    assert info.value.position is not None and re.fullmatch(position, info.value.position), info.value.position
    assert info.value.position in str(info.value)
    if delivered >= 0:
        # Delivered: every row of the file before the damage, in exact batches and then the
        # partial one (issue 18: good rows first).
        assert got == delivered
    assert list(reader) == []  # finished after the error


# The magic bytes opening an LZ4 frame / a ZSTD frame.
CODEC_MAGIC = {"lz4": b"\x04\x22\x4d\x18", "zstd": b"\x28\xb5\x2f\xfd"}


def absurd_declared_size(container: str, codec: str, declared: int) -> bytes:
    """TABLE as 4 compressed record batches of 250 rows; the last compressed buffer of the
    last batch declares ``declared`` uncompressed bytes in its 8-byte prefix (issue 8:
    arrow-ipc allocated that size before decompressing, and the failed allocation aborted)."""
    data = bytearray(arrow_bytes(TABLE, container, 250, codec))
    magic = CODEC_MAGIC[codec]
    at = data.rfind(magic)
    while at >= 8 and not 0 < int.from_bytes(data[at - 8 : at], "little") < 1 << 32:
        at = data.rfind(magic, 0, at)  # not a buffer's start: look further back
    assert at >= 8, "no compressed buffer found"
    data[at - 8 : at] = declared.to_bytes(8, "little", signed=True)
    return bytes(data)


@pytest.mark.parametrize("declared", [2**60, 2**40, -2], ids=["2^60", "2^40", "negative"])
@pytest.mark.parametrize("codec", ["lz4", "zstd"])
@pytest.mark.parametrize("container", ["file", "stream", "file.gz"])
def test_ipc_buffer_declaring_an_absurd_size(
    impl: str, tmp_path: Path, container: str, codec: str, declared: int
) -> None:
    """Refused before decoding, as a DataFormatError at the batch's first row, in both
    backends (the reference applies the same check: pyarrow would try the allocation)."""
    raw = absurd_declared_size(container.split(".")[0], codec, declared)
    path = tmp_path / ("d.arrow" + (".gz" if container.endswith(".gz") else ""))
    path.write_bytes(gzip.compress(raw) if container.endswith(".gz") else raw)
    got = 0
    with pytest.raises(DataFormatError) as info:
        for batch in fa.read_batches(path, batch_size=250):
            assert pa.Table.from_batches([batch]).equals(TABLE.slice(got, batch.num_rows))
            got += batch.num_rows
    assert type(info.value) is DataFormatError
    assert got == 750
    assert info.value.path == str(path) and info.value.position == "row 750"
    assert "declares" in str(info.value), str(info.value)
    if declared > 0:
        assert str(declared) in str(info.value)
    # The same column read alone: the check covers the message, projected or not.
    with pytest.raises(DataFormatError, match="declares"):
        list(fa.read_batches(path, batch_size=250, columns=["id"]))
    # Untouched, the file reads in full.
    path.write_bytes(arrow_bytes(TABLE, container.split(".")[0], 250, codec))
    if container.endswith(".gz"):
        path.write_bytes(gzip.compress(path.read_bytes()))
    assert fa.read_table(path).equals(TABLE)


@pytest.mark.parametrize("codec", ["lz4", "zstd"])
@pytest.mark.parametrize("container", ["file", "stream"])
def test_ipc_dictionary_buffer_declaring_an_absurd_size(impl: str, tmp_path: Path, container: str, codec: str) -> None:
    """The same check on a dictionary batch (read before any record batch: ``row 0``)."""
    words = pa.array([f"word number {i % 50} " * 4 for i in range(1000)]).dictionary_encode()
    table = pa.table({"id": TABLE["id"], "w": words})
    data = bytearray(arrow_bytes(table, container, 250, codec))
    magic = CODEC_MAGIC[codec]
    at = data.find(magic)
    while at >= 0 and not 0 < int.from_bytes(data[at - 8 : at], "little") < 1 << 32:
        at = data.find(magic, at + 1)
    assert at >= 8, "no compressed buffer found"
    data[at - 8 : at] = (2**60).to_bytes(8, "little")
    path = tmp_path / "d.arrow"
    path.write_bytes(bytes(data))
    with pytest.raises(DataFormatError, match="declares 1152921504606846976") as info:
        list(fa.read_batches(path, batch_size=250))
    assert info.value.path == str(path) and info.value.position == "row 0"


def test_empty_line_formats_and_zero_row_parquet(impl: str, tmp_path: Path) -> None:
    for name in ("e.jsonl", "e.csv", "e.txt", "e.jsonl.gz", "e.txt.zst"):
        (tmp_path / name).write_bytes(b"")
        assert list(fa.read_batches(tmp_path / name)) == []
    schema = pa.schema([("id", pa.int64()), ("ids", pa.list_(pa.int32()))])
    (tmp_path / "zero.parquet").write_bytes(parquet_bytes(schema.empty_table()))
    assert list(fa.read_batches(tmp_path / "zero.parquet")) == []
    assert fa.read_table(tmp_path / "zero.parquet").schema == schema


def test_nul_in_a_column_name(impl: str, tmp_path: Path) -> None:
    # Arrow's C data interface carries names as C strings: such a column cannot be handed over.
    path = tmp_path / "nul.jsonl"
    path.write_bytes(b'{"ok": 1, "a\\u0000b": 2, "s": {"x\\u0000": 3}}\n')
    for columns in (None, ["s"]):
        with pytest.raises(DataFormatError, match="NUL character") as caught:
            list(fa.read_batches(path, columns=columns))
        assert caught.value.path == str(path)
    (tmp_path / "nul.parquet").write_bytes(parquet_bytes(pa.table({"a\x00b": [1], "ok": [2]})))
    with pytest.raises(DataFormatError, match="NUL character"):
        _ = fa.read_batches(tmp_path / "nul.parquet").schema
    assert fa.read_table(path, columns=["ok"]).to_pylist() == [{"ok": 1}]


def test_directory_of_nothing_readable(impl: str, tmp_path: Path) -> None:
    folder = tmp_path / "nothing"
    folder.mkdir()
    (folder / "_SUCCESS").write_bytes(b"")
    (folder / ".part-0.jsonl.crc").write_bytes(b"x")
    (folder / "sub").mkdir()
    (folder / "sub" / "a.jsonl").write_bytes(b'{"a": 1}\n')  # not searched: shards are top-level files
    with pytest.raises(DatasetNotFoundError) as info:
        fa.read_batches(folder)
    assert info.value.path == str(folder)
    with pytest.raises(DatasetNotFoundError):
        fa.read_table(str(folder / "*.parquet"))


# ---------------------------------------------------------------------------
# Permission denied: the suite runs as root, who may read any file, so the read runs in a
# forked child that drops to `nobody` (uid/gid 65534) first. What is proven: open(2) fails
# with EACCES in a real unprivileged process, and both backends turn that into
# DatasetReadError naming the file. (No exec: the interpreter lives under /root, which
# `nobody` may not enter; the forked child already has the package imported.)

NOBODY = 65534


def _read_as_nobody(path: Path) -> str:
    """Fork, drop to nobody, read `path`; the child's report: '<class>|<path>' or a failure."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            try:
                fa.read_table(path, format="jsonl")
                message = "no error"
            except Exception as exc:
                message = f"{type(exc).__name__}|{getattr(exc, 'path', exc)}|uid {os.geteuid()}"
            os.write(w, message.encode())
        finally:
            os._exit(0)
    os.close(w)
    try:
        ready, _, _ = select.select([r], [], [], 60)
        report = os.read(r, 65536).decode() if ready else "timeout"
    finally:
        os.close(r)
        if report == "timeout":
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    return report


@pytest.mark.skipif(os.name != "posix", reason="uids are POSIX")
def test_permission_denied(impl: str) -> None:
    folder = Path(tempfile.mkdtemp(prefix="fa-perm-", dir="/tmp"))
    try:
        folder.chmod(0o755)
        path = folder / "secret.jsonl"
        path.write_bytes(b'{"a": 1}\n')
        path.chmod(0o600)
        if os.geteuid() == 0:
            assert _read_as_nobody(path) == f"DatasetReadError|{path}|uid {NOBODY}"
            # The same file is readable with the privilege: the denial was the only cause.
            assert fa.read_table(path, format="jsonl").num_rows == 1
        else:
            path.chmod(0)
            with pytest.raises(DatasetReadError) as info:
                fa.read_table(path, format="jsonl")
            assert info.value.path == str(path)
    finally:
        shutil.rmtree(folder)


# ---------------------------------------------------------------------------
# A 2 GiB single line. Documented behaviour: a line longer than 2**31 - 1 bytes (the limit
# of one Arrow string value) raises DataFormatError naming the line; nothing is truncated.
# The line is a sparse file region (NUL bytes are valid UTF-8), so the test costs no disk
# and little time; the readers still read all of it.

HUGE = 2**31


@pytest.mark.parametrize("fmt, suffix", [("text", "txt"), ("jsonl", "jsonl"), ("csv", "csv")])
def test_two_gib_single_line(impl: str, fmt: str, suffix: str) -> None:
    folder = Path(tempfile.mkdtemp(prefix="fa-huge-", dir="/tmp"))
    try:
        path = folder / f"huge.{suffix}"
        head = b"a\n" if fmt != "jsonl" else b'{"a": 1}\n'
        with open(path, "wb") as f:
            f.write(head)
            f.truncate(len(head) + HUGE)  # line 2: 2**31 NUL bytes, no newline
        with pytest.raises(DataFormatError) as info:
            list(fa.read_batches(path, format=fmt))
        assert type(info.value) is DataFormatError
        assert info.value.path == str(path) and info.value.position == "line 2"
        assert "longer than 2147483647 bytes" in str(info.value)
    finally:
        shutil.rmtree(folder)
