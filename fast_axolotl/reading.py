"""Streaming readers for training-data files: Parquet, Arrow IPC / Feather v2, Hugging Face
``save_to_disk`` directories, JSON Lines, JSON arrays, CSV, TSV and text, each optionally
gzip- or zstd-compressed.

Paths are resolved and arguments validated here, once; the kernel (native or reference,
see ``_backend``) decodes. Both kernels yield identical batches: exactly ``batch_size`` rows
each (the last may be shorter), columns in file order (or ``columns=`` order). The exact
rules (type inference, CSV grammar, errors) are in ``docs/reading.md``.
"""

from __future__ import annotations

import glob as _glob
import gzip
import json
import os
import stat
import warnings
from collections.abc import Iterator, Sequence
from typing import Any, overload

import pyarrow as pa

from . import _backend
from ._compat import UNSET, renamed
from ._inputs import check_int
from .errors import (
    ArgumentTypeError,
    DataFormatError,
    DatasetNotFoundError,
    DatasetReadError,
    InvalidArgumentError,
    UnsupportedFormatError,
)

__all__ = [
    "FORMATS",
    "COMPRESSIONS",
    "BatchReader",
    "list_supported_formats",
    "list_supported_compressions",
    "detect_format",
    "read_batches",
    "read_table",
    "to_table",
    "streaming_dataset_reader",
]

#: Base formats, in the order :func:`list_supported_formats` returns them.
FORMATS = ("parquet", "arrow", "feather", "hf_dataset", "jsonl", "json", "csv", "tsv", "text")
#: Compressions any file format may be wrapped in (``None`` = uncompressed).
COMPRESSIONS = ("gzip", "zstd")
#: The compressed combinations fast-axolotl 0.2.0 listed (each reads, on both implementations;
#: every other base format may be compressed too).
COMPRESSED_FORMATS = tuple(
    f"{base}.{suffix}" for base in ("parquet", "arrow", "json", "jsonl", "csv", "text") for suffix in ("zst", "gz")
)

_EXTENSIONS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".arrow": "arrow",
    ".ipc": "arrow",
    ".feather": "feather",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".txt": "text",
}
_COMPRESSION_SUFFIXES = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd"}
_COMPRESSION_ALIASES = {"gz": "gzip", "gzip": "gzip", "zst": "zstd", "zstd": "zstd"}
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_DEFAULT_TABLE_BATCH = 65536


def list_supported_formats() -> list[str]:
    """The base formats ``format=`` accepts (besides ``"auto"``), then the compressed
    combinations fast-axolotl 0.2.0 listed (``"parquet.zst"``, ``"parquet.gz"``, ...,
    ``"text.gz"``). Every base format may be gzip- or zstd-compressed (see
    :func:`list_supported_compressions`); a format string may carry the compression as a
    suffix, e.g. ``"jsonl.gz"`` or ``"csv.zstd"``."""
    return [*FORMATS, *COMPRESSED_FORMATS]


def list_supported_compressions() -> list[str]:
    """``["gzip", "zstd"]``: the compressions detected by suffix or magic bytes."""
    return list(COMPRESSIONS)


# ---------------------------------------------------------------------------
# Detection


def _fspath(path: Any, what: str = "path") -> str:
    if isinstance(path, bytes):
        return os.fsdecode(path)
    if isinstance(path, (str, os.PathLike)):
        return os.fspath(path)
    raise ArgumentTypeError(f"{what} must be a str or os.PathLike, got {type(path).__name__}")


def _head(path: str, compression: str | None, size: int = 8) -> bytes:
    """The first ``size`` bytes of the (decompressed) file, for magic-byte detection."""
    try:
        if compression is None:
            with open(path, "rb") as f:
                return f.read(size)
        if compression == "gzip":
            with gzip.open(path, "rb") as g:
                return g.read(size)
        with pa.input_stream(path, compression="zstd") as z:
            return bytes(z.read(size))
    except FileNotFoundError:
        raise DatasetNotFoundError(f"{path}: no such file or directory", path) from None
    except (OSError, EOFError, pa.ArrowException) as exc:
        if compression is None:
            raise DatasetReadError(f"{path}: {getattr(exc, 'strerror', None) or exc}", path) from None
        raise DataFormatError(f"{path}: bad {compression} data: {exc}", path, None) from None


def _first_json_byte(path: str, compression: str | None) -> bytes:
    head = _head(path, compression, 4096)
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    stripped = head.lstrip(b" \t\r\n")
    return stripped[:1]


def _detect_file(path: str) -> tuple[str, str | None]:
    name = os.path.basename(path).lower()
    stem, ext = os.path.splitext(name)
    suffix_compression = _COMPRESSION_SUFFIXES.get(ext)
    if suffix_compression is not None:
        ext = os.path.splitext(stem)[1]
    magic = _head(path, None, 4)
    compression: str | None
    if magic.startswith(_GZIP_MAGIC):
        compression = "gzip"
    elif magic.startswith(_ZSTD_MAGIC):
        compression = "zstd"
    else:
        compression = suffix_compression
    fmt = _EXTENSIONS.get(ext)
    if fmt == "json":
        # HF's json loader reads JSON Lines from .json files too: sniff the first byte.
        if _first_json_byte(path, compression) == b"{":
            fmt = "jsonl"
    if fmt is not None:
        return fmt, compression
    head = _head(path, compression, 8)
    if head.startswith(b"PAR1"):
        return "parquet", compression
    if head.startswith(b"ARROW1") or head.startswith(b"\xff\xff\xff\xff"):
        return "arrow", compression
    if head.startswith(b"FEA1"):
        raise UnsupportedFormatError(f"{path}: Feather v1 files are not supported (rewrite as Feather v2)")
    raise UnsupportedFormatError(
        f"{path}: cannot tell the format from the name or the content; pass format= (one of {', '.join(FORMATS)})"
    )


def _is_stream(path: str) -> bool:
    """A named pipe, a device, ``/dev/stdin``: bytes that can be read once, in order. Their
    head is never peeked here (that would consume it): the kernel sniffs it from the one
    open stream (``format``/``compression`` ``"auto"``)."""
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _stream_format(streams: Sequence[str]) -> str:
    """The format of pipes by their names alone, else ``"auto"`` (told by the content)."""
    named = {_detect_by_name(p) for p in streams}
    if len(named) == 1 and None not in named:
        return next(iter(named))[0]  # type: ignore[index]
    return "auto"


def _is_hf_dir(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "state.json")) or os.path.isfile(os.path.join(path, "dataset_info.json"))


def _shards(path: str) -> list[str]:
    names = sorted(
        n for n in os.listdir(path) if not n.startswith((".", "_")) and os.path.isfile(os.path.join(path, n))
    )
    return [os.path.join(path, n) for n in names]


def _hf_shards(path: str) -> list[str]:
    state = os.path.join(path, "state.json")
    if os.path.isfile(state):
        try:
            with open(state, encoding="utf-8") as f:
                files = json.load(f)["_data_files"]
            shards = [os.path.join(path, entry["filename"]) for entry in files]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DataFormatError(f"{state}: not a valid datasets state.json: {exc}", state, None) from None
    else:
        shards = [p for p in _shards(path) if p.endswith(".arrow")]
    for shard in shards:
        if not os.path.exists(shard):
            raise DatasetNotFoundError(f"{shard}: no such file (listed by {path})", shard)
    return shards


def _check_dir(path: str) -> None:
    if os.path.isfile(os.path.join(path, "dataset_dict.json")):
        raise UnsupportedFormatError(
            f"{path} is a DatasetDict directory; pass one split's subdirectory (e.g. {os.path.join(path, 'train')})"
        )


def _detect_by_name(path: str) -> tuple[str, str | None] | None:
    """``(format, compression)`` from the name alone (0.2.0's suffix rules), or None."""
    stem, ext = os.path.splitext(os.path.basename(path).lower())
    compression = _COMPRESSION_SUFFIXES.get(ext)
    if compression is not None:
        ext = os.path.splitext(stem)[1]
    fmt = _EXTENSIONS.get(ext)
    return None if fmt is None else (fmt, compression)


@overload
def detect_format(path: str | os.PathLike[str]) -> tuple[str, str | None]: ...
@overload
def detect_format(*, file_path: str | os.PathLike[str]) -> tuple[str, str | None]: ...
def detect_format(path: Any = UNSET, *, file_path: Any = UNSET) -> tuple[str, str | None]:
    """``(format, compression)`` of a file or directory, by name, then by content.

    ``compression`` is ``"gzip"``, ``"zstd"`` or ``None``. A ``save_to_disk`` directory
    is ``("hf_dataset", None)``; a directory of shards is their common format. An
    existing file's bytes win over its name (a gzip file named ``.jsonl`` is
    ``("jsonl", "gzip")``). A path that does not exist is judged by its name alone
    (``"data.jsonl.zst"`` is ``("jsonl", "zstd")``), as fast-axolotl 0.2.0 did.
    Raises :class:`UnsupportedFormatError` when it cannot tell from an existing file
    (never guesses), :class:`DatasetNotFoundError` for a missing path whose name does
    not tell the format, :class:`InvalidArgumentError` for an empty path.
    ``file_path=`` is the 0.2.0 name of ``path``."""
    p = _fspath(renamed("detect_format", "path", path, "file_path", file_path))
    if not p:
        raise InvalidArgumentError("path is empty")
    if _is_stream(p) and not os.path.isdir(p):
        by_name = _detect_by_name(p)
        if by_name is not None:
            return by_name
        raise UnsupportedFormatError(
            f"{p}: a pipe or device, whose content cannot be looked at without consuming it; "
            "its name does not tell the format (read_batches(format='auto') reads it and tells)"
        )
    if not os.path.exists(p):
        by_name = _detect_by_name(p)
        if by_name is not None:
            return by_name
        raise DatasetNotFoundError(f"{p}: no such file or directory (and the name does not tell the format)", p)
    if os.path.isdir(p):
        _check_dir(p)
        if _is_hf_dir(p):
            return "hf_dataset", None
        files = _shards(p)
        if not files:
            raise DatasetNotFoundError(f"{p}: the directory holds no data files", p)
        return _common(files)
    return _detect_file(p)


def _common(files: Sequence[str]) -> tuple[str, str | None]:
    kinds = {f: _detect_file(f) for f in files}
    distinct = set(kinds.values())
    if len(distinct) > 1:
        detail = ", ".join(f"{os.path.basename(f)}: {k[0]}{'.' + k[1] if k[1] else ''}" for f, k in kinds.items())
        raise UnsupportedFormatError(f"the files mix formats or compressions ({detail})")
    return next(iter(distinct))


# ---------------------------------------------------------------------------
# Resolution of path / format arguments


def _parse_format(format: Any) -> tuple[str, str | None, bool]:
    """(base format or "auto", compression, compression given explicitly)."""
    if not isinstance(format, str):
        raise ArgumentTypeError(f"format must be a str, got {type(format).__name__}")
    value = format.strip().lower() or "auto"
    if value == "auto":
        return "auto", None, False
    base, _, comp = value.partition(".")
    if base not in FORMATS or (comp and comp not in _COMPRESSION_ALIASES):
        raise UnsupportedFormatError(
            f"unsupported format {format!r}: use 'auto' or one of {', '.join(FORMATS)}, "
            f"optionally with a compression suffix ('.gz', '.zst')"
        )
    return base, _COMPRESSION_ALIASES.get(comp) if comp else None, bool(comp)


def _expand(entry: Any) -> list[tuple[str, bool]]:
    """Files named by one path entry: (file, from a save_to_disk dir)."""
    p = _fspath(entry, "path")
    if not p:
        raise InvalidArgumentError("path is empty")
    if os.path.isdir(p):
        _check_dir(p)
        if _is_hf_dir(p):
            return [(s, True) for s in _hf_shards(p)]
        files = _shards(p)
        if not files:
            raise DatasetNotFoundError(f"{p}: the directory holds no data files", p)
        return [(f, False) for f in files]
    if os.path.exists(p):
        return [(p, False)]
    if any(c in p for c in "*?["):
        matches = sorted(m for m in _glob.glob(p, recursive=True) if os.path.isfile(m))
        if not matches:
            raise DatasetNotFoundError(f"{p}: the pattern matches no file", p)
        return [(m, False) for m in matches]
    raise DatasetNotFoundError(f"{p}: no such file or directory", p)


def _resolve(path: Any, format: Any) -> tuple[list[str], str, str | None]:
    base, compression, explicit = _parse_format(format)
    if isinstance(path, (list, tuple)):
        if not path:
            raise InvalidArgumentError("path is an empty list")
        entries = list(path)
    else:
        entries = [path]
    files: list[tuple[str, bool]] = []
    for entry in entries:
        files.extend(_expand(entry))
    paths = [f for f, _ in files]
    if base == "hf_dataset":
        if not all(hf for _, hf in files):
            raise InvalidArgumentError("format='hf_dataset' needs save_to_disk directories")
        base = "arrow"
    streams = [f for f in paths if _is_stream(f)]
    if streams:
        # Pipes are read once: nothing here may look at their bytes. The kernel tells their
        # compression (and, when the names do not, their format) from the one open stream.
        regular = [f for f in paths if f not in streams]
        if base == "auto":
            base = _common(regular)[0] if regular else _stream_format(streams)
        if not explicit:
            compression = "auto"
    elif base == "auto":
        if all(hf for _, hf in files):
            base, compression = ("arrow", None) if not paths else _common(paths)
        else:
            base, compression = _common(paths)
    elif not explicit:
        compressions: set[str | None] = set()
        for f in paths:
            magic = _head(f, None, 4)
            if magic.startswith(_GZIP_MAGIC):
                compressions.add("gzip")
            elif magic.startswith(_ZSTD_MAGIC):
                compressions.add("zstd")
            else:
                ext = os.path.splitext(f.lower())[1]
                compressions.add(_COMPRESSION_SUFFIXES.get(ext))
        if len(compressions) > 1:
            raise UnsupportedFormatError("the files mix compressions; pass format='<format>.<compression>'")
        compression = compressions.pop() if compressions else None
    if base == "feather":
        base = "arrow"
    return paths, base, compression


def _check_columns(columns: Any) -> list[str] | None:
    if columns is None:
        return None
    if isinstance(columns, (str, bytes)) or not isinstance(columns, Sequence):
        raise ArgumentTypeError("columns must be a list of column names")
    out = []
    for name in columns:
        if not isinstance(name, str):
            raise ArgumentTypeError(f"columns must hold str, found {type(name).__name__}")
        out.append(name)
    if not out:
        raise InvalidArgumentError("columns must name at least one column (or be None)")
    if len(set(out)) != len(out):
        raise InvalidArgumentError("columns names a column twice")
    return out


def _check_on_error(on_error: Any) -> str:
    if on_error not in ("raise", "skip"):
        raise InvalidArgumentError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    return str(on_error)


# ---------------------------------------------------------------------------
# The iterator


class BatchReader:
    """Iterator of ``pyarrow.RecordBatch``. ``schema`` is the output schema (opening the
    input if needed); ``skipped`` counts the records ``on_error="skip"`` dropped so far.
    When iteration ends with ``skipped > 0`` a ``RuntimeWarning`` says how many."""

    def __init__(self, kernel: Any, paths: list[str]) -> None:
        self._kernel = kernel
        self.paths = paths
        self._warned = False

    @property
    def skipped(self) -> int:
        return int(self._kernel.skipped)

    @property
    def schema(self) -> pa.Schema:
        schema = self._kernel.schema()
        return schema if isinstance(schema, pa.Schema) else pa.schema(schema)

    def __iter__(self) -> BatchReader:
        return self

    def __next__(self) -> pa.RecordBatch:
        try:
            batch = next(self._kernel)
        except StopIteration:
            if self.skipped and not self._warned:
                self._warned = True
                warnings.warn(
                    f"fast_axolotl: skipped {self.skipped} malformed record(s) (on_error='skip')",
                    RuntimeWarning,
                    stacklevel=2,
                )
            raise
        return batch if isinstance(batch, pa.RecordBatch) else pa.record_batch(batch)


def _check_row_groups(row_groups: Any) -> tuple[int, int] | None:
    if row_groups is None:
        return None
    if not isinstance(row_groups, range) or row_groups.step != 1:
        raise ArgumentTypeError(f"row_groups must be a range of row group indices (step 1), got {row_groups!r}")
    if row_groups.start < 0:
        raise InvalidArgumentError(f"row_groups must start at 0 or later, got {row_groups!r}")
    return (row_groups.start, max(row_groups.start, row_groups.stop))


def _open(
    path: Any, format: Any, batch_size: Any, columns: Any, on_error: Any, num_threads: Any = 0, row_groups: Any = None
) -> BatchReader:
    size = check_int("batch_size", batch_size, minimum=1)
    assert size is not None
    threads = check_int("num_threads", num_threads, minimum=0)
    assert threads is not None
    cols = _check_columns(columns)
    mode = _check_on_error(on_error)
    groups = _check_row_groups(row_groups)
    paths, base, compression = _resolve(path, format)
    kernel = _backend.kernels().open_reader(paths, base, compression, size, cols, mode, threads, groups)
    return BatchReader(kernel, paths)


def read_batches(
    path: Any,
    *,
    format: str = "auto",
    batch_size: int = 1000,
    columns: Sequence[str] | None = None,
    on_error: str = "raise",
    num_threads: int = 0,
    row_groups: range | None = None,
) -> BatchReader:
    """Lazily read ``path`` as ``pyarrow.RecordBatch`` es of exactly ``batch_size`` rows.

    ``path``: a file, a directory of shards, a ``save_to_disk`` directory, a glob, or a
    list of these (read in order; directories and globs in sorted order). Arguments and
    paths are checked now; files are opened on the first ``next()``. ``num_threads``:
    threads of the shared pool decoding ahead (Parquet row groups, chunks of JSON lines);
    0 = :func:`fast_axolotl.thread_count`, 1 = decode on the calling thread only.
    ``row_groups``: one Parquet file only, a ``range`` of its row groups (error positions
    stay rows of the whole file); a distributed read gives each task a range."""
    return _open(path, format, batch_size, columns, on_error, num_threads, row_groups)


def read_table(
    path: Any,
    *,
    format: str = "auto",
    columns: Sequence[str] | None = None,
    on_error: str = "raise",
    num_threads: int = 0,
    row_groups: range | None = None,
) -> pa.Table:
    """The whole input as one ``pyarrow.Table`` (an empty table with the schema if no rows);
    ``row_groups`` as for :func:`read_batches`."""
    reader = _open(path, format, _DEFAULT_TABLE_BATCH, columns, on_error, num_threads, row_groups)
    batches = list(reader)
    return pa.Table.from_batches(batches, schema=reader.schema)


#: ``to_table`` is another name of :func:`read_table`.
to_table = read_table


def streaming_dataset_reader(
    file_path: Any,
    dataset_type: str | None = "auto",
    batch_size: int = 1000,
    num_threads: int = 0,
    *,
    columns: Sequence[str] | None = None,
) -> Iterator[dict[str, list[Any]]]:
    """The 0.2.0 API: batches as ``{column: list}`` dicts (column order preserved).

    ``dataset_type`` is a format as for :func:`read_batches` (``"auto"``, ``"jsonl"``,
    ``"jsonl.zst"``...; ``""`` and ``None`` also mean auto). ``num_threads`` as for
    :func:`read_batches`. Arguments and paths are checked now: an empty path is an
    :class:`InvalidArgumentError` (a ``ValueError``), a missing file a
    :class:`DatasetNotFoundError` (a ``FileNotFoundError``)."""
    reader = _open(
        file_path, "auto" if dataset_type is None else dataset_type, batch_size, columns, "raise", num_threads
    )
    return (batch.to_pydict() for batch in reader)
