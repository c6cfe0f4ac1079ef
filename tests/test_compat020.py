"""The fast-axolotl 0.2.0 API on this package (issue 19; docs/migrating-from-0.2.md).

0.2.0's own suite and examples run in tests/test_compat020_examples.py (``nox -s
compat020``); these tests pin each compatibility rule, on both implementations.
"""

from __future__ import annotations

import gzip
import inspect
import json
import os
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

import fast_axolotl as fa
from fast_axolotl import _compat, integration
from fast_axolotl.errors import ArgumentTypeError, DatasetNotFoundError, InvalidArgumentError, UnsupportedFormatError

GIB = 1024**3

#: 0.2.0's public functions and their parameters (src/fast_axolotl/__init__.py of its sdist).
API_020: dict[str, list[str]] = {
    "is_available": [],
    "get_version": [],
    "install": [],
    "uninstall": [],
    "list_supported_formats": [],
    "detect_format": ["file_path"],
    "pack_sequences": ["sequences", "max_length", "pad_token_id", "eos_token_id", "label_pad_id"],
    "concatenate_and_pack": ["input_ids", "labels", "attention_masks", "max_length", "pad_token_id", "label_pad_id"],
    "parallel_hash_rows": ["rows", "num_threads"],
    "deduplicate_indices": ["rows", "existing_hashes", "num_threads"],
    "pad_sequences": ["sequences", "target_length", "pad_value", "padding_side", "pad_to_multiple_of"],
    "create_padding_mask": ["current_length", "target_length"],
    "streaming_dataset_reader": ["file_path", "dataset_type", "batch_size", "num_threads"],
    "RustStreamingDataset": ["file_path", "dataset_type", "batch_size", "num_threads", "dataset_keep_in_memory"],
    "create_rust_streaming_dataset": [
        "file_path",
        "dataset_type",
        "batch_size",
        "num_threads",
        "dataset_keep_in_memory",
    ],
    "should_use_rust_streaming": ["file_path", "dataset_config", "cfg"],
}
ALL_020 = [*API_020, "RUST_AVAILABLE"]


def _accepted(func: Any) -> set[str]:
    target = func.__init__ if isinstance(func, type) else func
    return set(inspect.signature(target).parameters) - {"self"}


def test_every_020_name_is_exported() -> None:
    for name in ALL_020:
        assert hasattr(fa, name), name
        assert name in fa.__all__, name
    assert isinstance(fa.RUST_AVAILABLE, bool)
    assert fa.RUST_AVAILABLE == (fa.IMPLEMENTATION == "native") == fa.is_available()
    from fast_axolotl import streaming

    assert streaming.__all__ == [
        "RUST_AVAILABLE",
        "streaming_dataset_reader",
        "RustStreamingDataset",
        "create_rust_streaming_dataset",
        "is_available",
    ]
    for name in streaming.__all__:
        assert getattr(streaming, name) is getattr(fa, name), name


def test_every_020_parameter_name_is_accepted() -> None:
    for name, params in API_020.items():
        missing = set(params) - _accepted(getattr(fa, name))
        assert not missing, (name, missing)


def test_020_parameter_list_matches_its_source() -> None:
    """When 0.2.0's sdist is at hand, the list above is its source's (parsed with ast)."""
    import ast

    sdist = os.environ.get("FAST_AXOLOTL_COMPAT020_SDIST", "")
    source = Path(sdist, "src", "fast_axolotl", "__init__.py")
    if not source.is_file():
        pytest.skip("fast-axolotl 0.2.0's sdist is not available (FAST_AXOLOTL_COMPAT020_SDIST)")
    tree = ast.parse(source.read_text(encoding="utf-8"))
    found: dict[str, list[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            found[node.name] = [a.arg for a in node.args.args]
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            init = next(n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
            found[node.name] = [a.arg for a in init.args.args][1:]
    assert found == API_020


def test_020_keyword_calls(impl: str, tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"text": ["a", "b", "c"]}), path)
    packed = fa.pack_sequences(sequences=[[1, 2], [3]], max_length=8, pad_token_id=0, eos_token_id=9, label_pad_id=-1)
    assert packed["input_ids"].tolist() == [[1, 2, 9, 0, 3, 9, 0, 0]]
    by_new = fa.concatenate_and_pack([[1, 2], [3]], [[1, 2], [3]], [[1, 1], [1]], 4, 0, -100)
    by_old = fa.concatenate_and_pack(
        input_ids=[[1, 2], [3]],
        labels=[[1, 2], [3]],
        attention_masks=[[1, 1], [1]],
        max_length=4,
        pad_token_id=0,
        label_pad_id=-100,
    )
    assert by_new.keys() == by_old.keys()
    for key in by_new:
        np.testing.assert_array_equal(by_new[key], by_old[key])
    assert fa.parallel_hash_rows(rows=["a"], num_threads=1) == fa.parallel_hash_rows(["a"])
    assert fa.deduplicate_indices(rows=["a", "a"], existing_hashes=None, num_threads=1)[0] == [0]
    padded = fa.pad_sequences(sequences=[[1]], target_length=2, pad_value=7, padding_side="left", pad_to_multiple_of=4)
    assert padded.tolist() == [[7, 7, 7, 1]]
    assert fa.create_padding_mask(current_length=1, target_length=3) == [0, 1]
    assert fa.detect_format(file_path=str(path)) == ("parquet", None)
    batches = list(
        fa.streaming_dataset_reader(file_path=str(path), dataset_type="parquet", batch_size=2, num_threads=1)
    )
    assert batches == [{"text": ["a", "b"]}, {"text": ["c"]}]
    for factory in (fa.RustStreamingDataset, fa.create_rust_streaming_dataset):
        ds = factory(
            file_path=str(path), dataset_type="parquet", batch_size=2, num_threads=1, dataset_keep_in_memory=True
        )
        assert list(ds) == batches
    cfg = {"dataset_use_rust_streaming": True}
    assert fa.should_use_rust_streaming(file_path=str(path), dataset_config={}, cfg=cfg) is True


def test_alias_together_with_new_name_is_a_type_error(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="'path'.*'file_path'"):
        fa.detect_format("a.parquet", file_path="a.parquet")
    with pytest.raises(TypeError, match="'attention_mask'.*'attention_masks'"):
        fa.concatenate_and_pack([[1]], [[1]], [[1]], 4, 0, attention_masks=[[1]])
    with pytest.raises(ArgumentTypeError, match="missing"):
        fa.detect_format()  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="max_length"):
        fa.concatenate_and_pack([[1]], [[1]], attention_masks=[[1]])  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="'path_or_cfg'.*'file_path'"):
        fa.should_use_rust_streaming("a", file_path="a")  # type: ignore[call-overload]


# ---------------------------------------------------------------------------
# install() / uninstall()


@pytest.fixture
def restore_integration() -> Iterator[None]:
    was = integration.is_installed()
    try:
        yield
    finally:
        integration.uninstall()
        if was:
            integration.install()


def test_install_uninstall_return_values(restore_integration: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FAST_AXOLOTL_DISABLE", raising=False)
    integration.install()  # the state right after `import fast_axolotl`
    assert fa.install() is False  # already installed by the import
    assert fa.uninstall() is True
    assert fa.uninstall() is False
    assert fa.install() is True
    assert fa.install() is False
    assert integration.is_installed()
    # The integration's own install() still says "installed now" (the plugin logs on it).
    assert integration.install() is True
    monkeypatch.setenv("FAST_AXOLOTL_DISABLE", "1")
    assert fa.uninstall() is True
    assert fa.install() is False
    assert not integration.is_installed()


def test_no_fake_axolotl_modules(restore_integration: None) -> None:
    fa.uninstall()
    fa.install()
    fake = ("axolotl.rust_ext", "axolotl.rust_ext.axolotl_ext", "axolotl.utils.data.rust_streaming")
    assert not any(name in sys.modules for name in fake)


# ---------------------------------------------------------------------------
# detect_format / list_supported_formats


NAME_RULES = [
    ("/path/to/data.parquet", ("parquet", None)),
    ("/path/to/data.pq", ("parquet", None)),
    ("/path/to/DATA.PARQUET", ("parquet", None)),
    ("/path/to/data.parquet.zst", ("parquet", "zstd")),
    ("/path/to/data.parquet.zstd", ("parquet", "zstd")),
    ("/path/to/data.arrow", ("arrow", None)),
    ("/path/to/data.ipc.gz", ("arrow", "gzip")),
    ("/path/to/data.feather", ("feather", None)),
    ("/path/to/data.csv.gz", ("csv", "gzip")),
    ("/path/to/data.tsv", ("tsv", None)),  # 0.2.0: "csv" (and then parsed with commas)
    ("/path/to/data.jsonl.zst", ("jsonl", "zstd")),
    ("/path/to/data.ndjson", ("jsonl", None)),
    ("/path/to/data.json.gzip", ("json", "gzip")),
    ("/path/to/data.txt", ("text", None)),
    ("/path/to/data.txt.gz", ("text", "gzip")),
]


@pytest.mark.parametrize(("name", "want"), NAME_RULES)
def test_detect_format_of_a_missing_path_by_name(impl: str, name: str, want: tuple[str, str | None]) -> None:
    assert fa.detect_format(name) == want
    assert fa.detect_format(Path(name)) == want


@pytest.mark.parametrize(
    "name", ["/path/to/Makefile", "/path/to/datazst", "/path/to/data.zst", "/x/a.parquet.bz2", "/x/dir/"]
)
def test_detect_format_of_a_missing_unknown_name_raises(impl: str, name: str) -> None:
    with pytest.raises(DatasetNotFoundError, match="does not tell the format"):
        fa.detect_format(name)


def test_detect_format_empty_path(impl: str) -> None:
    with pytest.raises(InvalidArgumentError):
        fa.detect_format("")  # (Path("") is ".", the current directory)
    with pytest.raises(ValueError):
        fa.detect_format(file_path="")


def test_detect_format_existing_file_by_content(impl: str, tmp_path: Path) -> None:
    lying = tmp_path / "x.jsonl.zst"  # gzip bytes under a zstd name: the bytes win
    lying.write_bytes(gzip.compress(b'{"a": 1}\n'))
    assert fa.detect_format(lying) == ("jsonl", "gzip")
    unknown = tmp_path / "Makefile"
    unknown.write_bytes(b"all:\n")
    with pytest.raises(UnsupportedFormatError):
        fa.detect_format(unknown)


_ROWS = [{"text": "a", "label": 1}, {"text": "b", "label": 2}]


def _zstd(data: bytes) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.CompressedOutputStream(sink, "zstd") as stream:
        stream.write(data)
    return bytes(sink.getvalue().to_pybytes())


def _write(entry: str, directory: Path) -> tuple[Path, list[dict[str, Any]]]:
    """A small file of format ``entry`` (as list_supported_formats names it) and its rows."""
    base, _, suffix = entry.partition(".")
    table = pa.Table.from_pylist(_ROWS)
    if base == "hf_dataset":
        datasets = pytest.importorskip("datasets")
        datasets.Dataset(table).save_to_disk(str(directory / "hf"))
        return directory / "hf", _ROWS
    raw: bytes
    rows: list[dict[str, Any]] = _ROWS
    if base == "parquet":
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        raw = sink.getvalue().to_pybytes()
    elif base in ("arrow", "feather"):
        sink = pa.BufferOutputStream()
        feather.write_feather(table, sink, compression="uncompressed")
        raw = sink.getvalue().to_pybytes()
    elif base == "json":
        raw = json.dumps(_ROWS).encode()
    elif base == "jsonl":
        raw = "".join(json.dumps(r) + "\n" for r in _ROWS).encode()
    elif base in ("csv", "tsv"):
        sep = "," if base == "csv" else "\t"
        raw = f"text{sep}label\na{sep}1\nb{sep}2\n".encode()
    else:
        raw, rows = b"hello\nworld\n", [{"text": "hello"}, {"text": "world"}]
    extension = {"text": "txt", "feather": "feather"}.get(base, base)
    if suffix == "gz":
        raw, extension = gzip.compress(raw), extension + ".gz"
    elif suffix == "zst":
        raw, extension = _zstd(raw), extension + ".zst"
    path = directory / f"data.{extension}"
    path.write_bytes(raw)
    return path, rows


def test_list_supported_formats_lists_020s_entries() -> None:
    listed = fa.list_supported_formats()
    for entry in ("parquet", "arrow", "feather", "csv", "json", "jsonl", "text", "hf_dataset"):
        assert entry in listed
    for base in ("parquet", "arrow", "json", "jsonl", "csv", "text"):
        for suffix in ("zst", "gz"):
            assert f"{base}.{suffix}" in listed
    assert len(listed) == len(set(listed))


@pytest.mark.parametrize("entry", fa.list_supported_formats())
def test_every_listed_format_reads(impl: str, entry: str, tmp_path: Path) -> None:
    path, rows = _write(entry, tmp_path)
    assert fa.read_table(path).to_pylist() == rows  # detected
    assert fa.read_table(path, format=entry).to_pylist() == rows  # named
    if entry != "hf_dataset":
        assert fa.detect_format(path)[0] == entry.partition(".")[0]


# ---------------------------------------------------------------------------
# streaming_dataset_reader / RustStreamingDataset


@pytest.fixture
def parquet_file(tmp_path: Path) -> Path:
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"text": [f"t{i}" for i in range(25)], "label": list(range(25))}), path, row_group_size=7)
    return path


def test_streaming_dataset_reader_errors(impl: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError):
        fa.streaming_dataset_reader("", "parquet")  # raised at the call, not on the first next()
    with pytest.raises(ValueError):
        list(fa.streaming_dataset_reader(""))
    with pytest.raises(DatasetNotFoundError):
        fa.streaming_dataset_reader(str(tmp_path / "missing.parquet"), "")


@pytest.mark.parametrize("dataset_type", ["parquet", "", None, "auto"])
def test_streaming_dataset_reader_020_call(impl: str, parquet_file: Path, dataset_type: str | None) -> None:
    batches = list(fa.streaming_dataset_reader(str(parquet_file), dataset_type, 10, 4))
    assert [len(b["text"]) for b in batches] == [10, 10, 5]
    assert batches[2] == {"text": [f"t{i}" for i in range(20, 25)], "label": list(range(20, 25))}


def test_rust_streaming_dataset(impl: str, parquet_file: Path) -> None:
    ds = fa.RustStreamingDataset(str(parquet_file), "parquet", batch_size=10)
    assert (ds.file_path, ds.dataset_type, ds.batch_size, ds.num_threads, ds.dataset_keep_in_memory) == (
        str(parquet_file),
        "parquet",
        10,
        4,
        False,
    )
    expected = list(fa.streaming_dataset_reader(str(parquet_file), "parquet", 10))
    assert isinstance(iter(ds), types.GeneratorType)
    assert list(ds) == expected
    assert list(ds) == expected  # iterable again
    assert ds.column_names == ["text", "label"]
    assert list(ds.iter(batch_size=12)) == list(fa.streaming_dataset_reader(str(parquet_file), batch_size=12))
    assert [len(b["text"]) for b in ds.iter(12, drop_last_batch=True)] == [12, 12]
    formatted = ds.with_format("torch")
    assert isinstance(formatted, fa.RustStreamingDataset) and formatted.format == "torch"
    assert list(formatted) == expected  # the batches stay dicts of lists, as in 0.2.0
    assert ds.with_format(format="numpy").format == "numpy"  # 0.2.0's keyword
    only = ds.with_format(None, columns=["label"])
    assert list(only)[0] == {"label": list(range(10))}
    auto = fa.create_rust_streaming_dataset(str(parquet_file), "", batch_size=100)
    assert auto.batch_size == 100 and len(list(auto)) == 1
    assert list(fa.RustStreamingDataset(str(parquet_file), None, 100)) == list(auto)
    assert "RustStreamingDataset(" in repr(ds)


def test_rust_streaming_dataset_hf(impl: str, parquet_file: Path) -> None:
    datasets = pytest.importorskip("datasets")
    ds = fa.RustStreamingDataset(parquet_file, "parquet", batch_size=10)
    assert ds.features == datasets.Features({"text": datasets.Value("string"), "label": datasets.Value("int64")})
    iterable = ds.to_iterable_dataset()
    assert isinstance(iterable, datasets.IterableDataset)
    assert list(iterable) == pq.read_table(parquet_file).to_pylist()


def test_rust_streaming_dataset_is_lazy_and_checks_arguments(impl: str, tmp_path: Path) -> None:
    missing = fa.RustStreamingDataset(str(tmp_path / "later.parquet"), "parquet")  # nothing opened yet
    with pytest.raises(DatasetNotFoundError):
        list(missing)
    with pytest.raises(InvalidArgumentError):
        fa.RustStreamingDataset("", "parquet")
    with pytest.raises(InvalidArgumentError):
        fa.create_rust_streaming_dataset([], "parquet")
    with pytest.raises(InvalidArgumentError):
        fa.RustStreamingDataset("x.parquet", "parquet", batch_size=0)
    with pytest.raises(UnsupportedFormatError):
        fa.RustStreamingDataset("x.parquet", "excel")
    with pytest.raises(ArgumentTypeError):
        fa.RustStreamingDataset(42, "parquet")


# ---------------------------------------------------------------------------
# should_use_rust_streaming


class _Attrs:
    """A config object with attributes only (no .get)."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


class _DictDefault(dict):  # type: ignore[type-arg]
    """Like Axolotl's DictDefault: a dict whose missing keys read as None."""

    def __missing__(self, key: str) -> None:
        return None


def _sparse(path: Path, size: int) -> Path:
    with open(path, "wb") as f:
        f.truncate(size)  # sparse: no disk space used
    return path


CONFIG_KINDS = [dict, _DictDefault, lambda **kw: _Attrs(**kw)]


@pytest.mark.parametrize("kind", CONFIG_KINDS, ids=["dict", "DictDefault", "attrs"])
def test_should_use_rust_streaming_rule(kind: Any, tmp_path: Path) -> None:
    small = _sparse(tmp_path / "small.jsonl", 10)
    big = _sparse(tmp_path / "big.jsonl", GIB + 1)
    exactly = _sparse(tmp_path / "exactly.jsonl", GIB)
    use = fa.should_use_rust_streaming

    # dataset_use_rust_streaming: false wins over everything
    off = kind(dataset_use_rust_streaming=False, sequence_len=32768)
    assert use(str(big), {}, off) is False
    assert use(off, file_size_bytes=10 * GIB) is False
    # dataset_keep_in_memory wins over the flag
    assert use(str(small), {}, kind(dataset_use_rust_streaming=True, dataset_keep_in_memory=True)) is False
    assert use(str(big), {}, kind(dataset_keep_in_memory=True, sequence_len=32768)) is False
    # the flag set: every local file, any size
    on = kind(dataset_use_rust_streaming=True)
    assert use(str(small), {}, on) is True
    assert use(str(tmp_path / "missing.jsonl"), {}, on) is True
    assert use(on) is True
    # unset (or None): the automatic rule, > 1 GiB or sequence_len > 10000
    for auto in (kind(), kind(dataset_use_rust_streaming=None, dataset_keep_in_memory=False)):
        assert use(str(small), {}, auto) is False
        assert use(str(big), {}, auto) is True
        assert use(big, None, auto) is True  # a PathLike
        assert use(str(exactly), {}, auto) is False
        assert use(str(tmp_path / "missing.jsonl"), {}, auto) is False  # size unknown: not large (0.2.0 said True)
        assert use(auto) is False
        assert use(auto, file_size_bytes=GIB + 1) is True
        assert use(auto, GIB + 1) is True
        assert use(auto, file_size_bytes=GIB) is False
    assert use(str(small), {}, kind(sequence_len=10001)) is True
    assert use(str(small), {}, kind(sequence_len=10000)) is False
    assert use(str(small), {}, kind(sequence_len=None)) is False
    assert use(kind(sequence_len=16384)) is True


def test_should_use_rust_streaming_directory_and_call_shapes(tmp_path: Path) -> None:
    shards = tmp_path / "shards"
    shards.mkdir()
    for i in range(2):
        _sparse(shards / f"part-{i}.parquet", GIB // 2 + 1)  # together > 1 GiB
    (shards / "sub").mkdir()
    _sparse(shards / "sub" / "x", 1)
    assert _compat._size_of(shards) == GIB + 3
    assert fa.should_use_rust_streaming(str(shards), {}, {}) is True
    assert fa.should_use_rust_streaming(str(shards / "sub"), {}, {}) is False
    assert fa.should_use_rust_streaming(cfg={"sequence_len": 20000}) is True
    assert fa.should_use_rust_streaming(str(shards), None, None) is True  # no config: automatic rule
    with pytest.raises(TypeError):
        fa.should_use_rust_streaming({}, None, {})  # a config twice
    with pytest.raises(TypeError):
        fa.should_use_rust_streaming({}, 5, file_size_bytes=5)
    with pytest.raises(TypeError):
        fa.should_use_rust_streaming({}, file_size_bytes="big")  # type: ignore[call-overload]
    with pytest.raises(TypeError):
        fa.should_use_rust_streaming()  # type: ignore[call-overload]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_should_use_rust_streaming_unreadable_directory(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    _sparse(locked / "big", GIB + 1)
    locked.chmod(0)
    try:
        assert fa.should_use_rust_streaming(str(locked), {}, {}) is False
    finally:
        locked.chmod(0o755)


# ---------------------------------------------------------------------------
# padding messages


def test_padding_side_message_is_020s(impl: str) -> None:
    with pytest.raises(ValueError, match="padding_side must be 'right' or 'left'"):
        fa.pad_sequences([[1, 2, 3]], padding_side="invalid")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="padding_side must be 'right' or 'left'"):
        fa.collate([{"input_ids": [1]}], pad_token_id=0, padding_side="middle")  # type: ignore[arg-type]


def test_should_use_rust_streaming_stat_error_is_size_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = _sparse(tmp_path / "big.jsonl", GIB + 1)
    assert fa.should_use_rust_streaming(str(big), {}, {}) is True

    def refuse(path: Any) -> int:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(_compat.os.path, "getsize", refuse)
    assert fa.should_use_rust_streaming(str(big), {}, {}) is False  # 0.2.0 said True
    assert fa.should_use_rust_streaming(str(big), {}, {"dataset_use_rust_streaming": True}) is True
