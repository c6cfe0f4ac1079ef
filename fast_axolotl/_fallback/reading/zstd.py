"""Walking zstd frame headers: frame ends and decoded-size bounds, without decoding."""

from __future__ import annotations

_ZSTD_BLOCK_MAX = 128 * 1024
_ZSTD_MAX_RATIO = _ZSTD_BLOCK_MAX // 4


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
