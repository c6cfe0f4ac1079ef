"""Packing and multipack bins: hand-checked cases and equality with Axolotl's own code."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import upstream as axo
from hypothesis import given
from hypothesis import strategies as st

import fast_axolotl as fa
from fast_axolotl.errors import ArgumentTypeError, InvalidArgumentError, SequenceTooLongError

EXAMPLE = [5, 3000, 7, 2, 9, 9, 9]


def test_pack_bins_axolotl_examples(impl: str) -> None:
    assert fa.pack_bins(EXAMPLE, 16) == [[0, 2, 3], [1], [4], [5], [6]]
    assert fa.pack_bins(EXAMPLE, 16, bin_size=2) == [[0, 2], [1], [3, 4], [5], [6]]
    assert fa.pack_bins(EXAMPLE, 16, sequential=True) == [[0], [1], [2, 3], [4], [5], [6]]


def test_pack_bins_arrays_and_inputs(impl: str) -> None:
    indices, offsets = fa.pack_bins(np.array(EXAMPLE, dtype=np.int32), 16, as_arrays=True)
    assert indices.tolist() == [0, 2, 3, 1, 4, 5, 6]
    assert offsets.tolist() == [0, 3, 4, 5, 6, 7]
    assert fa.pack_bins(pa.array(EXAMPLE), 16) == fa.pack_bins(EXAMPLE, 16)
    assert fa.pack_bins([], 16) == []


def test_pack_bins_groups_are_independent(impl: str) -> None:
    assert fa.pack_bins([4, 4, 4, 4], 8, group_size=3) == [[0, 1], [2], [3]]


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"lengths": [-1], "bin_capacity": 4}, InvalidArgumentError),
        ({"lengths": [1], "bin_capacity": 0}, InvalidArgumentError),
        ({"lengths": [1], "bin_capacity": 4, "bin_size": 0}, InvalidArgumentError),
        ({"lengths": [1.5], "bin_capacity": 4}, ArgumentTypeError),
        ({"lengths": "abc", "bin_capacity": 4}, ArgumentTypeError),
        ({"lengths": [1], "bin_capacity": 4.0}, ArgumentTypeError),
    ],
)
def test_pack_bins_rejects_bad_arguments(impl: str, kwargs: dict, error: type) -> None:
    with pytest.raises(error):
        fa.pack_bins(**kwargs)


@given(
    lengths=st.lists(st.integers(0, 40), max_size=60),
    capacity=st.integers(1, 48),
    bin_size=st.integers(1, 8),
    group_size=st.integers(1, 70),
)
def test_pack_bins_equals_axolotl_pack_parallel(
    lengths: list[int], capacity: int, bin_size: int, group_size: int
) -> None:
    expected = axo.pack_parallel(np.array(lengths, dtype=np.int32), capacity, group_size, bin_size, num_processes=1)
    for name in fa._backend.available():
        with fa._backend.use(name):
            assert fa.pack_bins(lengths, capacity, bin_size=bin_size, group_size=group_size) == expected


@given(lengths=st.lists(st.integers(0, 40), max_size=60), capacity=st.integers(1, 48))
def test_sequential_equals_axolotl_allocate_sequentially(lengths: list[int], capacity: int) -> None:
    expected, _, _ = axo.allocate_sequentially(np.array(lengths, dtype=np.int32), 0, capacity, 1)
    for name in fa._backend.available():
        with fa._backend.use(name):
            assert fa.pack_bins(lengths, capacity, sequential=True) == expected


class _FakeTokenizer:
    """What encode_streaming needs of a tokenizer: ids already tokenized, truncated as HF does."""

    eos_token_id = 2
    pad_token_id = 0

    def __call__(self, texts: list[list[int]], truncation: bool, max_length: int, add_special_tokens: bool) -> dict:
        ids = [t[:max_length] if truncation else t for t in texts]
        return {"input_ids": ids, "attention_mask": [[1] * len(t) for t in ids]}


@given(
    sequences=st.lists(st.lists(st.integers(3, 1000), max_size=20), max_size=30),
    max_length=st.integers(3, 24),
)
def test_pack_sequences_equals_axolotl_encode_streaming(sequences: list[list[int]], max_length: int) -> None:
    expected = axo.encode_streaming({"text": sequences}, _FakeTokenizer(), max_length, concatenate=True)
    for name in fa._backend.available():
        with fa._backend.use(name):
            got = fa.pack_sequences(sequences, max_length, pad_token_id=0, eos_token_id=2, return_tensors="list")
            assert got == {
                key: [list(row) for row in expected[key]] for key in ("input_ids", "labels", "attention_mask")
            }


def test_pack_sequences_hand_checked(impl: str) -> None:
    out = fa.pack_sequences([[1, 2, 3], [4], [5, 6]], 8, 0, 9, return_position_ids=True, return_seq_lens=True)
    assert out["input_ids"].tolist() == [[1, 2, 3, 9, 0, 4, 9, 0], [5, 6, 9, 0, 0, 0, 0, 0]]
    assert out["labels"].tolist() == [[1, 2, 3, 9, -100, 4, 9, -100], [5, 6, 9, -100, -100, -100, -100, -100]]
    assert out["attention_mask"].tolist() == [[1, 1, 1, 1, 0, 1, 1, 0], [1, 1, 1, 0, 0, 0, 0, 0]]
    assert out["position_ids"].tolist() == [[0, 1, 2, 3, 4, 0, 1, 2], [0, 1, 2, 3, 0, 1, 2, 3]]
    assert [s.tolist() for s in out["seq_lens"]] == [[5, 3], [4]]
    assert out["input_ids"].dtype == np.int64


def test_pack_sequences_overflow(impl: str) -> None:
    long = list(range(1, 11))
    truncated = fa.pack_sequences([long], 6, 0, 99)
    assert truncated["input_ids"].tolist() == [[1, 2, 3, 4, 99, 0]]
    split = fa.pack_sequences([long], 6, 0, 99, overflow="split")
    assert split["input_ids"].tolist() == [[1, 2, 3, 4, 99, 0], [5, 6, 7, 8, 99, 0], [9, 10, 99, 0, 0, 0]]
    with pytest.raises(SequenceTooLongError):
        fa.pack_sequences([long], 6, 0, 99, overflow="error")
    with pytest.raises(InvalidArgumentError):
        fa.pack_sequences([long], 6, 0, 99, overflow="wrap")
    with pytest.raises(InvalidArgumentError):
        fa.pack_sequences([long], 2, 0, 99)


def test_pack_sequences_inputs(impl: str) -> None:
    expected = fa.pack_sequences([[1, 2], [3, 4]], 8, 0, 9)
    variants = [
        np.array([[1, 2], [3, 4]]),
        pa.array([[1, 2], [3, 4]], pa.list_(pa.int32())),
        pa.array([[9], [1, 2], [3, 4]], pa.large_list(pa.int16())).slice(1),
        pa.chunked_array([[[1, 2]], [[3, 4]]]),
        [np.array([1, 2]), (3, 4)],
    ]
    for variant in variants:
        got = fa.pack_sequences(variant, 8, 0, 9)
        for key in expected:
            np.testing.assert_array_equal(got[key], expected[key])
    assert fa.pack_sequences([], 8, 0, 9)["input_ids"].shape == (0, 8)
    with pytest.raises(ArgumentTypeError):
        fa.pack_sequences([[1.5]], 8, 0, 9)
    with pytest.raises(ArgumentTypeError):
        fa.pack_sequences([1, 2], 8, 0, 9)
    with pytest.raises(InvalidArgumentError):
        fa.pack_sequences([[2**64]], 8, 0, 9)
    with pytest.raises(InvalidArgumentError):
        fa.pack_sequences(pa.array([[1], None]), 8, 0, 9)


def test_concatenate_and_pack(impl: str) -> None:
    out = fa.concatenate_and_pack([[1, 2, 3], [4, 5], [6]], [[-100, 2, 3], [4, 5], [6]], [[1, 1, 1], [1, 1], [1]], 5, 0)
    assert out["input_ids"].tolist() == [[1, 2, 3, 4, 5], [6, 0, 0, 0, 0]]
    assert out["labels"].tolist() == [[-100, 2, 3, 4, 5], [6, -100, -100, -100, -100]]
    assert out["attention_mask"].tolist() == [[1, 1, 1, 1, 1], [1, 0, 0, 0, 0]]
    with pytest.raises(InvalidArgumentError, match="samples"):
        fa.concatenate_and_pack([[1], [2]], [[1]], [[1], [1]], 4, 0)
    with pytest.raises(InvalidArgumentError, match="sample 1"):
        fa.concatenate_and_pack([[1], [2, 3]], [[1], [2]], [[1], [1, 1]], 4, 0)
    assert fa.concatenate_and_pack([[1, 2, 3, 4, 5]], [[1, 2, 3, 4, 5]], [[1] * 5], 4, 0)["input_ids"].tolist() == [
        [1, 2, 3, 4]
    ]


def test_position_ids_and_cu_seqlens(impl: str) -> None:
    assert fa.position_ids([3, 0, 2]).tolist() == [0, 1, 2, 0, 1]
    cu = fa.cu_seqlens([3, 0, 2])
    assert cu.tolist() == [0, 3, 3, 5] and cu.dtype == np.int32


@pytest.mark.parametrize("from_arrow", [False, True])
def test_lengths_from_equals_get_dataset_lengths(from_arrow: bool) -> None:
    datasets = pytest.importorskip("datasets")
    ids = [[1, 2, 3], [4], [5, 6], [7, 8, 9, 10]]
    base = datasets.Dataset.from_dict({"input_ids": ids})
    variants = [
        base,
        base.select([3, 1, 0]),
        base.add_column("position_ids", [list(range(len(x))) for x in ids]).select([2, 0]),
        base.add_column("length", [len(x) for x in ids]).shuffle(seed=1),
    ]
    for ds in variants:
        expected = axo.get_dataset_lengths(ds, from_arrow=from_arrow)
        got = fa.lengths_from(ds, from_arrow=from_arrow)
        assert got.tolist() == expected.tolist()
        assert got.dtype == np.int64


def test_lengths_from_arrow_arrays() -> None:
    array = pa.array([[1, 2], [], [3, 4, 5]], pa.large_list(pa.int32()))
    assert fa.lengths_from(array).tolist() == [2, 0, 3]
    assert fa.lengths_from(array.slice(1)).tolist() == [0, 3]
    assert fa.lengths_from(pa.chunked_array([array, array])).tolist() == [2, 0, 3, 2, 0, 3]
    with pytest.raises(InvalidArgumentError):
        fa.lengths_from(pa.array([[1], None]))
    with pytest.raises(ArgumentTypeError):
        fa.lengths_from(pa.array([1, 2]))
