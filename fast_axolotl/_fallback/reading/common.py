"""Shared limits and the record-level error type of the reference readers."""

from __future__ import annotations

from ...errors import (
    DataFormatError,
    SchemaMismatchError,
)

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
