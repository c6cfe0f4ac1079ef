"""Axolotl's local-file datasets read by fast-axolotl's reader (``dataset_use_rust_streaming``).

Axolotl reads a local file with ``datasets.load_dataset(<type>, data_files=path)``
(``axolotl.utils.data.shared._load_from_local_path``) and, for ``pretraining_dataset`` /
``streaming`` with packing, with ``load_dataset(path, streaming=True)`` inside
``axolotl.utils.data.sft._load_streaming_dataset``. Where the plugin's config asks for it
(:func:`fast_axolotl.should_use_rust_streaming`), this module gives Axolotl the same
``Dataset`` / ``IterableDataset`` from our reader instead.

"The same" is checked, not assumed. ``datasets`` fixes a JSON/Parquet/Arrow dataset's
schema from the first table its builder produces (its first 10 MB chunk for JSON) and
casts every later table to it. So for each file we ask ``datasets`` itself, in streaming
mode (it reads one chunk), for its features and that first table's Arrow types, and use
our reader only if every batch we read has exactly those types; any difference (a type
``datasets`` infers differently, its ``Json`` type for mixed structs, a column that
appears later, an error of ours) sends the file back to Axolotl's own loader, with one
log line saying why. Formats whose values ``datasets`` parses with other rules are never
taken over: CSV (pandas: ``"NA"``, ``"None"``, ``""`` become missing, ints with gaps
become floats), and text that ``str.splitlines`` would split differently from our
reader (``\\r``, ``\\v``, ``\\f``, ``\\x1c-\\x1e``, ``\\x85``, ``\\u2028/9``, a BOM).

A non-streaming dataset is written once, batch by batch, to an Arrow stream file in the
``datasets`` cache (``<HF_DATASETS_CACHE>/fast_axolotl/``, keyed by our version and each
file's path, size and mtime) and memory-mapped, as ``load_dataset`` does with its own
cache, so the peak memory does not grow with the file.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ._core import Target

LOG = logging.getLogger("fast_axolotl.integration")

#: ``datasets`` builder name (Axolotl's ``get_dataset_type``) -> our reader's format.
_OUR_FORMAT = {"json": "json", "parquet": "parquet", "arrow": "arrow", "text": "text"}
_NOT_TAKEN = {
    "csv": "datasets reads CSV with pandas, whose missing-value and dtype rules differ from ours",
}
#: Characters str.splitlines() breaks on that our text reader does not (and a BOM, which
#: datasets keeps in the first line and we drop). CRLF is read alike by both.
_TEXT_DIFFERENCES = re.compile(rb"\r(?!\n)|[\x0b\x0c\x1c-\x1e]|\xc2\x85|\xe2\x80[\xa8\xa9]")
_BATCH_ROWS = 10_000
_LOCK = threading.Lock()
_logged: set[str] = set()


class _Active:
    """The config the plugin saw last (Axolotl's validated ``cfg``)."""

    cfg: Any = None


def set_config(cfg: Any) -> None:
    """Called by the plugin (``register`` and ``load_datasets``) with Axolotl's cfg."""
    _Active.cfg = cfg


def active_config() -> Any:
    return _Active.cfg


def _log_once(key: str, message: str) -> None:
    with _LOCK:
        if key in _logged:
            return
        _logged.add(key)
    LOG.info(message)


def _wanted(paths: Sequence[str]) -> bool:
    cfg = _Active.cfg
    if cfg is None:
        return False
    from .. import should_use_rust_streaming

    return any(should_use_rust_streaming(p, None, cfg) for p in paths)


# --- what datasets would give ----------------------------------------------------


def _datasets_reference(builder: str, files: list[str]) -> tuple[Any, Any]:
    """(features, Arrow schema) ``datasets`` gives ``files``: it fixes them from its
    builder's first table, which streaming mode produces after reading one chunk. The
    features are None where datasets' streaming mode leaves them unknown (a JSON array
    file); a streamed dataset of ours then leaves them unknown too."""
    import datasets
    import pyarrow as pa

    streamed = datasets.load_dataset(builder, data_files=files, split="train", streaming=True)
    first = next(iter(streamed.with_format("arrow").iter(batch_size=1)), None)
    if first is None:
        raise _Refused("datasets yields no rows for it")
    features = streamed.features
    known = features if features is not None else datasets.Features.from_arrow_schema(first.schema)
    return features, pa.schema(list(known.arrow_schema))


class _Refused(Exception):
    """Why a file goes back to Axolotl's loader."""


def _text_differences(path: str) -> str | None:
    import gzip

    opener: Any = gzip.open if path.endswith((".gz", ".gzip")) else open
    if path.endswith((".zst", ".zstd", ".bz2", ".xz", ".lz4")):
        return "a compressed text file whose line breaks we cannot check here"
    tail = b""
    with opener(path, "rb") as fh:
        first = True
        while chunk := fh.read(16 << 20):
            if first and chunk.startswith(b"\xef\xbb\xbf"):
                return "it starts with a BOM (datasets keeps it in the first line)"
            first = False
            window = tail + chunk
            found = _TEXT_DIFFERENCES.search(window)
            # A lone \r at the window's end may be the first half of \r\n: look again with the next chunk.
            if found and not (found.group() == b"\r" and found.end() == len(window)):
                return f"it holds {found.group()!r}, a line break for str.splitlines but not for our reader"
            tail = window[-2:]
    # (A \r that ends the file is dropped by both: our reader, like universal newlines.)
    return None


def _our_format(builder: str, path: str) -> str:
    """Our reader's format for a file ``datasets`` reads with ``builder`` (compression
    by its bytes, as datasets does by its name; a mismatch shows up in the schema check)."""
    from ..reading import detect_format

    base, compression = detect_format(path)
    if builder == "json":
        fmt = base if base in ("json", "jsonl") else "jsonl"
    elif builder == "arrow":
        fmt = base if base in ("arrow", "feather") else "arrow"
    else:
        fmt = _OUR_FORMAT[builder]
    return f"{fmt}.{compression}" if compression else fmt


def _check_schema(ours: Any, expected: Any, where: str) -> None:
    import datasets
    import pyarrow as pa

    mine = pa.schema(list(datasets.Features.from_arrow_schema(ours).arrow_schema))
    if mine.names != expected.names:
        raise _Refused(f"columns {mine.names} where datasets has {expected.names} ({where})")
    for field, other in zip(mine, expected, strict=True):
        if _contains(other.type, _is_null):
            # pyarrow's JSON reader mishandles lists of nulls ([{}, {"a": [null, null]}] gives one row).
            raise _Refused(
                f"column {field.name!r} has no typed value ({other.type}) in datasets' first chunk ({where})"
            )
        if field.type != other.type:
            raise _Refused(f"column {field.name!r} is {field.type} where datasets infers {other.type} ({where})")


def _contains(arrow_type: Any, test: Any) -> bool:
    """Whether ``arrow_type`` or a type nested in it (list items, struct fields) passes ``test``."""
    return bool(test(arrow_type)) or any(
        _contains(arrow_type.field(i).type, test) for i in range(arrow_type.num_fields)
    )


def _is_null(arrow_type: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_null(arrow_type))


def _is_float(arrow_type: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type))


def _check_array_file(schema: Any, path: str) -> None:
    """datasets turns a JSON array file into JSON Lines through ujson, which prints
    floats with 10 significant digits (0.3333333333): our exact floats would differ."""
    for field in schema:
        if _contains(field.type, _is_float):
            raise _Refused(f"{path} is a JSON array with floats in {field.name!r}, which datasets rounds to 10 digits")


def _null_items(array: Any) -> bool:
    """A list (at any depth) holding a null item: pyarrow's JSON reader, which datasets
    uses, reads ``{}`` then ``{"a": [null, false]}`` as ``[false, false]`` (and datasets
    then keeps one row), so such data are never compared equal; we leave them to datasets."""
    import pyarrow as pa

    if isinstance(array, pa.ChunkedArray):
        return any(_null_items(chunk) for chunk in array.chunks)
    kind = array.type
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        values = array.flatten()
        return values.null_count > 0 or _null_items(values)
    if pa.types.is_struct(kind):
        return any(_null_items(array.field(i)) for i in range(kind.num_fields))
    return False


def _check_lists(batch: Any, path: str) -> None:
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if _null_items(column):
            raise _Refused(f"{path}: column {name!r} has lists with null items (pyarrow's JSON reader misreads them)")


def _batches(files: list[str], formats: list[str], expected: Any, check_lists: bool = True) -> Iterator[Any]:
    """Our batches of every file, in order, cast to datasets' Arrow types (only names of
    list fields can differ: the types are checked equal first)."""
    from ..reading import read_batches

    for path, fmt in zip(files, formats, strict=True):
        reader = read_batches(path, format=fmt, batch_size=_BATCH_ROWS)
        _check_schema(reader.schema, expected, path)
        if fmt.split(".")[0] == "json":
            _check_array_file(reader.schema, path)
        json_input = fmt.split(".")[0] in ("json", "jsonl")
        for batch in reader:
            if json_input and check_lists:
                _check_lists(batch, path)
            yield batch if batch.schema.equals(expected) else batch.cast(expected)


# --- non-streaming: an Arrow cache file, memory-mapped -----------------------------


def _cache_path(builder: str, files: list[str]) -> Path:
    import datasets

    from .. import __version__, _backend

    backend = "native" if _backend.kernels() is _backend.native_module() else "fallback"
    key = hashlib.sha256(f"{__version__}|{backend}|{builder}".encode())
    for path in files:
        stat = os.stat(path)
        key.update(f"|{os.path.abspath(path)}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    root = Path(datasets.config.HF_DATASETS_CACHE) / "fast_axolotl"
    return root / f"{builder}-{key.hexdigest()[:32]}.arrow"


def _write_cache(target: Path, batches: Iterator[Any], schema: Any) -> None:
    """Write ``batches`` to ``target`` (an Arrow stream file, as datasets' cache files are).

    The writes run on a second thread while this one takes the next batch from our
    reader: pyarrow writes without the GIL, so decoding and writing overlap (a 300 MB
    JSONL: 1.4 s one after the other)."""
    import queue

    import pyarrow as pa

    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}.incomplete")
    pending: queue.Queue[Any] = queue.Queue(maxsize=4)
    failure: list[BaseException] = []

    def write() -> None:
        try:
            with pa.OSFile(str(partial), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
                while (batch := pending.get()) is not None:
                    if not failure:
                        writer.write_batch(batch)
        except BaseException as exc:  # reported on the calling thread
            failure.append(exc)
            while pending.get() is not None:  # let the producer finish
                pass

    writer_thread = threading.Thread(target=write, name="fast-axolotl-cache-writer", daemon=True)
    writer_thread.start()
    try:
        try:
            for batch in batches:
                if failure:
                    break
                pending.put(batch)
        finally:
            pending.put(None)
            writer_thread.join()
        if failure:
            raise failure[0]
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _memory_mapped(target: Path, features: Any, schema: Any) -> Any:
    import datasets

    if features is None:
        features = datasets.Features.from_arrow_schema(schema)
    info = datasets.DatasetInfo(features=features)
    return datasets.Dataset.from_file(str(target), info=info, split=datasets.Split.TRAIN)


# --- streaming: an IterableDataset over our reader --------------------------------


def _tables(files: list[str], formats: list[str], schema: Any) -> Iterator[tuple[str, Any]]:
    import pyarrow as pa

    for index, batch in enumerate(_batches(files, formats, schema, check_lists=False)):
        yield f"fast_axolotl:{index}", pa.Table.from_batches([batch])


def _shard_tables(files: list[list[str]], formats: list[list[str]], schema: Any) -> Iterator[tuple[str, Any]]:
    for group, group_formats in zip(files, formats, strict=True):
        yield from _tables(group, group_formats, schema)


def _iterable(files: list[str], formats: list[str], features: Any, schema: Any) -> Any:
    import datasets
    from datasets.iterable_dataset import ArrowExamplesIterable

    kwargs = {"files": [list(files)], "formats": [list(formats)], "schema": schema}
    ex_iterable = ArrowExamplesIterable(_shard_tables, kwargs)
    return datasets.IterableDataset(ex_iterable, info=datasets.DatasetInfo(features=features), split="train")


# --- the entry point ----------------------------------------------------------------


def load_local(builder: str, files: Sequence[str], *, streaming: bool, split: Any = None, name: Any = None) -> Any:
    """Our ``Dataset`` (or ``IterableDataset``) of ``files`` equal to
    ``datasets.load_dataset(builder, data_files=files, split="train", streaming=...)``, or
    None (logged once per file set) when we cannot promise that."""
    files = [os.fspath(f) for f in files]
    label = ", ".join(files)
    try:
        if name:
            raise _Refused(f"a builder config name ({name!r}) is set")
        if split not in (None, "train"):
            raise _Refused(f"split {split!r} (only the whole 'train' split of a file is read here)")
        if builder in _NOT_TAKEN:
            raise _Refused(_NOT_TAKEN[builder])
        if builder not in _OUR_FORMAT:
            raise _Refused(f"datasets builder {builder!r} is not one our reader implements")
        formats = [_our_format(builder, f) for f in files]
        if builder == "text":
            for path in files:
                reason = _text_differences(path)
                if reason:
                    raise _Refused(f"{path}: {reason}")
        features, schema = _datasets_reference(builder, files)
        if streaming:
            from ..reading import read_batches

            for path, fmt in zip(files, formats, strict=True):
                # The first batch is checked now; a stream cannot go back to datasets halfway.
                first = next(iter(read_batches(path, format=fmt, batch_size=_BATCH_ROWS)), None)
                if first is None:
                    raise _Refused(f"{path} has no rows")
                _check_schema(first.schema, schema, path)
                if fmt.split(".")[0] == "json":
                    _check_array_file(first.schema, path)
                if fmt.split(".")[0] in ("json", "jsonl"):
                    _check_lists(first, path)
            dataset = _iterable(files, formats, features, schema)
        else:
            target = _cache_path(builder, files)
            if not target.exists():
                _write_cache(target, _batches(files, formats, schema), schema)
            dataset = _memory_mapped(target, features, schema)
    except _Refused as why:
        _log_once(f"refused:{label}", f"fast-axolotl: {label} is loaded by Axolotl (datasets): {why}")
        return None
    except Exception as exc:  # an error of ours on a file datasets may read: let it decide
        _log_once(
            f"error:{label}",
            f"fast-axolotl: {label} is loaded by Axolotl (datasets): our reader said {type(exc).__name__}: {exc}",
        )
        return None
    _log_once(f"ok:{label}", f"fast-axolotl: {label} read by fast-axolotl ({'streaming' if streaming else 'cached'})")
    return dataset


# --- the Axolotl patches ---------------------------------------------------------------


def _local_files(path: str) -> list[str] | None:
    return [path] if os.path.isfile(path) else None


def make_load_from_local_path(original: Any) -> Any:
    @functools.wraps(original)
    def _load_from_local_path(dataset_config: Any, load_dataset_kwargs: dict[str, Any]) -> Any:
        try:
            files = _local_files(str(dataset_config.path))
            if files and _wanted(files):
                from axolotl.utils.data.shared import get_dataset_type

                loaded = load_local(
                    get_dataset_type(dataset_config),
                    files,
                    streaming=bool(load_dataset_kwargs.get("streaming")),
                    split=load_dataset_kwargs.get("split"),
                    name=load_dataset_kwargs.get("name"),
                )
                if loaded is not None:
                    return loaded
        except Exception as exc:  # a defect of ours must not stop Axolotl's own loading
            _log_once(f"defect:{exc}", f"fast-axolotl: loading falls back to Axolotl's ({type(exc).__name__}: {exc})")
        return original(dataset_config, load_dataset_kwargs)

    return _load_from_local_path


def _data_files(value: Any) -> list[str] | None:
    """Local files of a ``data_files`` value (a path or a list of paths), else None."""
    paths = [value] if isinstance(value, (str, os.PathLike)) else value
    if not isinstance(paths, (list, tuple)) or not paths:
        return None
    files = [os.fspath(p) for p in paths if isinstance(p, (str, os.PathLike))]
    return files if len(files) == len(paths) and all(os.path.isfile(f) for f in files) else None


def make_load_streaming_dataset(original: Any) -> Any:
    """``pretraining_dataset: [{path: json, data_files: corpus.jsonl}]`` (and ``streaming``
    with packing): the body's ``load_dataset(builder, streaming=True, data_files=...)``
    call is answered by our reader for local files. (A bare local file as ``path`` is an
    error of ``datasets`` itself, and stays one.)"""

    @functools.wraps(original)
    def _load_streaming_dataset(pretraining_config: Any, cfg: Any, tokenizer: Any) -> Any:
        import sys

        builder = str(pretraining_config["path"])
        try:
            files = (
                _data_files(pretraining_config.get("data_files"))
                if builder in _OUR_FORMAT or builder == "csv"
                else None
            )
            wanted = files is not None and _wanted(files)
        except Exception as exc:  # a defect of ours must not stop Axolotl's own loading
            _log_once(f"defect:{exc}", f"fast-axolotl: loading falls back to Axolotl's ({type(exc).__name__}: {exc})")
            wanted = False
        if not wanted or files is None:
            return original(pretraining_config, cfg, tokenizer)
        sft: Any = sys.modules[original.__module__]
        real_load_dataset = vars(sft)["load_dataset"]

        def load_dataset(*args: Any, **kwargs: Any) -> Any:
            if args == (builder,) and kwargs.get("streaming") and _data_files(kwargs.get("data_files")) == files:
                ours = load_local(builder, files, streaming=True, split=kwargs.get("split"), name=kwargs.get("name"))
                if ours is not None:
                    return ours
            return real_load_dataset(*args, **kwargs)

        # The one load_dataset call of the original body is ours for the duration of the call.
        with _LOCK:
            sft.load_dataset = load_dataset
        try:
            return original(pretraining_config, cfg, tokenizer)
        finally:
            with _LOCK:
                if vars(sft).get("load_dataset") is load_dataset:
                    sft.load_dataset = real_load_dataset

    return _load_streaming_dataset


LOADING_TARGETS = [
    Target(
        "loading",
        "axolotl.utils.data.shared",
        None,
        "_load_from_local_path",
        ("dataset_config", "load_dataset_kwargs"),
        make_load_from_local_path,
    ),
    Target(
        "loading",
        "axolotl.utils.data.sft",
        None,
        "_load_streaming_dataset",
        ("pretraining_config", "cfg", "tokenizer"),
        make_load_streaming_dataset,
    ),
]
