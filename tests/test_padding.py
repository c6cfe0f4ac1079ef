"""Padding and collation: hand-checked cases and equality with Axolotl's collators."""

from __future__ import annotations

import copy

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

import fast_axolotl as fa
from fast_axolotl.errors import ArgumentTypeError, InvalidArgumentError, SequenceTooLongError

transformers = pytest.importorskip("transformers")
import upstream as axo  # noqa: E402


def test_pad_sequences(impl: str) -> None:
    seqs = [[1, 2, 3], [4]]
    assert fa.pad_sequences(seqs).tolist() == [[1, 2, 3], [4, 0, 0]]
    assert fa.pad_sequences(seqs, 5, pad_value=-1, padding_side="left").tolist() == [
        [-1, -1, 1, 2, 3],
        [-1, -1, -1, -1, 4],
    ]
    assert fa.pad_sequences(seqs, pad_to_multiple_of=4).shape == (2, 4)
    assert fa.pad_sequences(seqs, 2 + 3, pad_to_multiple_of=4).shape == (2, 8)
    assert fa.pad_sequences([]).shape == (0, 0)
    assert fa.pad_sequences(seqs, return_tensors="list") == [[1, 2, 3], [4, 0, 0]]
    with pytest.raises(SequenceTooLongError):
        fa.pad_sequences(seqs, 2)
    with pytest.raises(InvalidArgumentError):
        fa.pad_sequences(seqs, padding_side="middle")
    with pytest.raises(InvalidArgumentError):
        fa.pad_sequences(seqs, pad_to_multiple_of=0)
    with pytest.raises(ArgumentTypeError):
        fa.pad_sequences(seqs, target_length="5")


def test_pad_sequences_arrow_input_is_equal(impl: str) -> None:
    array = pa.array([[1, 2, 3], [4]], pa.list_(pa.int32()))
    np.testing.assert_array_equal(fa.pad_sequences(array), fa.pad_sequences([[1, 2, 3], [4]]))


def test_create_padding_mask() -> None:
    assert fa.create_padding_mask(2, 5) == [0, 1, 2]
    assert fa.create_padding_mask(5, 2) == []


def test_v2_example_from_axolotl(impl: str) -> None:
    bin_ = [
        {"input_ids": [5, 6, 7], "labels": [-100, 6, 7], "position_ids": [0, 1, 2], "attention_mask": [1, 1, 1]},
        {"input_ids": [8, 9], "labels": [8, 9], "position_ids": [0, 1], "attention_mask": [1, 1]},
    ]
    out = fa.collate([bin_], pad_token_id=0, pad_to_multiple_of=8, multipack="v2")
    assert out["input_ids"].tolist() == [[5, 6, 7, 8, 9, 0, 0, 0]]
    assert out["attention_mask"].tolist() == [[1, 1, 1, 2, 2, 0, 0, 0]]
    assert out["labels"].tolist() == [[-100, 6, 7, 8, 9, -100, -100, -100]]
    assert out["position_ids"].tolist() == [[0, 1, 2, 0, 1, 0, 1, 2]]


def test_collate_errors(impl: str) -> None:
    with pytest.raises(InvalidArgumentError):
        fa.collate([], pad_token_id=0)
    with pytest.raises(InvalidArgumentError):
        fa.collate([{"input_ids": [1]}, {"labels": [1]}], pad_token_id=0)
    with pytest.raises(InvalidArgumentError):
        fa.collate([{"input_ids": [1]}], pad_token_id=0, multipack="v3")
    with pytest.raises(InvalidArgumentError):
        fa.collate([{"input_ids": [1], "extra": [1]}, {"input_ids": [1], "extra": [1, 2]}], pad_token_id=0)


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.int16])
def test_collate_ndarray_rows_equal_list_rows(impl: str, side: str, dtype: type) -> None:
    # ndarray rows are padded one array each (not concatenated first): same output as lists.
    rng = np.random.default_rng(1)
    lists = []
    for n in (5, 1, 9, 0, 7):
        ids = rng.integers(3, 600, n).tolist()
        lists.append(
            {
                "input_ids": ids,
                "labels": [-100] * (n // 2) + ids[n // 2 :],
                "attention_mask": [1] * n,
                "position_ids": list(range(n)),
                "fixed": [4, 5, 6],
            }
        )
    arrays = [{key: np.asarray(value, dtype=dtype) for key, value in f.items()} for f in lists]
    for multiple in (None, 4):
        expected = fa.collate(lists, pad_token_id=0, padding_side=side, pad_to_multiple_of=multiple)
        got = fa.collate(arrays, pad_token_id=0, padding_side=side, pad_to_multiple_of=multiple)
        assert list(got) == list(expected)
        for key in expected:
            assert got[key].dtype == expected[key].dtype == np.int64, key
            np.testing.assert_array_equal(got[key], expected[key], err_msg=key)
    with pytest.raises(InvalidArgumentError):
        fa.collate(
            [{"input_ids": np.ones(2, np.int64), "extra": np.ones(1, np.int64)}] * 2
            + [{"input_ids": np.ones(1, np.int64), "extra": np.ones(2, np.int64)}],
            pad_token_id=0,
        )


@pytest.fixture(scope="module")
def tokenizer_factory():
    from tokenizers import Tokenizer, models

    def make(side: str):
        vocab = {"<pad>": 0, "</s>": 2, **{f"t{i}": i for i in range(3, 64)}}
        tok = transformers.PreTrainedTokenizerFast(
            tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token="<pad>")),
            pad_token="<pad>",
            eos_token="</s>",
        )
        tok.padding_side = side
        return tok

    return make


def _features(draw_lengths: list[int], with_position: bool, with_mask: bool, with_labels: bool) -> list[dict]:
    feats = []
    for n, length in enumerate(draw_lengths):
        ids = [3 + (n * 7 + i) % 60 for i in range(length)]
        item = {"input_ids": ids}
        if with_labels:
            item["labels"] = [-100 if i % 3 == 0 else t for i, t in enumerate(ids)]
        if with_position:
            item["position_ids"] = list(range(length))
        if with_mask:
            item["attention_mask"] = [1] * length
        feats.append(item)
    return feats


def _assert_same(got: dict, expected: dict) -> None:
    assert list(got) == list(expected)
    for key in expected:
        want = np.asarray(expected[key])
        assert got[key].dtype == np.int64
        np.testing.assert_array_equal(got[key], want, err_msg=key)


flags = st.tuples(st.booleans(), st.booleans(), st.booleans())


@given(
    lengths=st.lists(st.integers(1, 12), min_size=1, max_size=6),
    flag=flags,
    side=st.sampled_from(["right", "left"]),
    multiple=st.sampled_from([None, 1, 4, 8, 64]),
)
def test_collate_equals_data_collator_for_seq2seq(tokenizer_factory, lengths, flag, side, multiple) -> None:
    tokenizer = tokenizer_factory(side)
    feats = _features(lengths, *flag)
    collator = axo.DataCollatorForSeq2Seq(tokenizer, pad_to_multiple_of=multiple, return_tensors="np")
    expected = collator(copy.deepcopy(feats))
    for name in fa._backend.available():
        with fa._backend.use(name):
            got = fa.collate(feats, pad_token_id=0, padding_side=side, pad_to_multiple_of=multiple)
            _assert_same(got, expected)


@given(
    bins=st.lists(st.lists(st.integers(1, 10), min_size=1, max_size=4), min_size=1, max_size=3),
    flag=flags,
    side=st.sampled_from(["right", "left"]),
    multiple=st.sampled_from([None, 8, 32]),
    v2=st.booleans(),
)
def test_collate_equals_multipack_collators(tokenizer_factory, bins, flag, side, multiple, v2) -> None:
    tokenizer = tokenizer_factory(side)
    features = [_features(lengths, *flag) for lengths in bins]
    for bin_ in features:
        for item in bin_:
            item["length"] = len(item["input_ids"])
    cls = axo.V2BatchSamplerDataCollatorForSeq2Seq if v2 else axo.BatchSamplerDataCollatorForSeq2Seq
    expected = cls(tokenizer, pad_to_multiple_of=multiple, return_tensors="np")(copy.deepcopy(features))
    for name in fa._backend.available():
        with fa._backend.use(name):
            got = fa.collate(
                features,
                pad_token_id=0,
                padding_side=side,
                pad_to_multiple_of=multiple,
                multipack="v2" if v2 else "batch_sampler",
            )
            _assert_same(got, expected)
