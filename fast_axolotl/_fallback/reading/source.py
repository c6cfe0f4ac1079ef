"""Opening inputs: files, decompression (gzip, zstd) with their quirks, lines, named pipes, sniffing."""

from __future__ import annotations

import atexit
import contextlib
import gzip
import mmap
import os
import sys
import tempfile
import zlib
from collections.abc import Iterator
from typing import Any, BinaryIO

import pyarrow as pa

from ...errors import (
    DataFormatError,
    DatasetNotFoundError,
    DatasetReadError,
    UnsupportedFormatError,
)
from .common import _BOM, _CHUNK, _ZSTD_READ, MAX_LINE
from .zstd import _zstd_frame

# ---------------------------------------------------------------------------
# Opening files


def _open_file(path: str) -> BinaryIO:
    try:
        if os.path.isdir(path):
            raise IsADirectoryError(21, "Is a directory", path)
        return open(path, "rb")
    except FileNotFoundError:
        raise DatasetNotFoundError(f"{path}: no such file or directory", path) from None
    except OSError as exc:
        raise DatasetReadError(f"{path}: {exc.strerror or exc}", path) from None


class _Decoded:
    """A decompressing binary reader whose decode failures become DataFormatError."""

    def __init__(self, path: str, compression: str | None) -> None:
        self.path = path
        self.compression = compression
        self._raw = _open_file(path)
        self.offset = 0
        self._header_error: str | None = None
        if compression is None or os.fstat(self._raw.fileno()).st_size == 0:
            # A zero-byte file is empty content, whatever the compression.
            self._stream: Any = self._raw
        elif compression == "gzip":
            self._stream = gzip.GzipFile(fileobj=self._raw, mode="rb")
            # RFC 1952: reserved FLG bits must be zero and a decoder must reject them.
            # Python's gzip ignores them; the native decoder (flate2) refuses the file.
            head = self._raw.read(4)
            self._raw.seek(0)
            if len(head) == 4 and head[:2] == b"\x1f\x8b" and head[3] & 0xE0:
                self._header_error = "reserved gzip header flag bits are set"
            else:
                self._header_error = _gzip_header_crc_problem(self._raw)
        else:
            # pyarrow's zstd stream drops the rows decoded before trailing garbage: decode
            # only the whole frames, then refuse what follows them.
            self._zstd_end, self._zstd_size = _zstd_frames_end(self._raw)
            self._stream = pa.CompressedInputStream(_Limited(self._raw, self._zstd_end), "zstd")

    def read(self, size: int = _CHUNK) -> bytes:
        if self._header_error is not None:
            raise self._corrupt(ValueError(self._header_error))
        try:
            data = self._read(size)
        except (EOFError, zlib.error, gzip.BadGzipFile, pa.ArrowException) as exc:
            raise self._corrupt(exc) from None
        except OSError as exc:
            if self.compression is None:
                raise DatasetReadError(f"{self.path}: {exc.strerror or exc}", self.path) from None
            raise self._corrupt(exc) from None
        if isinstance(data, pa.Buffer):
            data = data.to_pybytes()
        self.offset += len(data)
        return bytes(data)

    def _read(self, size: int) -> Any:  # bytes, or a pyarrow Buffer from zstd
        # What decodes before a damaged or truncated part comes out before the error, as
        # from the native reader: gzip one decompression step at a time; zstd in small reads
        # (pyarrow drops what one read decoded when it fails).
        if self._stream is self._raw:
            return self._stream.read(size)
        if self.compression == "gzip":
            return self._stream.read1(size)
        data = self._stream.read(min(size, _ZSTD_READ))
        if not data and self._zstd_end < self._zstd_size:
            where = f"trailing data after the last zstd frame (compressed byte {self._zstd_end})"
            raise self._corrupt(ValueError(where))
        return data

    def _corrupt(self, exc: BaseException) -> DataFormatError:
        what = f"bad {self.compression} data" if self.compression else "read failed"
        return DataFormatError(f"{self.path}: byte {self.offset}: {what}: {exc}", self.path, f"byte {self.offset}")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if self._stream is not self._raw:
                self._stream.close()
        self._raw.close()


class _Limited:
    """The first ``end`` bytes of a binary file, as a file object pyarrow can wrap."""

    def __init__(self, raw: BinaryIO, end: int) -> None:
        self._raw = raw
        self._left = end
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        if size < 0 or size > self._left:
            size = self._left
        data = self._raw.read(size)
        self._left -= len(data)
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True


def _zstd_frames_end(raw: BinaryIO) -> tuple[int, int]:
    """(end of the last whole zstd frame, file size) of a regular file; a stream that cannot
    be mapped counts as whole frames (the decoder then reports what it finds)."""
    try:
        size = os.fstat(raw.fileno()).st_size
        view = mmap.mmap(raw.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return sys.maxsize, 0
    try:
        at = 0
        while at < size:
            frame = _zstd_frame(view, at)  # type: ignore[arg-type]  # mmap slices as bytes
            if frame is None:
                break
            at += frame[0]
        # No whole frame at all: let the decoder report the damage where it finds it.
        return (at, size) if at else (size, size)
    finally:
        view.close()


def _gzip_header_crc_problem(raw: BinaryIO) -> str | None:
    """RFC 1952: with FHCRC set the header ends in the low 16 bits of its CRC-32. Python's gzip
    does not check it; the native decoder (flate2) refuses a wrong one, and so do we."""
    head = raw.read(1 << 16)
    raw.seek(0)
    if len(head) < 10 or head[:2] != b"\x1f\x8b" or not head[3] & 0x02:
        return None
    flags, at = head[3], 10
    if flags & 0x04:  # FEXTRA
        if at + 2 > len(head):
            return None
        at += 2 + int.from_bytes(head[at : at + 2], "little")
    for flag in (0x08, 0x10):  # FNAME, FCOMMENT: zero-terminated
        if flags & flag:
            end = head.find(b"\0", at)
            if end < 0:
                return None  # longer than we look at: the decoder judges the rest
            at = end + 1
    if at + 2 > len(head):
        return None
    stored = int.from_bytes(head[at : at + 2], "little")
    if stored != zlib.crc32(head[:at]) & 0xFFFF:
        return "gzip header CRC mismatch"
    return None


def _lines(path: str, compression: str | None) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, content without the ``\\n``); a leading UTF-8 BOM is dropped.
    A last line without ``\\n`` counts; an empty remainder after the last ``\\n`` does not."""
    source = _Decoded(path, compression)
    try:
        pending = b""
        while len(pending) < 3:
            more = source.read()
            if not more:
                break
            pending += more
        if pending.startswith(_BOM):
            pending = pending[3:]
        number = 0
        # The unfinished line, as pieces: re-joining on every chunk would be quadratic.
        held: list[bytes] = []
        held_size = 0
        chunk = pending
        while chunk:
            if b"\n" not in chunk:
                held.append(chunk)
                held_size += len(chunk)
                if held_size > MAX_LINE:
                    raise _too_long(path, number + 1)
                chunk = source.read()
                continue
            parts = chunk.split(b"\n")
            held.append(parts[0])
            parts[0] = b"".join(held)
            last = parts.pop()
            for line in parts:
                number += 1
                if len(line) > MAX_LINE:
                    raise _too_long(path, number)
                yield number, line
            held, held_size = [last], len(last)
            if held_size > MAX_LINE:
                raise _too_long(path, number + 1)
            chunk = source.read()
        pending = b"".join(held)
        if pending:
            yield number + 1, pending
    finally:
        source.close()


def _too_long(path: str, number: int) -> DataFormatError:
    message = f"line longer than {MAX_LINE} bytes (the limit of one Arrow string)"
    return DataFormatError(f"{path}: line {number}: {message}", path, f"line {number}")


def _read_all(path: str, compression: str | None) -> bytes:
    source = _Decoded(path, compression)
    try:
        parts = []
        while True:
            chunk = source.read()
            if not chunk:
                break
            parts.append(chunk)
        data = b"".join(parts)
    finally:
        source.close()
    return data[3:] if data.startswith(_BOM) else data


def _spool_stream(path: str) -> str:
    """A named pipe's bytes, read once into a temporary file (deleted at exit)."""
    fd, tmp = tempfile.mkstemp(prefix="fast-axolotl-pipe-", suffix=".spool")
    _spooled.append(tmp)
    try:
        with _open_file(path) as stream, os.fdopen(fd, "wb") as out:
            while chunk := stream.read(_CHUNK):
                out.write(chunk)
    except OSError as exc:
        raise DatasetReadError(f"{path}: {exc.strerror or exc}", path) from None
    return tmp


_spooled: list[str] = []


@atexit.register
def _remove_spooled() -> None:
    for tmp in _spooled:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _sniff_compression(path: str) -> str | None:
    with _open_file(path) as handle:
        head = handle.read(4)
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head == b"\x28\xb5\x2f\xfd":
        return "zstd"
    return None


def _sniff_format(path: str, compression: str | None, shown: str) -> str:
    """PAR1: parquet; ARROW1 or an IPC stream's continuation marker: arrow; else the first
    non-whitespace byte after an optional BOM: ``{`` jsonl, ``[`` json."""
    source = _Decoded(path, compression)
    try:
        head = b""
        while len(head) < (1 << 16) and (more := source.read(1 << 16)):
            head += more
    finally:
        source.close()
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"ARROW1") or head.startswith(b"\xff\xff\xff\xff"):
        return "arrow"
    if head.startswith(b"FEA1"):
        raise UnsupportedFormatError(f"{shown}: Feather v1 files are not supported (rewrite as Feather v2)")
    text = head[3:] if head.startswith(_BOM) else head
    first = text.lstrip(b" \t\r\n")[:1]
    if first == b"{":
        return "jsonl"
    if first == b"[":
        return "json"
    raise UnsupportedFormatError(f"{shown}: cannot tell the format from the content; pass format=")
