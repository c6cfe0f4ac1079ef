"""Reference readers: pyarrow + stdlib only. The semantic source of truth for reading.

``open_reader(paths, format, compression, batch_size, columns, on_error)`` returns a
:class:`Reader`: an iterator of ``pyarrow.RecordBatch`` holding exactly ``batch_size``
rows (the last may be shorter), with ``schema()`` and a ``skipped`` count. The rules
(type inference, CSV grammar, error classes) are documented in ``docs/reading.md``;
``rust/core/src/read`` implements the same rules and must give identical batches.

Inputs arrive resolved by the public API: a list of files of one base format
(``parquet arrow feather jsonl json csv tsv text``) and one compression
(``None``, ``"gzip"``, ``"zstd"``).
"""

from __future__ import annotations

import atexit
import contextlib
import gzip
import json
import math
import mmap
import os
import re
import struct
import sys
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from ..errors import (
    DataFormatError,
    DatasetNotFoundError,
    DatasetReadError,
    FastAxolotlError,
    InvalidArgumentError,
    SchemaMismatchError,
    UnsupportedFormatError,
)

__all__ = ["open_reader", "Reader", "INFER_ROWS"]

#: Rows (records) from which JSON/JSONL/CSV/TSV column types are inferred.
INFER_ROWS = 1000
_BOM = b"\xef\xbb\xbf"
_CHUNK = 1 << 20
_ZSTD_READ = 1 << 16
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1
#: Deepest nesting of arrays/objects a JSON record may have (the record object is depth 1):
#: a column then has at most 62 nested list/struct levels, the most pyarrow's C data import
#: accepts ("Recursion level in ArrowSchema struct exceeded" beyond), so both implementations
#: refuse deeper records the same way.
MAX_DEPTH = 63
# The longest line (without its \n) accepted: one Arrow string value has 32-bit offsets.
MAX_LINE = 2**31 - 1


class _Bad(Exception):
    """A record-level problem: DataFormatError, or skipped under on_error="skip"."""

    def __init__(self, message: str, mismatch: bool = False) -> None:
        super().__init__(message)
        self.mismatch = mismatch


def _record_error(bad: _Bad, path: str, position: str) -> DataFormatError:
    cls = SchemaMismatchError if bad.mismatch else DataFormatError
    return cls(f"{path}: {position}: {bad}", path, position)


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


# ---------------------------------------------------------------------------
# Schema handling shared by all formats


def _project(schema: pa.Schema, columns: list[str] | None) -> list[int] | None:
    if columns is None:
        return None
    names = schema.names
    indices = []
    for name in columns:
        count = names.count(name)
        if count == 0:
            raise InvalidArgumentError(f"column {name!r} is not in the data (columns: {', '.join(names)})")
        if count > 1:
            raise InvalidArgumentError(f"column {name!r} is ambiguous: the data has {count} columns of that name")
        indices.append(names.index(name))
    return indices


def _same_columns(a: pa.Schema, b: pa.Schema) -> bool:
    return a.names == b.names and all(x.type.equals(y.type) for x, y in zip(a, b, strict=False))


def _with_rows(arrays: list[pa.Array], schema: pa.Schema, rows: int) -> pa.RecordBatch:
    if not arrays:
        return pa.RecordBatch.from_struct_array(pa.array([{}] * rows, type=pa.struct([])))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _rebatch(batches: Iterator[pa.RecordBatch], batch_size: int) -> Iterator[pa.RecordBatch]:
    """Exactly ``batch_size`` rows per batch (the last may be shorter), any input chunking."""
    pending: list[pa.RecordBatch] = []
    rows = 0
    try:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            pending.append(batch)
            rows += batch.num_rows
            while rows >= batch_size:
                out, pending, rows = _take(pending, batch_size), *_rest(pending, batch_size)
                yield out
    except FastAxolotlError:
        # Good rows first: the rows read before an error are delivered (a partial batch),
        # and the error is raised on the next call.
        if rows:
            yield _take(pending, rows)
        raise
    if rows:
        yield _take(pending, rows)


def _take(pending: list[pa.RecordBatch], n: int) -> pa.RecordBatch:
    parts = []
    need = n
    for batch in pending:
        if need == 0:
            break
        part = batch.slice(0, min(need, batch.num_rows))
        parts.append(part)
        need -= part.num_rows
    if len(parts) == 1:
        return parts[0]
    if parts[0].num_columns == 0:
        return _with_rows([], parts[0].schema, n)
    return pa.concat_batches(parts)


def _rest(pending: list[pa.RecordBatch], n: int) -> tuple[list[pa.RecordBatch], int]:
    rest = []
    skip = n
    for batch in pending:
        if skip >= batch.num_rows:
            skip -= batch.num_rows
            continue
        rest.append(batch.slice(skip) if skip else batch)
        skip = 0
    return rest, sum(b.num_rows for b in rest)


def _arrow_error(path: str, exc: BaseException | str, rows: int = 0) -> DataFormatError:
    """A Parquet/IPC decoding failure; ``rows``: rows of this file read correctly before it
    (the damage lies at or after that row; 0 when the file cannot even be opened)."""
    return DataFormatError(f"{path}: row {rows}: corrupt or truncated file: {exc}", path, f"row {rows}")


# ---------------------------------------------------------------------------
# Arrow IPC: compressed buffers checked before pyarrow decodes them (rust/core/src/read/ipcguard.rs)
#
# With body compression (LZ4_FRAME or ZSTD) each buffer starts with its uncompressed length
# (8 bytes, little-endian; -1: stored uncompressed), which the decoders allocate before
# decompressing. A length the codec cannot produce from the buffer's compressed bytes, or
# larger than the machine's physical memory, is refused (DataFormatError), as natively.

#: LZ4: no input byte yields more than 255 output bytes (a match-length extension byte).
_LZ4_MAX_RATIO = 255
#: ZSTD: a block (at least 4 bytes) decodes to at most 128 KiB.
_ZSTD_BLOCK_MAX = 128 * 1024
_ZSTD_MAX_RATIO = _ZSTD_BLOCK_MAX // 4


def _physical_memory() -> int | None:
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return pages * size if pages > 0 and size > 0 else None


def _unpack(fmt: str, data: bytes, at: int) -> int:
    if at < 0 or at + struct.calcsize(fmt) > len(data):
        raise ValueError("outside the flatbuffer")
    value: int = struct.unpack_from(fmt, data, at)[0]
    return value


class _Table:
    """A flatbuffer table (just what the IPC check needs; a bad offset raises ValueError)."""

    def __init__(self, data: bytes, pos: int) -> None:
        self.data, self.pos = data, pos

    @classmethod
    def root(cls, data: bytes) -> _Table:
        return cls(data, _unpack("<I", data, 0))

    def _field(self, index: int) -> int | None:
        vtable = self.pos - _unpack("<i", self.data, self.pos)
        if 4 + 2 * index >= _unpack("<H", self.data, vtable):
            return None
        offset = _unpack("<H", self.data, vtable + 4 + 2 * index)
        return self.pos + offset if offset else None

    def scalar(self, index: int, fmt: str, default: int) -> int:
        at = self._field(index)
        return default if at is None else _unpack(fmt, self.data, at)

    def table(self, index: int) -> _Table | None:
        at = self._field(index)
        return None if at is None else _Table(self.data, at + _unpack("<I", self.data, at))

    def structs(self, index: int, size: int) -> list[int] | None:
        """Positions of the elements of a vector of structs of ``size`` bytes."""
        at = self._field(index)
        if at is None:
            return None
        vector = at + _unpack("<I", self.data, at)
        count = _unpack("<I", self.data, vector)
        if vector + 4 + count * size > len(self.data):
            raise ValueError("vector outside the flatbuffer")
        return [vector + 4 + i * size for i in range(count)]


def _ipc_guard(meta: bytes, body_length: int, fetch: Callable[[int, int], bytes]) -> str | None:
    """Why the IPC message ``meta`` (its flatbuffer) must be refused, or None.
    ``fetch(offset, length)`` reads bytes of its body (``body_length`` bytes). A message that
    cannot be parsed, or buffers outside the body or shorter than 8 bytes, are left to pyarrow."""
    try:
        message = _Table.root(meta)
        kind = message.scalar(1, "<B", 0)
        batch = message.table(2)
        if kind == 2 and batch is not None:  # DictionaryBatch: its RecordBatch
            batch = batch.table(1)
        elif kind != 3:  # not a RecordBatch
            return None
        compression = None if batch is None else batch.table(3)
        if batch is None or compression is None:
            return None
        codec = compression.scalar(0, "<b", 0)
        positions = batch.structs(2, 16)
        buffers = [(_unpack("<q", meta, at), _unpack("<q", meta, at + 8)) for at in positions or []]
    except ValueError:
        return None
    if codec not in (0, 1):
        return None
    name = "LZ4" if codec == 0 else "ZSTD"
    memory = _physical_memory()
    total = 0
    for index, (offset, length) in enumerate(buffers):
        if offset < 0 or length < 8 or offset + length > body_length:
            continue
        prefix = fetch(offset, 8)
        if len(prefix) < 8:
            continue
        declared = struct.unpack("<q", prefix)[0]
        if declared in (-1, 0):
            continue
        if declared < 0:
            return f"{name}-compressed buffer {index} declares a negative uncompressed size ({declared})"
        compressed = length - 8
        if codec == 0:
            bound = _LZ4_MAX_RATIO * compressed
        else:
            bound = _zstd_bound(fetch(offset + 8, compressed))
        if declared > bound:
            return (
                f"{name}-compressed buffer {index} declares {declared} uncompressed bytes, more than "
                f"its {compressed} compressed bytes can hold (at most {bound})"
            )
        if memory is not None and declared > memory:
            return (
                f"{name}-compressed buffer {index} declares {declared} uncompressed bytes, more "
                f"than the machine's physical memory ({memory} bytes)"
            )
        total += declared
    if memory is not None and total > memory:
        return (
            f"the {name}-compressed buffers of one message declare {total} uncompressed bytes "
            f"in all, more than the machine's physical memory ({memory} bytes)"
        )
    return None


def _zstd_bound(data: bytes) -> int:
    """The most bytes ZSTD frames can decode to: per frame its content size when the header
    has one, else the sum over its blocks (raw/RLE: their size, compressed: 128 KiB);
    skippable frames nothing; data whose frames cannot be walked: the ratio bound."""
    at, total = 0, 0
    while at < len(data):
        frame = _zstd_frame(data, at)
        if frame is None:
            return _ZSTD_MAX_RATIO * len(data)
        size, bound = frame
        total += bound
        at += size
    return total


def _zstd_frame(data: bytes, start: int) -> tuple[int, int] | None:
    def le(at: int, n: int) -> int | None:
        return int.from_bytes(data[at : at + n], "little") if at + n <= len(data) else None

    magic = le(start, 4)
    if magic is None:
        return None
    if magic & 0xFFFFFFF0 == 0x184D2A50:  # skippable frame
        length = le(start + 4, 4)
        if length is None or start + 8 + length > len(data):
            return None
        return 8 + length, 0
    if magic != 0xFD2FB528 or start + 5 > len(data):
        return None
    descriptor = data[start + 4]
    if descriptor & 0x08:  # reserved bit
        return None
    single_segment = bool(descriptor & 0x20)
    if not single_segment and (start + 6 > len(data) or (data[start + 5] >> 3) + 10 > 31):
        return None  # window larger than zstd accepts
    size_bytes = [1 if single_segment else 0, 2, 4, 8][descriptor >> 6]
    at = start + 5 + (0 if single_segment else 1) + [0, 1, 2, 4][descriptor & 3]
    content = le(at, size_bytes) if size_bytes else None
    if size_bytes == 2 and content is not None:
        content += 256
    at += size_bytes
    if at > len(data):
        return None
    blocks = 0
    while True:
        header = le(at, 3)
        if header is None:
            return None
        at += 3
        kind, size = (header >> 1) & 3, header >> 3
        if kind == 3:
            return None
        at += 1 if kind == 1 else size
        if at > len(data):
            return None
        blocks += _ZSTD_BLOCK_MAX if kind == 2 else size
        if header & 1:
            break
    if descriptor & 0x04:  # content checksum
        at += 4
        if at > len(data):
            return None
    return at - start, blocks if content is None else content


class _GuardedStream:
    """A raw file object over a _Decoded source serving an IPC stream to pyarrow one whole
    message at a time, each checked by _ipc_guard first. Whatever does not parse as a
    message (a cut marker, an end-of-stream marker, garbage) is passed on for pyarrow to judge.
    A refused message raises OSError, its reason kept in ``refused``."""

    def __init__(self, source: _Decoded) -> None:
        self.source = source
        self.error: DataFormatError | None = None
        self.refused: str | None = None
        self.closed = False
        self._pending = b""
        self._at = 0
        self._raw = False  # framing given up: pass the rest through
        self._eof = False

    def _take(self, size: int) -> bytes:
        out = []
        while size > 0 and not self._eof:
            try:
                data = self.source.read(min(size, _CHUNK))
            except DataFormatError as exc:
                self.error = exc
                raise OSError(str(exc)) from None
            if not data:
                self._eof = True
                break
            out.append(data)
            size -= len(data)
        return b"".join(out)

    def _next_message(self) -> bytes:
        """The bytes of the next message (checked), or of whatever follows when framing ends."""
        head = self._take(4)
        if len(head) < 4:
            self._raw = True
            return head
        raw = head
        if head == b"\xff\xff\xff\xff":
            more = self._take(4)
            raw += more
            if len(more) < 4:
                self._raw = True
                return raw
            head = more
        meta_length = struct.unpack("<i", head)[0]
        if meta_length <= 0:
            self._raw = True
            return raw
        meta = self._take(meta_length)
        raw += meta
        if len(meta) < meta_length:
            self._raw = True
            return raw
        try:
            body_length = _Table.root(meta).scalar(3, "<q", 0)
        except ValueError:
            self._raw = True
            return raw
        if body_length < 0:
            self._raw = True
            return raw
        body = self._take(body_length)
        if len(body) < body_length:
            self._raw = True
            return raw + body
        reason = _ipc_guard(meta, body_length, lambda offset, length: body[offset : offset + length])
        if reason is not None:
            self.refused = reason
            raise OSError(reason)
        return raw + body

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = 1 << 62
        out = []
        while size > 0:
            if self._at == len(self._pending):
                if self._raw:
                    rest = self._take(min(size, _CHUNK))
                    if not rest:
                        break
                    out.append(rest)
                    size -= len(rest)
                    continue
                self._pending, self._at = self._next_message(), 0
                if not self._pending:
                    break
            chunk = self._pending[self._at : self._at + size]
            self._at += len(chunk)
            size -= len(chunk)
            out.append(chunk)
        return b"".join(out)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True


def _ipc_file_blocks(handle: BinaryIO) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]] | None:
    """(dictionary blocks, record batch blocks) of an IPC file's footer, each (offset,
    metadata length, body length); None when the footer does not parse (pyarrow refuses it)."""
    try:
        size = handle.seek(0, os.SEEK_END)
        if size < 10:
            return None
        handle.seek(size - 10)
        trailer = handle.read(10)
        footer_length = struct.unpack_from("<i", trailer)[0]
        if trailer[4:] != b"ARROW1" or footer_length < 0 or footer_length + 10 > size:
            return None
        handle.seek(size - 10 - footer_length)
        footer = _Table.root(handle.read(footer_length))

        def blocks(index: int) -> list[tuple[int, int, int]]:
            return [
                (
                    _unpack("<q", footer.data, at),
                    _unpack("<i", footer.data, at + 8),
                    _unpack("<q", footer.data, at + 16),
                )
                for at in footer.structs(index, 24) or []
            ]

        return blocks(2), blocks(3)
    except ValueError:
        return None


def _ipc_block_refused(handle: BinaryIO, block: tuple[int, int, int]) -> str | None:
    """_ipc_guard on one block of an IPC file (a block that does not parse is left to pyarrow)."""
    offset, meta_length, body_length = block
    if offset < 0 or meta_length < 8 or body_length < 0:
        return None
    if offset + meta_length + body_length > handle.seek(0, os.SEEK_END):
        return None  # a truncated block: pyarrow refuses it
    handle.seek(offset)
    meta = handle.read(meta_length)
    if len(meta) < meta_length:
        return None
    meta = meta[8:] if meta[:4] == b"\xff\xff\xff\xff" else meta[4:]
    body = offset + meta_length

    def fetch(at: int, length: int) -> bytes:
        handle.seek(body + at)
        return handle.read(length)

    return _ipc_guard(meta, body_length, fetch)


# ---------------------------------------------------------------------------
# Parquet and Arrow IPC


def _spool(path: str, compression: str) -> str:
    """Decompress into a temporary file (Parquet needs random access); caller deletes it."""
    source = _Decoded(path, compression)
    fd, tmp = tempfile.mkstemp(prefix="fast-axolotl-", suffix=".spool")
    try:
        with os.fdopen(fd, "wb") as out:
            while True:
                chunk = source.read()
                if not chunk:
                    break
                out.write(chunk)
    except BaseException:
        os.unlink(tmp)
        raise
    finally:
        source.close()
    return tmp


class _ArrowFiles:
    """Parquet / IPC files: the first file's schema; later files must have the same columns."""

    def __init__(self, paths: list[str], fmt: str, compression: str | None) -> None:
        self.paths = paths
        self.fmt = fmt
        self.compression = compression
        self._opened = [self._open(p) for p in paths[:1]]
        self.schema: pa.Schema = self._opened[0][0] if self._opened else pa.schema([])

    def _open(self, path: str) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        if self.fmt == "parquet":
            return self._open_parquet(path)
        return self._open_ipc(path)

    def _open_parquet(self, path: str) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        # An Arrow file rather than a Python file object: pyarrow reading Parquet through a
        # Python file can hang or abort at interpreter exit (apache/arrow#50482, #34314).
        handle: Any
        if self.compression is not None:
            tmp = _spool(path, self.compression)
            handle = pa.OSFile(tmp)
            os.unlink(tmp)
        else:
            _open_file(path).close()  # the typed errors of a missing or unreadable file
            try:
                handle = pa.OSFile(path)
            except OSError as exc:
                raise DatasetReadError(f"{path}: {exc}", path) from None
        try:
            pf = pq.ParquetFile(handle)
            schema = pf.schema_arrow
        except (pa.ArrowException, OSError, ValueError) as exc:
            handle.close()
            raise _arrow_error(path, exc) from None

        def batches() -> Iterator[pa.RecordBatch]:
            rows = 0
            try:
                for i in range(pf.num_row_groups):
                    try:
                        table = pf.read_row_group(i)
                    except (pa.ArrowException, OSError, ValueError) as exc:
                        raise _arrow_error(path, exc, rows) from None
                    rows += table.num_rows
                    yield from table.to_batches()
            finally:
                handle.close()

        return schema, batches()

    def _open_ipc(self, path: str) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        source = _Decoded(path, self.compression)
        head = b""
        while len(head) < 8:
            more = source.read(8 - len(head))
            if not more:
                break
            head += more
        if head.startswith(b"FEA1"):
            source.close()
            raise UnsupportedFormatError(
                f"{path}: Feather v1 files are not supported (rewrite as Feather v2 / Arrow IPC)"
            )
        is_file = head.startswith(b"ARROW1")
        try:
            if is_file and self.compression is None:
                source.close()
                handle = _open_file(path)
                try:
                    reader = ipc.open_file(handle)
                    blocks = _ipc_file_blocks(handle)
                    for block in blocks[0] if blocks else []:
                        refused = _ipc_block_refused(handle, block)
                        if refused is not None:
                            raise _arrow_error(path, refused)
                except BaseException:
                    handle.close()
                    raise
                schema = reader.schema

                def file_batches() -> Iterator[pa.RecordBatch]:
                    rows = 0
                    try:
                        for i in range(reader.num_record_batches):
                            refused = (
                                _ipc_block_refused(handle, blocks[1][i]) if blocks and i < len(blocks[1]) else None
                            )
                            if refused is not None:
                                raise _arrow_error(path, refused, rows)
                            try:
                                batch = reader.get_batch(i)
                            except (pa.ArrowException, OSError, ValueError) as exc:
                                raise _arrow_error(path, exc, rows) from None
                            rows += batch.num_rows
                            yield batch
                    finally:
                        handle.close()

                return schema, file_batches()
            if not is_file:
                source.close()
                source = _Decoded(path, self.compression)
            stream = _GuardedStream(source)
            try:
                sreader = ipc.open_stream(stream)
            except (pa.ArrowException, OSError, ValueError):
                if stream.refused is not None:
                    raise _arrow_error(path, stream.refused) from None
                raise
            schema = sreader.schema
        except DataFormatError:
            source.close()
            raise
        except (pa.ArrowException, OSError, ValueError) as exc:
            source.close()
            raise _arrow_error(path, exc) from None

        def stream_batches() -> Iterator[pa.RecordBatch]:
            rows = 0
            try:
                while True:
                    try:
                        batch = sreader.read_next_batch()
                    except StopIteration:
                        return
                    except DataFormatError:
                        raise
                    except (pa.ArrowException, OSError, ValueError) as exc:
                        if stream.error is not None:
                            raise stream.error from None
                        if stream.refused is not None:
                            raise _arrow_error(path, stream.refused, rows) from None
                        raise _arrow_error(path, exc, rows) from None
                    rows += batch.num_rows
                    yield batch
            finally:
                source.close()

        return schema, stream_batches()

    def batches(self) -> Iterator[pa.RecordBatch]:
        for index, path in enumerate(self.paths):
            if index == 0:
                schema, batches = self._opened[0]
            else:
                schema, batches = self._open(path)
                if not _same_columns(schema, self.schema):
                    raise SchemaMismatchError(
                        f"{path}: its columns ({schema}) differ from those of {self.paths[0]} ({self.schema})",
                        path,
                        None,
                    )
            yield from self._nulls_checked(path, batches)

    def _nulls_checked(self, path: str, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """A later shard may declare a column nullable that the first declares non-nullable:
        a null there would break the output schema's promise, so it is a SchemaMismatchError."""
        strict = [i for i, field in enumerate(self.schema) if not field.nullable]
        row = 0
        for batch in batches:
            for i in strict:
                column = batch.column(i)
                if column.null_count:
                    first = next(j for j, valid in enumerate(column.is_valid().to_pylist()) if not valid)
                    if first:
                        yield batch.slice(0, first)  # good rows first
                    position = f"row {row + first}"
                    raise SchemaMismatchError(
                        f"{path}: {position}: a null in column {self.schema.field(i).name!r}, "
                        f"non-nullable in {self.paths[0]}",
                        path,
                        position,
                    )
            row += batch.num_rows
            yield batch


# ---------------------------------------------------------------------------
# JSON / JSONL: parsing and type inference (see docs/reading.md)

NULL, BOOL, INT, FLOAT, STR = ("null",), ("bool",), ("int",), ("float",), ("str",)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_RAW_SURROGATE = re.compile("[\udc80-\udcff]")
_JSON_WS = " \t\n\r"


def _skip_ws(text: str, i: int) -> int:
    n = len(text)
    while i < n and text[i] in _JSON_WS:
        i += 1
    return i


def _reject_constant(name: str) -> Any:
    raise _Bad(f"{name} is not valid JSON")


def _parse_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:  # more digits than int() accepts
        raise _Bad(f"integer {text[:20]}... does not fit in int64") from None
    if not _I64_MIN <= value <= _I64_MAX:
        raise _Bad(f"integer {text} does not fit in int64")
    return value


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Bad(f"number {text} overflows float64")
    return value


def _check_strings(value: Any) -> None:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise _Bad("string holds a lone surrogate escape") from None
    elif isinstance(value, list):
        for item in value:
            _check_strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_strings(key)
            _check_strings(item)


def _too_deep(value: Any) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        children = item.values() if isinstance(item, dict) else item
        for child in children:
            if isinstance(child, (list, dict)):
                stack.append((child, depth + 1))
    return False


def _maybe_too_deep(text: str, value: Any) -> bool:
    return text.count("[") + text.count("{") > MAX_DEPTH and isinstance(value, (list, dict)) and _too_deep(value)


def _decode_value(text: str) -> Any:
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_int=_parse_int, parse_float=_parse_float)
    except json.JSONDecodeError as exc:
        raise _Bad(f"invalid JSON: {exc.msg} (column {exc.colno})") from None
    except RecursionError:
        raise _Bad("JSON nested too deeply") from None
    except ValueError as exc:  # int() digit limit
        raise _Bad(f"invalid JSON number: {exc}") from None
    if _SURROGATE_ESCAPE.search(text):
        _check_strings(value)
    if _maybe_too_deep(text, value):
        raise _Bad(f"nested deeper than {MAX_DEPTH} levels")
    return value


def _type_of(value: Any) -> tuple[Any, ...]:
    if value is None:
        return NULL
    if value is True or value is False:
        return BOOL
    if isinstance(value, int):
        return INT
    if isinstance(value, float):
        return FLOAT
    if isinstance(value, str):
        return STR
    if isinstance(value, list):
        item: tuple[Any, ...] = NULL
        for element in value:
            item = _unify(item, _type_of(element), "[]")
        return ("list", item)
    return ("struct", tuple((key, _type_of(item)) for key, item in value.items()))


def _describe(kind: tuple[Any, ...]) -> str:
    return str(_arrow_type(kind))


def _unify(a: tuple[Any, ...], b: tuple[Any, ...], where: str) -> tuple[Any, ...]:
    if a == b:
        return a
    if a is NULL or a == NULL:
        return b
    if b == NULL:
        return a
    if {a[0], b[0]} == {"int", "float"}:
        return FLOAT
    if a[0] == b[0] == "list":
        return ("list", _unify(a[1], b[1], where + "[]"))
    if a[0] == b[0] == "struct":
        fields = dict(a[1])
        for key, kind in b[1]:
            fields[key] = _unify(fields[key], kind, f"{where}.{key}") if key in fields else kind
        return ("struct", tuple(fields.items()))
    raise _Bad(f"column {where!r}: {_describe(b)} does not mix with {_describe(a)}", mismatch=True)


def _unify_row(schema: dict[str, tuple[Any, ...]], row: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    merged = dict(schema)
    for key, value in row.items():
        kind = _type_of_at(value, key)
        merged[key] = _unify(merged[key], kind, key) if key in merged else kind
    return merged


def _type_of_at(value: Any, where: str) -> tuple[Any, ...]:
    try:
        return _type_of(value)
    except _Bad as exc:
        raise _Bad(f"column {where!r}: {exc}", mismatch=True) from None


def _fits(kind: tuple[Any, ...], value: Any, where: str) -> None:
    if value is None:
        return
    tag = kind[0]
    ok = (
        (tag == "bool" and (value is True or value is False))
        or (tag == "int" and isinstance(value, int) and not isinstance(value, bool))
        or (tag == "float" and isinstance(value, (int, float)) and not isinstance(value, bool))
        or (tag == "str" and isinstance(value, str))
    )
    if tag == "list" and isinstance(value, list):
        for element in value:
            _fits(kind[1], element, where + "[]")
        return
    if tag == "struct" and isinstance(value, dict):
        fields = dict(kind[1])
        for key, item in value.items():
            if key not in fields:
                raise _Bad(f"column {where!r}: key {key!r} is not in the inferred struct", mismatch=True)
            _fits(fields[key], item, f"{where}.{key}")
        return
    if not ok:
        raise _Bad(
            f"column {where!r}: value of JSON type {type(value).__name__} does not fit inferred type {_describe(kind)}",
            mismatch=True,
        )


def _fits_row(schema: dict[str, tuple[Any, ...]], row: dict[str, Any]) -> None:
    for key, value in row.items():
        if key not in schema:
            raise _Bad(f"key {key!r} is not a column of the inferred schema", mismatch=True)
        _fits(schema[key], value, key)


def _arrow_type(kind: tuple[Any, ...]) -> pa.DataType:
    tag = kind[0]
    if tag == "null":
        return pa.null()
    if tag == "bool":
        return pa.bool_()
    if tag == "int":
        return pa.int64()
    if tag == "float":
        return pa.float64()
    if tag == "str":
        return pa.string()
    if tag == "list":
        return pa.list_(_arrow_type(kind[1]))
    return pa.struct([pa.field(key, _arrow_type(item)) for key, item in kind[1]])


def _has_float(kind: tuple[Any, ...]) -> bool:
    if kind[0] == "float":
        return True
    if kind[0] == "list":
        return _has_float(kind[1])
    if kind[0] == "struct":
        return any(_has_float(item) for _, item in kind[1])
    return False


def _normalize(kind: tuple[Any, ...], value: Any) -> Any:
    """Ints in float columns become floats (exactly as float(int))."""
    if value is None:
        return None
    tag = kind[0]
    if tag == "float":
        return float(value)
    if tag == "list":
        return [_normalize(kind[1], v) for v in value]
    if tag == "struct":
        return {key: _normalize(item, value.get(key)) for key, item in kind[1]}
    return value


class _Records:
    """Shared driver of the record formats: inference over the first INFER_ROWS accepted
    records, then validation of every later record, then column building."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.skip = reader.on_error == "skip"
        self._source = self.records()
        self._buffer: list[Any] = []
        # An error met during inference after some good records: raised once they are delivered.
        self._pending: FastAxolotlError | None = None
        self._infer()

    def records(self) -> Iterator[tuple[str, str, Any]]:  # (path, position, raw record)
        raise NotImplementedError

    def _infer(self) -> None:
        raise NotImplementedError

    def _fail(self, bad: _Bad, path: str, position: str) -> None:
        if self.skip:
            self.reader.skipped += 1
            return
        raise _record_error(bad, path, position)

    def _prefix(self) -> Iterator[tuple[str, str, Any]]:
        """The source during inference. An error (a bad record under on_error="raise", or a
        fatal one from the source) ends the prefix: the schema is inferred from the good records
        before it, which are delivered, then the error. Opening fails only when no good
        record precedes it."""
        try:
            # Not ``yield from``: when inference stops early this generator is closed, and
            # ``yield from`` would close the source with it; rows() reads the rest of the source.
            for item in self._source:  # noqa: UP028 (see above)
                yield item
        except FastAxolotlError as exc:
            if not self._buffer:
                raise
            self._pending = exc

    def _reject(self, bad: _Bad, path: str, position: str) -> bool:
        """A bad record during inference: True when skipped (go on), False when it ends the
        prefix (kept in ``_pending``); raised at once when no good record precedes it."""
        if self.skip:
            self.reader.skipped += 1
            return True
        error = _record_error(bad, path, position)
        if not self._buffer:
            raise error
        self._pending = error
        return False

    def _buffered(self) -> Iterator[Any]:
        """The inference prefix's records, then the error that ended it, if any."""
        yield from self._buffer
        self._buffer = []
        if self._pending is not None:
            raise self._pending

    def _chunks(self, rows: Iterator[Any]) -> Iterator[list[Any]]:
        """Rows in lists of batch_size; the rows before an error come out first."""
        chunk: list[Any] = []
        try:
            for row in rows:
                chunk.append(row)
                if len(chunk) >= self.reader.batch_size:
                    yield chunk
                    chunk = []
        except FastAxolotlError:
            if chunk:
                yield chunk
            raise
        if chunk:
            yield chunk


class _JsonRecords(_Records):
    def records(self) -> Iterator[tuple[str, str, Any]]:
        reader = self.reader
        if reader.format == "jsonl":
            for path in reader.paths:
                for number, line in _lines(path, reader.compression):
                    if not line.strip(b" \t\r"):
                        continue
                    yield path, f"line {number}", line
        else:
            for path in reader.paths:
                yield from self._array(path)

    def _array(self, path: str) -> Iterator[tuple[str, str, Any]]:
        """The elements of a top-level array, one at a time, in the order a streaming
        parser meets them: a syntax error in element N is raised after elements < N were
        processed (the native reader streams the document)."""
        data = _read_all(path, self.reader.compression)
        text = data.decode("utf-8", "surrogateescape")  # invalid bytes: checked per element
        decoder = json.JSONDecoder(
            parse_constant=_fatal_constant,
            parse_int=lambda s: ("int", s),
            parse_float=lambda s: ("float", s),
        )
        deep = text.count("[") + text.count("{") > MAX_DEPTH
        n = len(text)

        def fatal(message: str, position: str | None) -> DataFormatError:
            where = f"{position}: " if position else ""
            return DataFormatError(f"{path}: {where}{message}", path, position)

        i = _skip_ws(text, 0)
        if i >= n or text[i] != "[":
            raise fatal("a .json file must hold a top-level array of objects", None)
        i = _skip_ws(text, i + 1)
        if i < n and text[i] == "]":
            if _skip_ws(text, i + 1) != n:
                raise fatal("extra data after the top-level array", None)
            return
        index = 0
        while True:
            if i >= n:
                raise fatal("unexpected end of input inside the array", None)
            index += 1
            row = f"row {index}"
            try:
                element, end = decoder.raw_decode(text, i)
            except (ValueError, RecursionError) as exc:  # JSONDecodeError, NaN/Infinity
                raise fatal(f"invalid JSON: {exc}", row) from None
            chunk = text[i:end]
            if _RAW_SURROGATE.search(chunk):
                raise fatal("invalid UTF-8", row)
            if _SURROGATE_ESCAPE.search(chunk) and _has_surrogate(element):
                raise fatal("invalid JSON: lone surrogate escape", row)
            if deep and isinstance(element, (list, dict)) and _too_deep(element):
                raise fatal(f"invalid JSON: nested deeper than {MAX_DEPTH} levels", row)
            yield path, row, element
            i = _skip_ws(text, end)
            if i < n and text[i] == ",":
                i = _skip_ws(text, i + 1)
                continue
            if i < n and text[i] == "]":
                if _skip_ws(text, i + 1) != n:
                    raise fatal("extra data after the top-level array", None)
                return
            raise fatal("expected ',' or ']' after an array element", row)

    def _decode(self, raw: Any) -> dict[str, Any]:
        if isinstance(raw, bytes):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise _Bad("invalid UTF-8") from None
            value = _decode_value(text)
        else:
            value = _restore(raw)
        if not isinstance(value, dict):
            raise _Bad(f"expected a JSON object, found {type(value).__name__}")
        return value

    def _infer(self) -> None:
        schema: dict[str, tuple[Any, ...]] = {}
        prefix = self._prefix()
        for path, position, raw in prefix:
            try:
                row = self._decode(raw)
                schema = _unify_row(schema, row)
            except _Bad as bad:
                if self._reject(bad, path, position):
                    continue
                break
            self._buffer.append(row)
            if len(self._buffer) >= INFER_ROWS:
                break
        self.kinds = schema
        self.schema = pa.schema([pa.field(k, _arrow_type(v)) for k, v in schema.items()])
        self._floaty = {k: _has_float(v) for k, v in schema.items()}

    def rows(self) -> Iterator[dict[str, Any]]:
        yield from self._buffered()
        for path, position, raw in self._source:
            try:
                row = self._decode(raw)
                _fits_row(self.kinds, row)
            except _Bad as bad:
                self._fail(bad, path, position)
                continue
            yield row

    def batches(self) -> Iterator[pa.RecordBatch]:
        for chunk in self._chunks(self.rows()):
            yield self._build(chunk)

    def _build(self, rows: list[dict[str, Any]]) -> pa.RecordBatch:
        arrays = []
        for field in self.schema:
            kind = self.kinds[field.name]
            values = [row.get(field.name) for row in rows]
            if self._floaty[field.name]:
                values = [_normalize(kind, v) for v in values]
            arrays.append(pa.array(values, type=field.type))
        return _with_rows(arrays, self.schema, len(rows))


def _fatal_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _restore(value: Any) -> Any:
    """Undo the number hooks of the whole-document parse, checking numbers per element."""
    if isinstance(value, tuple):
        kind, text = value
        return _parse_int(text) if kind == "int" else _parse_float(text)
    if isinstance(value, list):
        return [_restore(v) for v in value]
    if isinstance(value, dict):
        return {k: _restore(v) for k, v in value.items()}
    return value


def _has_surrogate(value: Any) -> bool:
    try:
        _check_strings(value)
    except _Bad:
        return True
    return False


# ---------------------------------------------------------------------------
# CSV / TSV (one grammar, see docs/reading.md) and text

_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_BOOLS = {"true": True, "false": False, "True": True, "False": False}


def _is_int(text: str) -> bool:
    return _INT.fullmatch(text) is not None and _I64_MIN <= int(text) <= _I64_MAX


def _is_float(text: str) -> bool:
    return _FLOAT.fullmatch(text) is not None and math.isfinite(float(text))


def _csv_records(path: str, compression: str | None, delimiter: bytes) -> Iterator[tuple[int, list[bytes]]]:
    """(start line, raw fields) of each record; blank lines are skipped.

    States: 0 start of record, 1 start of field, 2 unquoted field, 3 quoted field,
    4 quote inside a quoted field."""
    delim = delimiter[0]
    state = 0
    fields: list[bytes] = []
    field = bytearray()
    start = 0
    for number, line in _lines(path, compression):
        if state == 0 and 34 not in line and 13 not in line:
            if line:
                yield number, line.split(delimiter)
            continue
        for byte in line + b"\n":
            if state == 0:
                if byte == 13 or byte == 10:
                    continue
                start = number
                state = 1
            if state == 1:
                if byte == 34:
                    state = 3
                elif byte == delim:
                    fields.append(b"")
                elif byte == 13 or byte == 10:
                    fields.append(b"")
                    yield start, fields
                    fields, state = [], 0
                else:
                    field.append(byte)
                    state = 2
            elif state == 2:
                if byte == delim:
                    fields.append(bytes(field))
                    field.clear()
                    state = 1
                elif byte == 13 or byte == 10:
                    fields.append(bytes(field))
                    field.clear()
                    yield start, fields
                    fields, state = [], 0
                else:
                    field.append(byte)
            elif state == 3:
                if byte == 34:
                    state = 4
                else:
                    field.append(byte)
            else:  # state 4
                if byte == 34:
                    field.append(34)
                    state = 3
                elif byte == delim:
                    fields.append(bytes(field))
                    field.clear()
                    state = 1
                elif byte == 13 or byte == 10:
                    fields.append(bytes(field))
                    field.clear()
                    yield start, fields
                    fields, state = [], 0
                else:
                    raise DataFormatError(
                        f"{path}: line {number}: unexpected character after a closing quote",
                        path,
                        f"line {number}",
                    )
    if state == 3:
        raise DataFormatError(f"{path}: line {start}: unterminated quoted field", path, f"line {start}")


class _CsvRecords(_Records):
    def records(self) -> Iterator[tuple[str, str, Any]]:
        reader = self.reader
        delimiter = b"\t" if reader.format == "tsv" else b","
        self.header: list[str] | None = None
        for path in reader.paths:
            first = True
            for number, fields in _csv_records(path, reader.compression, delimiter):
                if first:
                    first = False
                    self._set_header(path, number, fields)
                    continue
                yield path, f"line {number}", fields

    def _set_header(self, path: str, number: int, fields: list[bytes]) -> None:
        try:
            names = [f.decode("utf-8") for f in fields]
        except UnicodeDecodeError:
            raise DataFormatError(
                f"{path}: line {number}: invalid UTF-8 in the header", path, f"line {number}"
            ) from None
        if len(set(names)) != len(names):
            raise DataFormatError(
                f"{path}: line {number}: duplicate column names in the header", path, f"line {number}"
            )
        if self.header is None:
            self.header = names
        elif names != self.header:
            raise SchemaMismatchError(
                f"{path}: line {number}: header {names} differs from the first file's {self.header}",
                path,
                f"line {number}",
            )

    def _decode(self, fields: list[bytes]) -> list[str]:
        assert self.header is not None
        if len(fields) != len(self.header):
            raise _Bad(f"expected {len(self.header)} fields, found {len(fields)}")
        try:
            return [f.decode("utf-8") for f in fields]
        except UnicodeDecodeError:
            raise _Bad("invalid UTF-8") from None

    def _infer(self) -> None:
        ints: list[bool] = []
        floats: list[bool] = []
        bools: list[bool] = []
        seen: list[bool] = []
        prefix = self._prefix()
        for path, position, raw in prefix:
            try:
                row = self._decode(raw)
            except _Bad as bad:
                if self._reject(bad, path, position):
                    continue
                break
            if not seen:
                n = len(row)
                ints, floats, bools, seen = [True] * n, [True] * n, [True] * n, [False] * n
            for i, text in enumerate(row):
                if text == "":
                    continue
                seen[i] = True
                if ints[i] and not _is_int(text):
                    ints[i] = False
                if floats[i] and not _is_float(text):
                    floats[i] = False
                if bools[i] and text not in _BOOLS:
                    bools[i] = False
            self._buffer.append(row)
            if len(self._buffer) >= INFER_ROWS:
                break
        names = self.header or []
        kinds = []
        for i in range(len(names)):
            if not seen or not seen[i]:
                kinds.append(pa.string())
            elif ints[i]:
                kinds.append(pa.int64())
            elif floats[i]:
                kinds.append(pa.float64())
            elif bools[i]:
                kinds.append(pa.bool_())
            else:
                kinds.append(pa.string())
        self.schema = pa.schema([pa.field(n, t) for n, t in zip(names, kinds, strict=True)])

    def _convert(self, row: list[str]) -> list[Any]:
        out: list[Any] = []
        for text, field in zip(row, self.schema, strict=True):
            kind = field.type
            if text == "":
                out.append(None)
            elif kind == pa.string():
                out.append(text)
            elif kind == pa.int64():
                if not _is_int(text):
                    raise _Bad(f"column {field.name!r}: {text!r} is not an int64", mismatch=True)
                out.append(int(text))
            elif kind == pa.float64():
                if not _is_float(text):
                    raise _Bad(f"column {field.name!r}: {text!r} is not a float64", mismatch=True)
                out.append(float(text))
            else:
                if text not in _BOOLS:
                    raise _Bad(f"column {field.name!r}: {text!r} is not a bool", mismatch=True)
                out.append(_BOOLS[text])
        return out

    def rows(self) -> Iterator[list[Any]]:
        for row in self._buffered():
            yield self._convert(row)
        for path, position, raw in self._source:
            try:
                row = self._convert(self._decode(raw))
            except _Bad as bad:
                self._fail(bad, path, position)
                continue
            yield row

    def batches(self) -> Iterator[pa.RecordBatch]:
        for chunk in self._chunks(self.rows()):
            yield self._build(chunk)

    def _build(self, rows: list[list[Any]]) -> pa.RecordBatch:
        arrays = [pa.array([row[i] for row in rows], type=f.type) for i, f in enumerate(self.schema)]
        return _with_rows(arrays, self.schema, len(rows))


class _Text:
    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.schema = pa.schema([pa.field("text", pa.string())])

    def batches(self) -> Iterator[pa.RecordBatch]:
        chunk: list[str] = []
        try:
            yield from self._lines_into(chunk)
        except FastAxolotlError:
            if chunk:  # good rows first: the lines before the error, then the error
                yield pa.record_batch([pa.array(chunk, pa.string())], schema=self.schema)
            raise
        if chunk:
            yield pa.record_batch([pa.array(chunk, pa.string())], schema=self.schema)

    def _lines_into(self, chunk: list[str]) -> Iterator[pa.RecordBatch]:
        """Batches of full chunks; the lines of the last, partial one are left in ``chunk``."""
        reader = self.reader
        size = 0  # UTF-8 bytes in chunk
        for path in reader.paths:
            for number, line in _lines(path, reader.compression):
                if line.endswith(b"\r"):
                    line = line[:-1]
                try:
                    text = line.decode("utf-8")
                except UnicodeDecodeError:
                    if reader.on_error == "skip":
                        reader.skipped += 1
                        continue
                    raise DataFormatError(f"{path}: line {number}: invalid UTF-8", path, f"line {number}") from None
                if size + len(line) > MAX_LINE:
                    message = (
                        "this batch would hold more than 2 GiB of text (the limit of one Arrow string column): "
                        "use a smaller batch_size"
                    )
                    raise DataFormatError(f"{path}: line {number}: {message}", path, f"line {number}")
                chunk.append(text)
                size += len(line)
                if len(chunk) >= reader.batch_size:
                    yield pa.record_batch([pa.array(chunk, pa.string())], schema=self.schema)
                    chunk.clear()
                    size = 0


# ---------------------------------------------------------------------------
# The kernel


class Reader:
    """Iterator of RecordBatches; opens lazily, on the first ``next()`` or ``schema()``."""

    def __init__(
        self,
        paths: list[str],
        format: str,
        compression: str | None,
        batch_size: int,
        columns: list[str] | None,
        on_error: str,
    ) -> None:
        self.paths = [os.fspath(p) for p in paths]
        self.format = format
        self.compression = compression
        self.batch_size = batch_size
        self.columns = list(columns) if columns is not None else None
        self.on_error = on_error
        self.skipped = 0
        self._aliases: dict[str, str] = {}  # temporary copy of a named pipe -> its path
        self._schema: pa.Schema | None = None
        self._batches: Iterator[pa.RecordBatch] | None = None
        self._done = False
        # One reader may be drained from several threads (as the native one, behind a mutex):
        # a generator entered twice at once raises ValueError.
        self._lock = threading.Lock()

    def _resolve_auto(self) -> None:
        """format/compression "auto" (inputs the public layer could not peek at, such as named
        pipes): a pipe is read once into a temporary file (never reopened), then each input's
        compression and format are sniffed from its head. Errors name the original path."""
        if self.format != "auto" and self.compression != "auto":
            return
        resolved: list[str] = []
        for path in self.paths:
            if os.path.exists(path) and not os.path.isfile(path) and not os.path.isdir(path):
                copy = _spool_stream(path)
                self._aliases[copy] = path
                path = copy
            resolved.append(path)
        self.paths = resolved
        if self.compression == "auto":
            found = {_sniff_compression(path) for path in resolved}
            if len(found) > 1:
                shown = self._aliases.get(resolved[0], resolved[0])
                raise InvalidArgumentError(f"{shown}: inputs with different compressions in one read")
            self.compression = found.pop() if found else None
        if self.format == "auto":
            formats = {_sniff_format(path, self.compression, self._aliases.get(path, path)) for path in resolved}
            if len(formats) > 1:
                shown = self._aliases.get(resolved[0], resolved[0])
                raise UnsupportedFormatError(f"{shown}: inputs of different formats ({sorted(formats)}) in one read")
            self.format = formats.pop() if formats else "jsonl"

    def _renamed(self, exc: FastAxolotlError) -> FastAxolotlError:
        """``exc`` naming the original path of a spooled pipe instead of its temporary copy."""
        path = getattr(exc, "path", None)
        if path not in self._aliases:
            return exc
        original = self._aliases[path]
        renamed = type(exc)(str(exc).replace(path, original), original, getattr(exc, "position", None))  # type: ignore[call-arg]
        return renamed

    def _open(self) -> None:
        if self._batches is not None:
            return
        self._resolve_auto()
        source: Any
        if self.format in ("parquet", "arrow", "feather"):
            source = _ArrowFiles(self.paths, self.format, self.compression)
        elif self.format in ("jsonl", "json"):
            source = _JsonRecords(self)
        elif self.format in ("csv", "tsv"):
            source = _CsvRecords(self)
        else:
            source = _Text(self)
        full: pa.Schema = source.schema.remove_metadata()
        indices = _project(full, self.columns)
        schema = full if indices is None else pa.schema([full.field(i) for i in indices])
        if any("\x00" in name for name in _all_names(schema)):
            # Arrow's C data interface carries names as C strings, so the native reader
            # cannot hand such a schema over; both implementations refuse it the same way.
            raise DataFormatError(f"{self.paths[0]}: a column name holds a NUL character", self.paths[0])
        self._schema = schema

        def projected() -> Iterator[pa.RecordBatch]:
            for batch in source.batches():
                if batch.num_rows == 0:
                    continue
                if indices is not None:
                    arrays = [batch.column(i) for i in indices]
                else:
                    arrays = batch.columns
                yield _with_rows(list(arrays), schema, batch.num_rows)

        self._batches = _rebatch(projected(), self.batch_size)

    def schema(self) -> pa.Schema:
        with self._lock:
            if self._schema is None:
                try:
                    self._open()
                except FastAxolotlError as exc:
                    self._done = True
                    raise self._renamed(exc) from None
                except BaseException:
                    self._done = True
                    raise
            assert self._schema is not None
            return self._schema

    def __iter__(self) -> Reader:
        return self

    def __next__(self) -> pa.RecordBatch:
        with self._lock:
            if self._done:
                raise StopIteration
            try:
                self._open()
                assert self._batches is not None
                return next(self._batches)
            except FastAxolotlError as exc:
                self._done = True
                raise self._renamed(exc) from None
            except BaseException:
                self._done = True
                raise


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


def _all_names(schema: pa.Schema) -> list[str]:
    """Every field name, nested fields included."""
    names: list[str] = []
    stack = list(schema)
    while stack:
        field = stack.pop()
        names.append(field.name)
        kind = field.type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        stack.extend(kind.field(i) for i in range(kind.num_fields))
    return names


def open_reader(
    paths: list[str],
    format: str,
    compression: str | None,
    batch_size: int,
    columns: list[str] | None,
    on_error: str,
    num_threads: int = 0,
) -> Reader:
    del num_threads  # the reference decodes on the caller's thread
    return Reader(paths, format, compression, batch_size, columns, on_error)
