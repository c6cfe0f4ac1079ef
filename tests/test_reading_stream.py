"""Streaming reader at scale: parallel decoding gives the same batches as one thread and
as pyarrow, errors keep their place, memory stays bounded by the read-ahead (measured in
a subprocess), and the Hugging Face ``IterableDataset`` helper yields datasets' own rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import fast_axolotl as fa
from fast_axolotl.errors import DataFormatError, SchemaMismatchError


def _tokenized(n: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, 60, n).astype(np.int32)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    ids = pa.array(rng.integers(0, 50257, int(offsets[-1]), dtype=np.int32))
    text = pa.array([f"row {i} " + "abc " * int(i % 17) for i in range(n)])
    mask = np.zeros(n, dtype=bool)
    mask[::7] = True
    return pa.table(
        {
            "id": pa.array(np.arange(n, dtype=np.int64)),
            "input_ids": pa.ListArray.from_arrays(pa.array(offsets), ids, mask=pa.array(mask)),
            "text": text,
        }
    )


def _batches(path: Path, **kwargs: object) -> list[pa.RecordBatch]:
    return list(fa.read_batches(path, **kwargs))  # type: ignore[arg-type]


@pytest.mark.parametrize("batch_size", [1, 333, 1000, 5000])
def test_parquet_row_groups_in_parallel_match_one_thread_and_pyarrow(
    impl: str, tmp_path: Path, batch_size: int
) -> None:
    table = _tokenized(4321)
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=500)  # 9 row groups, the last shorter
    expected = table.to_batches()
    for threads in (1, 2, 3):
        got = _batches(path, batch_size=batch_size, num_threads=threads)
        assert [b.num_rows for b in got[:-1]] == [batch_size] * (len(got) - 1)
        assert 0 < got[-1].num_rows <= batch_size
        assert pa.Table.from_batches(got).equals(pa.Table.from_batches(expected))
    projected = _batches(path, batch_size=batch_size, columns=["text", "id"], num_threads=2)
    assert pa.Table.from_batches(projected).equals(table.select(["text", "id"]))


def test_parquet_corrupt_later_row_group_keeps_earlier_batches(impl: str, tmp_path: Path) -> None:
    table = _tokenized(4000)
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=1000, compression="none")
    meta = pq.ParquetFile(path).metadata
    column = meta.row_group(2).column(2)  # `text` of the third row group
    data = bytearray(path.read_bytes())
    start = column.data_page_offset
    data[start : start + 64] = b"\xff" * 64  # a broken page header
    path.write_bytes(bytes(data))
    reader = fa.read_batches(path, batch_size=500, num_threads=2)
    got = []
    with pytest.raises(DataFormatError) as info:
        for batch in reader:
            got.append(batch)
    assert str(path) in str(info.value)
    # The first two row groups (4 batches of 500) arrive before the error, as in one thread.
    assert sum(b.num_rows for b in got) >= 2000
    assert pa.Table.from_batches(got[:4]).equals(table.slice(0, 2000))


def _jsonl_rows(n: int) -> list[dict[str, object]]:
    return [{"id": i, "input_ids": list(range(i % 50)), "text": f"line {i} " + "é" * (i % 5)} for i in range(n)]


@pytest.mark.parametrize("batch_size", [7, 1000, 65536])
def test_jsonl_chunks_in_parallel_match_one_thread(impl: str, tmp_path: Path, batch_size: int) -> None:
    rows = _jsonl_rows(30_000)  # several chunks of records
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    one = _batches(path, batch_size=batch_size, num_threads=1)
    two = _batches(path, batch_size=batch_size, num_threads=2)
    assert [b.num_rows for b in one] == [b.num_rows for b in two]
    assert all(a.equals(b) for a, b in zip(one, two, strict=True))
    assert pa.Table.from_batches(two).to_pylist() == rows


@pytest.mark.parametrize("skip", [False, True])
def test_jsonl_errors_deep_in_the_file_keep_their_place(impl: str, tmp_path: Path, skip: bool) -> None:
    rows = _jsonl_rows(20_000)
    lines = [json.dumps(r) for r in rows]
    lines[12_345] = '{"id": 1, "input_ids": [1,'  # malformed
    lines[15_000] = '{"id": "x"}'  # does not fit the inferred int64
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    results = []
    for threads in (1, 2):
        reader = fa.read_batches(path, batch_size=1000, num_threads=threads, on_error="skip" if skip else "raise")
        got: list[pa.RecordBatch] = []
        if skip:
            with pytest.warns(RuntimeWarning, match="skipped 2"):
                got.extend(reader)
            assert reader.skipped == 2
        else:
            with pytest.raises(DataFormatError, match="line 12346"):
                got.extend(reader)
        results.append(got)
    one, two = results
    assert [b.num_rows for b in one] == [b.num_rows for b in two]
    assert pa.Table.from_batches(one).equals(pa.Table.from_batches(two))
    if not skip:
        # every good row before line 12346 (issue 18), the partial batch included
        assert sum(b.num_rows for b in one) == 12_345
    else:
        assert sum(b.num_rows for b in one) == 19_998


def test_jsonl_schema_mismatch_deep_in_the_file(impl: str, tmp_path: Path) -> None:
    lines = [json.dumps({"a": i}) for i in range(9000)] + ['{"a": "x"}']
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(SchemaMismatchError, match="line 9001"):
        list(fa.read_batches(path, batch_size=100, num_threads=2))


_PROBE = r"""
import os, sys
import fast_axolotl as fa
def hwm():  # this process's peak RSS in KiB (ru_maxrss would count the parent's at fork)
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
path, batch_size = sys.argv[1], int(sys.argv[2])
assert fa.IMPLEMENTATION == os.environ["FAST_AXOLOTL_IMPL"], fa.IMPLEMENTATION
base = hwm()
rows = 0
for batch in fa.read_batches(path, batch_size=batch_size):
    rows += batch.num_rows
print(rows, (hwm() - base) // 1024)
"""


def _peak_growth_mib(path: Path, implementation: str, batch_size: int = 1000) -> tuple[int, int]:
    env = dict(os.environ, FAST_AXOLOTL_IMPL=implementation)
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(path), str(batch_size)],
        capture_output=True,
        text=True,
        cwd=path.parent,
        env=env,
    )
    assert out.returncode == 0, (out.returncode, out.stdout, out.stderr)
    rows, growth = out.stdout.split()
    return int(rows), int(growth)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads VmHWM from /proc/self/status")
@pytest.mark.parametrize("fmt", ["parquet", "jsonl.zst", "csv"])
def test_peak_memory_bounded_by_read_ahead_not_file(impl: str, tmp_path: Path, fmt: str) -> None:
    """A file of ~400 MB of decoded Arrow read in batches of 1000 rows: the reader's peak
    RSS growth stays a small fraction of the data (bounded by batch x read-ahead)."""
    n, text = 200_000, "x" * 2000
    if fmt == "parquet":
        path = tmp_path / "big.parquet"
        writer = None
        # Row groups of 5000 rows (~10 MB decoded): the reader holds a few of them (read-ahead),
        # so the bound below is several row groups, far from the file.
        for start in range(0, n, 5000):
            chunk = pa.table({"id": pa.array(np.arange(start, start + 5000)), "text": pa.array([text] * 5000)})
            writer = writer or pq.ParquetWriter(path, chunk.schema, compression="zstd")
            writer.write_table(chunk)
        assert writer is not None
        writer.close()
    elif fmt == "csv":
        path = tmp_path / "big.csv"
        with path.open("w") as out:
            out.write("id,text\n")
            for start in range(0, n, 10_000):
                out.write("".join(f"{i},{text}\n" for i in range(start, start + 10_000)))
    else:
        path = tmp_path / "big.jsonl.zst"
        with pa.output_stream(str(path), compression="zstd") as out:
            for start in range(0, n, 10_000):
                out.write("".join(f'{{"id":{i},"text":"{text}"}}\n' for i in range(start, start + 10_000)).encode())
    decoded_mib = n * len(text) // (1 << 20)  # ~380 MiB of text
    rows, growth = _peak_growth_mib(path, impl)
    assert rows == n
    # The reference reads Parquet a row group at a time through pyarrow, whose memory pool
    # keeps freed buffers (158 MiB here): it is held to "not the whole file" only.
    # Native JSON Lines keeps its read-ahead's chunks and presized builders: 61-94 MiB here
    # (2026-12-04), and 75-89 MiB for a file twice the size: flat in the file's size, so a
    # third of this file is the bound (a quarter was within 1 MiB of the peaks seen in CI).
    bound = decoded_mib if (impl, fmt) == ("fallback", "parquet") else decoded_mib // 3
    assert growth < bound, f"peak RSS grew by {growth} MiB reading {decoded_mib} MiB of data"


def test_iterable_dataset_matches_datasets_streaming(impl: str, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    table = _tokenized(2500)
    parquet = tmp_path / "t.parquet"
    pq.write_table(table, parquet, row_group_size=400)
    jsonl = tmp_path / "t.jsonl"
    rows = _jsonl_rows(1500)
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    for path, builder in ((parquet, "parquet"), (jsonl, "json")):
        ours = fa.iterable_dataset(path, batch_size=300)
        theirs = datasets.load_dataset(builder, data_files=str(path), split="train", streaming=True)
        assert isinstance(ours, datasets.IterableDataset)
        assert list(ours) == list(theirs)
        assert ours.features is not None and set(ours.features) == set(
            table.column_names if path == parquet else rows[0]
        )
        arrow = pa.concat_tables(ours.with_format("arrow").iter(batch_size=256))
        assert arrow.equals(fa.read_table(path))


def test_iterable_dataset_shards_files(impl: str, tmp_path: Path) -> None:
    pytest.importorskip("datasets")
    from datasets.distributed import split_dataset_by_node

    table = _tokenized(900)
    for i in range(3):
        pq.write_table(table.slice(i * 300, 300), tmp_path / f"part-{i}.parquet")
    ds = fa.iterable_dataset(str(tmp_path), columns=["id"])
    assert ds.num_shards == 3
    assert [r["id"] for r in ds] == list(range(900))
    second = split_dataset_by_node(ds, rank=1, world_size=3)
    assert [r["id"] for r in second] == list(range(300, 600))


def test_to_table_is_read_table() -> None:
    assert fa.to_table is fa.read_table


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="lists /proc/self/fd")
@pytest.mark.parametrize("name", ["big.jsonl.gz", "big.jsonl.zst", "big.csv.zst", "big.parquet"])
def test_reader_dropped_early_closes_its_file(impl: str, tmp_path: Path, name: str) -> None:
    """A reader left after its first batch closes the file when dropped (decompression runs
    ahead on a thread of its own: it must not keep the file open; Windows could not delete it)."""
    import gc

    path = tmp_path / name
    table = pa.table({"id": np.arange(100_000), "text": [f"row {i} " + "x" * 50 for i in range(100_000)]})
    if name.endswith(".parquet"):
        pq.write_table(table, path, row_group_size=10_000)
    else:
        inner = name.rsplit(".", 1)[0]
        data = table.to_pylist()
        if inner.endswith(".csv"):
            text = "id,text\n" + "".join(f"{r['id']},{r['text']}\n" for r in data)
        else:
            text = "".join(json.dumps(r) + "\n" for r in data)
        with pa.output_stream(str(path), compression="gzip" if name.endswith(".gz") else "zstd") as out:
            out.write(text.encode())

    def open_on_path() -> int:
        fds = Path("/proc/self/fd")
        count = 0
        for fd in fds.iterdir():
            try:
                count += os.readlink(fd) == str(path)
            except OSError:
                pass
        return count

    batches = iter(fa.read_batches(path, batch_size=100))
    assert next(batches).num_rows == 100
    del batches
    gc.collect()
    assert open_on_path() == 0
