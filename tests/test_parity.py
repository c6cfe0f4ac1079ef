"""Differential tests: native and reference give identical outputs and exception types.

Run with ``HYPOTHESIS_PROFILE=parity`` (``nox -s parity``) for thousands of cases.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from conftest import needs_native
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import tables

import fast_axolotl as fa

pytestmark = needs_native

# Under `nox -s parity` every operation gets 3000 generated cases (the profile's default is 1500).
OPS = settings(max_examples=3000) if os.environ.get("HYPOTHESIS_PROFILE") == "parity" else settings()

sequences = st.lists(st.lists(st.integers(-(2**40), 2**40), max_size=40), max_size=40)
small_int = st.integers(-5, 70)


def _outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "ok", call()
    except Exception as exc:  # the exception TYPE is part of the contract
        return "error", type(exc)


def _same(a: Any, b: Any) -> None:
    if isinstance(a, dict):
        assert list(a) == list(b)
        for key in a:
            _same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b


def check(call: Callable[[], Any]) -> None:
    with fa._backend.use("native"):
        native = _outcome(call)
    with fa._backend.use("fallback"):
        reference = _outcome(call)
    assert native[0] == reference[0], (native, reference)
    if native[0] == "ok":
        _same(native[1], reference[1])
    else:
        assert native[1] is reference[1]


@OPS
@given(
    seqs=sequences,
    max_length=small_int,
    overflow=st.sampled_from(["truncate", "split", "error", "bogus"]),
    positions=st.booleans(),
    seq_lens=st.booleans(),
)
def test_pack_sequences(seqs: list[list[int]], max_length: int, overflow: str, positions: bool, seq_lens: bool) -> None:
    check(
        lambda: fa.pack_sequences(
            seqs, max_length, 0, 2, overflow=overflow, return_position_ids=positions, return_seq_lens=seq_lens
        )
    )


@OPS
@given(
    seqs=sequences,
    max_length=small_int,
    overflow=st.sampled_from(["truncate", "split", "error"]),
    positions=st.booleans(),
)
def test_concatenate_and_pack(seqs: list[list[int]], max_length: int, overflow: str, positions: bool) -> None:
    labels = [[-100 if t % 2 else t for t in s] for s in seqs]
    masks = [[1] * len(s) for s in seqs]
    check(
        lambda: fa.concatenate_and_pack(
            seqs, labels, masks, max_length, 0, overflow=overflow, return_position_ids=positions, return_seq_lens=True
        )
    )


@OPS
@given(
    lengths=st.lists(st.integers(-1, 3000), max_size=200),
    capacity=st.integers(-1, 4096),
    bin_size=st.none() | st.integers(0, 16),
    group_size=st.integers(0, 300),
    sequential=st.booleans(),
    threads=st.integers(0, 3),
)
def test_pack_bins(
    lengths: list[int], capacity: int, bin_size: int | None, group_size: int, sequential: bool, threads: int
) -> None:
    check(
        lambda: fa.pack_bins(
            lengths, capacity, bin_size=bin_size, group_size=group_size, sequential=sequential, num_threads=threads
        )
    )


@OPS
@given(
    seqs=sequences,
    target=st.none() | st.integers(-1, 50),
    side=st.sampled_from(["right", "left", "up"]),
    multiple=st.none() | st.integers(0, 9),
    pad=st.integers(-(2**63), 2**63 - 1),
)
def test_pad_sequences(seqs: list[list[int]], target: int | None, side: str, multiple: int | None, pad: int) -> None:
    check(lambda: fa.pad_sequences(seqs, target, pad, side, multiple))


@OPS
@given(
    rows=st.lists(st.one_of(st.text(max_size=30), st.binary(max_size=30)), max_size=50),
    existing=st.lists(st.sampled_from(["", "a", "0" * 64]), max_size=3),
    threads=st.integers(0, 4),
)
def test_hash_and_dedup_rows(rows: list[str | bytes], existing: list[str], threads: int) -> None:
    rows = rows + rows[: len(rows) // 2]
    check(lambda: fa.parallel_hash_rows(rows, threads))
    check(lambda: fa.deduplicate_indices(rows, existing, threads))


@OPS
@given(
    bins=st.lists(
        st.lists(st.lists(st.integers(0, 99), min_size=1, max_size=12), min_size=1, max_size=4), min_size=1, max_size=4
    ),
    multipack=st.sampled_from([None, "batch_sampler", "v2"]),
    side=st.sampled_from(["right", "left"]),
    multiple=st.none() | st.integers(1, 16),
)
def test_collate(bins: list[list[list[int]]], multipack: str | None, side: str, multiple: int | None) -> None:
    def feature(ids: list[int]) -> dict[str, Any]:
        return {
            "input_ids": ids,
            "attention_mask": [1] * len(ids),
            "labels": ids[::-1],
            "position_ids": list(range(len(ids))),
        }

    if multipack is None:
        features: Any = [feature(ids) for b in bins for ids in b]
    else:
        features = [[feature(ids) for ids in b] for b in bins]
    check(
        lambda: fa.collate(
            features, pad_token_id=7, padding_side=side, pad_to_multiple_of=multiple, multipack=multipack
        )
    )


def test_panics_never_escape_as_base_exceptions() -> None:
    # Offsets that lie about the values are rejected by the core, not by a panic.
    native = fa._backend.native_module()
    assert native is not None
    with pytest.raises(fa.errors.InvalidArgumentError):
        native.pad_block(
            [((np.array([1, 2], dtype=np.int64), np.array([0, 5], dtype=np.int64)), 0, False)], 1, 8, False
        )
    with pytest.raises(fa.errors.InvalidArgumentError):
        native.pack_sequences(
            np.array([1], dtype=np.int64), np.array([1, 0], dtype=np.int64), 8, 0, 2, -100, "truncate", False
        )


_elements = st.one_of(
    st.integers(-(2**64), 2**64),
    st.booleans(),
    st.floats(allow_nan=False, width=32),
    st.integers(-(2**63), 2**63 - 1).map(np.int64),
    st.integers(0, 255).map(np.uint8),
    st.just(np.True_),
    st.text(max_size=2),
)


@OPS
@given(seqs=st.lists(st.lists(_elements, max_size=6) | st.tuples(_elements), max_size=6))
def test_list_inputs(seqs: list[Any]) -> None:
    check(lambda: fa.pad_sequences(seqs))


@OPS
@given(table=tables(duplicates=True), threads=st.sampled_from([0, 1, 3]), columns=st.booleans())
def test_hash_table_and_deduplicate(table: Any, threads: int, columns: bool) -> None:
    chosen = table.column_names[::-1] if columns else None
    check(lambda: fa.hash_table(table, columns=chosen, num_threads=threads))
    check(lambda: fa.deduplicate(table, num_threads=threads)[0].to_pydict())
    check(lambda: [b.to_pydict() for b in fa.deduplicate_stream(table.to_batches(max_chunksize=3))])
