"""The plugin's loader (``dataset_use_rust_streaming``) against ``datasets.load_dataset``
on the same files: where it takes a file, the ``Dataset`` / ``IterableDataset`` has the
same features, columns, Arrow types and rows, column by column; where ``datasets`` would
type the data differently, it returns None (Axolotl's own loader then runs).

No Axolotl needed: ``load_local`` is what the patched ``_load_from_local_path`` and
``_load_streaming_dataset`` call with Axolotl's ``get_dataset_type`` builder name.
"""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path
from typing import Any

import pytest

datasets = pytest.importorskip("datasets")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from fast_axolotl.integration import _loading  # noqa: E402

datasets.disable_progress_bars()


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """datasets' cache (and so ours) in a fresh directory per test."""
    cache = tmp_path_factory.mktemp("hf-cache")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(cache))
    return cache


def _reference(builder: str, path: Path, streaming: bool) -> Any:
    return datasets.load_dataset(builder, data_files=str(path), split="train", streaming=streaming)


def assert_same(ours: Any, ref: Any, streaming: bool) -> None:
    assert ours is not None, "the loader refused a file it should take"
    assert ours.features == ref.features
    if streaming:
        assert type(ours) is type(ref)
        got, want = list(ours), list(ref)
        assert len(got) == len(want)
        assert [list(r) for r in got] == [list(r) for r in want]  # columns, in order, row by row
        for column in want[0] if want else ():
            assert [r[column] for r in got] == [r[column] for r in want], column
        return
    assert list(ours.features) == list(ref.features)
    assert type(ours) is type(ref)
    assert ours.column_names == ref.column_names
    assert ours.num_rows == ref.num_rows
    assert str(ours.split) == str(ref.split)
    mine, theirs = ours.data.table, ref.data.table
    assert mine.schema.remove_metadata() == theirs.schema.remove_metadata()
    for column in ref.column_names:
        assert mine.column(column).to_pylist() == theirs.column(column).to_pylist(), column


ROWS = [
    {"instruction": f"do {i}", "input": "" if i % 3 else None, "output": "é" * (i % 7), "n": i, "x": i / 3,
     "ok": i % 2 == 0, "ids": list(range(i % 5)), "meta": {"k": i, "tag": "t"}}
    for i in range(3000)
]  # fmt: skip


def _write(kind: str, root: Path, rows: list[dict[str, Any]]) -> tuple[str, Path]:
    """(datasets builder, path) of ``rows`` written as ``kind``."""
    if kind in ("jsonl", "jsonl.gz", "json"):
        path = root / f"data.{kind}"
        text = "".join(json.dumps(r) + "\n" for r in rows)
        if kind == "json":
            text = json.dumps(rows)
        data = text.encode()
        path.write_bytes(gzip.compress(data) if kind.endswith(".gz") else data)
        return "json", path
    if kind == "jsonl.zst":
        zstd = pytest.importorskip("zstandard")
        path = root / "data.jsonl.zst"
        path.write_bytes(zstd.ZstdCompressor().compress("".join(json.dumps(r) + "\n" for r in rows).encode()))
        return "json", path
    table = pa.Table.from_pylist(rows)
    if kind == "parquet":
        path = root / "data.parquet"
        pq.write_table(table, path, row_group_size=700)
        return "parquet", path
    if kind in ("arrow-stream", "arrow-file"):
        path = root / f"{kind}.arrow"
        new = pa.ipc.new_stream if kind == "arrow-stream" else pa.ipc.new_file
        with pa.OSFile(str(path), "wb") as sink, new(sink, table.schema) as writer:
            writer.write_table(table, max_chunksize=900)
        return "arrow", path
    if kind == "text":
        path = root / "data.txt"
        path.write_text("\n".join(str(r["instruction"]) + " " + str(r["output"]) for r in rows) + "\n\nlast", "utf-8")
        return "text", path
    if kind == "text.gz":
        path = root / "data.txt.gz"
        path.write_bytes(gzip.compress("\n".join(str(r["output"]) for r in rows).encode()))
        return "text", path
    raise AssertionError(kind)


KINDS = ["jsonl", "jsonl.gz", "jsonl.zst", "json", "parquet", "arrow-stream", "arrow-file", "text", "text.gz"]


@pytest.mark.parametrize("streaming", [False, True], ids=["dataset", "streaming"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_format_equals_load_dataset(impl: str, kind: str, streaming: bool, tmp_path: Path) -> None:
    # A JSON array goes through ujson in datasets, which rounds floats: see the next test.
    rows = [{k: v for k, v in r.items() if k != "x"} for r in ROWS] if kind == "json" else ROWS
    builder, path = _write(kind, tmp_path, rows)
    ours = _loading.load_local(builder, [str(path)], streaming=streaming)
    assert_same(ours, _reference(builder, path, streaming), streaming)


def test_json_array_with_floats_is_left_to_datasets(impl: str, tmp_path: Path) -> None:
    builder, path = _write("json", tmp_path, ROWS)
    ref = _reference(builder, path, False)
    assert ref["x"][1] != ROWS[1]["x"]  # what datasets does to 1/3 (ujson, 10 digits)
    assert _loading.load_local(builder, [str(path)], streaming=False) is None


def test_cached_file_is_reused_and_memory_mapped(impl: str, tmp_path: Path, _private_cache: Path) -> None:
    builder, path = _write("jsonl", tmp_path, ROWS)
    first = _loading.load_local(builder, [str(path)], streaming=False)
    files = sorted((_private_cache / "fast_axolotl").glob("*.arrow"))
    assert len(files) == 1 and first.cache_files == [{"filename": str(files[0])}]
    mtime = files[0].stat().st_mtime_ns
    second = _loading.load_local(builder, [str(path)], streaming=False)
    assert files[0].stat().st_mtime_ns == mtime  # not rewritten
    assert second.to_list() == first.to_list()
    path.write_text(json.dumps({"instruction": "changed"}) + "\n", encoding="utf-8")  # new size and mtime: new entry
    third = _loading.load_local(builder, [str(path)], streaming=False)
    assert third.to_list() == [{"instruction": "changed"}]


REFUSED = {
    # datasets >= 5.1 types a struct whose keys vary as Json; older ones give a struct: either way
    # only an equal schema is taken, so the outcome is compared, not assumed.
    "mixed structs": ("json", "m.jsonl", [{"m": {"a": 1}}, {"m": {"b": "x"}}]),
    "int then str": ("json", "s.jsonl", [{"a": 1}, {"a": "x"}]),
    "int past our inference, float": ("json", "f.jsonl", [{"a": i} for i in range(1500)] + [{"a": 0.5}]),
    "new key late": ("json", "k.jsonl", [{"a": i} for i in range(1500)] + [{"a": 1, "b": 2}]),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_file_typed_differently_is_left_to_datasets_or_equal(
    impl: str, case: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    builder, name, rows = REFUSED[case]
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="fast_axolotl.integration"):
        ours = _loading.load_local(builder, [str(path)], streaming=False)
    try:
        ref = _reference(builder, path, False)
    except Exception:  # datasets itself cannot read it: we must not have pretended we could
        assert ours is None
        return
    if ours is None:
        assert any("is loaded by Axolotl (datasets)" in r.getMessage() for r in caplog.records)
    else:
        assert_same(ours, ref, False)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("bom.txt", b"\xef\xbb\xbfa\nb\n"),
        ("cr.txt", b"a\rb\n"),
        ("ff.txt", b"a\x0cb\n"),
        ("ls.txt", "a\u2028b".encode()),
    ],
)
def test_text_that_splitlines_splits_otherwise_is_left_to_datasets(
    impl: str, name: str, content: bytes, tmp_path: Path
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert _loading.load_local("text", [str(path)], streaming=False) is None
    assert _loading.load_local("text", [str(path)], streaming=True) is None


def test_csv_and_slices_and_config_names_are_left_to_datasets(impl: str, tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("a,b\n1,NA\n2,None\n", encoding="utf-8")
    assert _loading.load_local("csv", [str(path)], streaming=False) is None
    builder, jsonl = _write("jsonl", tmp_path, ROWS[:10])
    assert _loading.load_local(builder, [str(jsonl)], streaming=False, split="train[:5]") is None
    assert _loading.load_local(builder, [str(jsonl)], streaming=False, name="default") is None
    assert _loading.load_local(builder, [str(jsonl)], streaming=False, split="train") is not None


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.text(max_size=12),
)
_records = st.lists(
    st.dictionaries(
        st.sampled_from(["a", "b", "c", "ids", "msg"]), st.one_of(_scalars, st.lists(_scalars, max_size=4)), max_size=4
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=40)
@given(records=_records)
def test_hypothesis_jsonl_equal_or_left_to_datasets(
    impl: str, records: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Random JSON Lines: whenever the loader takes the file, the dataset equals datasets'."""
    root = tmp_path_factory.mktemp("h")
    cache = root / "cache"
    path = root / "r.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    previous = datasets.config.HF_DATASETS_CACHE
    datasets.config.HF_DATASETS_CACHE = str(cache)
    try:
        ours = _loading.load_local("json", [str(path)], streaming=False)
        try:
            ref = datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=str(cache))
        except Exception:
            assert ours is None
            return
        if ours is not None:
            assert_same(ours, ref, False)
    finally:
        datasets.config.HF_DATASETS_CACHE = previous


def test_an_error_after_some_batches_leaves_no_cache_file(impl: str, tmp_path: Path, _private_cache: Path) -> None:
    """Batches already written when our reader fails: the partial file goes, datasets decides."""
    path = tmp_path / "late.jsonl"
    good = "".join(json.dumps({"a": i, "b": str(i)}) + "\n" for i in range(25_000))
    path.write_text(good + '{"a": 1, "b": \n', encoding="utf-8")
    assert _loading.load_local("json", [str(path)], streaming=False) is None
    left = list((_private_cache / "fast_axolotl").glob("*")) if (_private_cache / "fast_axolotl").exists() else []
    assert left == []
