"""Arrow IPC: compressed buffers checked before pyarrow decodes them (rust/core/src/read/ipcguard.rs)."""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from typing import BinaryIO

from ...errors import (
    DataFormatError,
)
from .common import _CHUNK
from .source import _Decoded
from .zstd import _zstd_bound

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
