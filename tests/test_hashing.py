"""Row hashing and exact deduplication, against hashlib and Axolotl's ``_deduplicate_dataset``."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pyarrow as pa
import pytest
import upstream as axo
from hypothesis import given
from hypothesis import strategies as st
from strategies import tables

import fast_axolotl as fa
from fast_axolotl.errors import ArgumentTypeError, InvalidArgumentError, UnsupportedTypeError

datasets = pytest.importorskip("datasets")


def test_parallel_hash_rows_equals_hashlib(impl: str) -> None:
    rows = ["", "abc", "héllo", b"\x00\xff", "x" * 10_000]
    expected = [hashlib.sha256(r.encode() if isinstance(r, str) else r).hexdigest() for r in rows]
    assert fa.parallel_hash_rows(rows) == expected
    assert fa.parallel_hash_rows(rows * 300, num_threads=1) == expected * 300
    assert fa.parallel_hash_rows([]) == []
    with pytest.raises(ArgumentTypeError):
        fa.parallel_hash_rows("abc")
    with pytest.raises(ArgumentTypeError):
        fa.parallel_hash_rows(["a", 1])
    with pytest.raises(InvalidArgumentError):
        fa.parallel_hash_rows(["a"], num_threads=-1)


def test_deduplicate_indices(impl: str) -> None:
    rows = ["a", "b", "a", "c", "b"]
    kept, hashes = fa.deduplicate_indices(rows)
    assert kept == [0, 1, 3]
    assert hashes == [hashlib.sha256(r.encode()).hexdigest() for r in ("a", "b", "c")]
    known = {hashlib.sha256(b"b").hexdigest(), "not-a-hash", hashlib.sha256(b"c").hexdigest().upper()}
    assert fa.deduplicate_indices(rows, known)[0] == [0, 3]
    assert fa.deduplicate_indices(rows, list(known))[0] == [0, 3]
    with pytest.raises(ArgumentTypeError):
        fa.deduplicate_indices(rows, "abc")


def _axolotl_kept(table: pa.Table, seen: set | None = None) -> tuple[list[int], set]:
    ds = datasets.Dataset(table)
    out, seen = axo._deduplicate_dataset(ds, seen)
    return (out._indices.column(0).to_pylist() if out._indices is not None else list(range(len(out)))), seen


def _our_kept(table: pa.Table, seen: set | None = None) -> tuple[list[int], set]:
    ds = datasets.Dataset(table)
    out, seen = fa.deduplicate(ds, seen)
    return (out._indices.column(0).to_pylist() if out._indices is not None else list(range(len(out)))), seen


SUBTLE = [
    pa.table({"x": [1, 1, 2], "y": ["a", "a", "a"]}),
    pa.table({"x": pa.array([1.0, float("nan"), float("nan"), -0.0, 0.0, 1.0])}),
    pa.table({"x": pa.array([1, None, None, 1], pa.int8())}),
    pa.table({"t": ["é", "e\u0301", "é", ""]}),
    pa.table({"ids": pa.array([[], [], [1], [1, None], [1, None]], pa.list_(pa.int64()))}),
    pa.table(
        {
            "m": pa.array(
                [
                    [{"role": "user", "content": "hi"}],
                    [{"role": "user", "content": "hi"}],
                    [{"role": "user", "content": None}],
                ]
            )
        }
    ),
    pa.table(
        {
            "s": pa.array(
                [{"a": 1, "b": None}, None, {"a": 1, "b": None}], pa.struct([("a", pa.int32()), ("b", pa.string())])
            )
        }
    ),
    pa.table({"u": pa.array([2**64 - 1, 2**63, 2**64 - 1], pa.uint64())}),
]


@pytest.mark.parametrize("table", SUBTLE)
def test_deduplicate_subtle_cases_equal_axolotl(impl: str, table: pa.Table) -> None:
    assert _our_kept(table)[0] == _axolotl_kept(table)[0]


def test_column_order_and_int_vs_float_across_datasets(impl: str) -> None:
    train = pa.table({"x": [1], "y": ["a"]})
    for eval_table, duplicate in [
        (pa.table({"y": ["a"], "x": [1]}), False),  # same values, other column order
        (pa.table({"x": [1.0], "y": ["a"]}), False),  # 1 vs 1.0
        (pa.table({"x": pa.array([1], pa.int8()), "y": pa.array(["a"], pa.large_string())}), True),
    ]:
        _, seen = _our_kept(train)
        kept, _ = _our_kept(eval_table, seen)
        _, axo_seen = _axolotl_kept(train)
        axo_eval, _ = _axolotl_kept(eval_table, axo_seen)
        assert kept == axo_eval == ([] if duplicate else [0])


@given(table=tables())
def test_deduplicate_equals_axolotl(table: pa.Table) -> None:
    expected, _ = _axolotl_kept(table)
    for name in fa._backend.available():
        with fa._backend.use(name):
            assert _our_kept(table)[0] == expected


def test_deduplicate_respects_indices_mapping(impl: str) -> None:
    ds = datasets.Dataset.from_dict({"x": [1, 2, 3, 2, 1, 4]}).select([5, 4, 3, 2, 1, 0])
    out, _ = fa.deduplicate(ds)
    expected, _ = axo._deduplicate_dataset(ds)
    assert out["x"] == expected["x"] == [4, 1, 2, 3]


@pytest.mark.parametrize("mapped", [False, True])
@pytest.mark.parametrize("fmt", [None, "numpy", "columns"])
def test_select_equals_datasets_select(mapped: bool, fmt: str | None) -> None:
    """The in-memory indices mapping built from numpy is what ``Dataset.select`` builds."""
    from fast_axolotl.hashing import _select, _select_with_mapping

    ds = datasets.Dataset.from_dict({"x": list(range(10)), "y": [str(i) for i in range(10)]})
    if mapped:
        ds = ds.select([9, 7, 5, 3, 1, 0, 2, 4, 6, 8])
    if fmt == "numpy":
        ds = ds.with_format("numpy")
    elif fmt == "columns":
        ds.set_format(type=None, columns=["x"], output_all_columns=True)
    cases = [[0, 2, 3, 7], [1, 2, 3], [], [9], list(range(10))]
    for kept_list in cases:
        kept = np.asarray(kept_list, dtype=np.int64)
        ours = _select(ds, kept)
        theirs = ds.select(kept_list, new_fingerprint=ours._fingerprint)
        assert (ours._indices is None) == (theirs._indices is None)
        if ours._indices is not None:
            assert ours._indices.table.equals(theirs._indices.table, check_metadata=True)
        assert ours._fingerprint == theirs._fingerprint
        assert ours.format == theirs.format
        assert ours.info == theirs.info and ours.split == theirs.split
        assert ours[:].keys() == theirs[:].keys()
        assert str(ours[:]) == str(theirs[:])
    assert _select_with_mapping(ds, np.asarray([0, 2], dtype=np.int64), "f" * 32) is not None


def test_deduplicate_pyarrow_table_and_seen_type(impl: str) -> None:
    table = pa.table({"x": [3, 3, 1]})
    out, seen = fa.deduplicate(table)
    assert out.column("x").to_pylist() == [3, 1] and len(seen) == 2
    assert all(isinstance(d, bytes) and len(d) == 32 for d in seen)
    with pytest.raises(ArgumentTypeError):
        fa.deduplicate(table, {"abc"})


def test_hash_table_shapes_columns_and_errors(impl: str) -> None:
    table = pa.table({"a": [1, 2], "b": ["x", "y"]})
    digests = fa.hash_table(table)
    assert digests.shape == (2, 32) and digests.dtype == np.uint8
    assert fa.hash_table(table, hex=True) == [d.tobytes().hex() for d in digests]
    assert (fa.hash_table(table.to_batches()) == digests).all()
    assert (fa.hash_table(table, columns=["a", "b"]) == digests).all()
    assert not (fa.hash_table(table, columns=["b", "a"]) == digests).all()
    with pytest.raises(InvalidArgumentError):
        fa.hash_table(table, columns=["c"])
    with pytest.raises(UnsupportedTypeError):
        fa.hash_table(pa.table({"t": pa.array([1], pa.timestamp("s"))}))
    with pytest.raises(ArgumentTypeError):
        fa.hash_table([1, 2])
    dictionary = pa.table({"a": pa.array(["x", "y", "x"]).dictionary_encode()})
    plain = pa.table({"a": ["x", "y", "x"]})
    assert (fa.hash_table(dictionary) == fa.hash_table(plain)).all()
    fixed = pa.table({"a": pa.array([[1, 2]], pa.list_(pa.int32(), 2))})
    assert (fa.hash_table(fixed) == fa.hash_table(pa.table({"a": [[1, 2]]}))).all()


def test_hash_table_digest_is_sha256_of_documented_encoding(impl: str) -> None:
    from fast_axolotl._fallback.rowcodec import encode_row

    table = pa.table({"ids": pa.array([[1, 300]], pa.list_(pa.int32())), "t": ["a"], "f": [math.nan]})
    encoding = encode_row(table.column_names, [[1, 300], "a", math.nan])
    assert fa.hash_table(table)[0].tobytes() == hashlib.sha256(encoding).digest()


@given(table=tables(duplicates=False), threads=st.sampled_from([1, 2, 3]))
def test_hash_table_parity(table: pa.Table, threads: int) -> None:
    results = []
    for name in fa._backend.available():
        with fa._backend.use(name):
            results.append(fa.hash_table(table, num_threads=threads))
    for other in results[1:]:
        np.testing.assert_array_equal(results[0], other)


def test_deduplicate_stream_equals_deduplicate(impl: str, tmp_path) -> None:
    import pyarrow.parquet as pq

    table = pa.table({"x": [1, 2, 1, 3, 2, 4, 1] * 3, "y": ["a", "b", "a", "c", "b", "d", "z"] * 3})
    expected, _ = fa.deduplicate(table)
    batches = table.to_batches(max_chunksize=4)
    streamed = pa.Table.from_batches(list(fa.deduplicate_stream(batches)), schema=table.schema)
    assert streamed.equals(expected)
    seen = fa.digest_set()
    first = list(fa.deduplicate_stream(table.slice(0, 5), seen=seen))
    second = list(fa.deduplicate_stream(table.slice(5), seen=seen))
    assert sum(b.num_rows for b in first + second) == expected.num_rows
    assert len(seen) == expected.num_rows
    keyed = list(fa.deduplicate_stream(table, columns=["x"]))
    assert sum(b.num_rows for b in keyed) == 4
    stats = fa.deduplicate_file(table, tmp_path / "out.parquet", batch_size=3)
    assert stats == {"rows_in": 21, "rows_out": expected.num_rows, "duplicates": 21 - expected.num_rows}
    assert pq.read_table(tmp_path / "out.parquet").equals(expected)
    with pytest.raises(ArgumentTypeError):
        list(fa.deduplicate_stream([1, 2]))
