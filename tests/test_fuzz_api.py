"""Hypothesis fuzzing of the Python API: arbitrary bytes as files of every format, arbitrary
arguments to every operation. Whatever the input, both backends either return the same result
or raise the same FastAxolotlError subclass; nothing else escapes (no crash, no bare
ValueError/IndexError). ``nox -s fuzz`` runs this with the ``parity`` profile (1500 examples);
the cargo-fuzz targets (rust/fuzz/) cover the native readers at millions of inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reading_helpers import both
from workloads import canonical

import fast_axolotl as fa
from fast_axolotl import _backend

pytestmark = pytest.mark.skipif(_backend.native_module() is None, reason="compares native with the reference")
HEALTH = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
FORMATS = ["parquet", "arrow", "jsonl", "json", "csv", "tsv", "text"]
_count = [0]


@settings(suppress_health_check=HEALTH)
@given(
    data=st.binary(max_size=512),
    fmt=st.sampled_from(FORMATS),
    compression=st.sampled_from(["", ".gz", ".zst"]),
    prefix=st.sampled_from([b"", b"PAR1", b"ARROW1\x00\x00", b"\xff\xff\xff\xff", b"\x1f\x8b\x08\x00", b"(\xb5/\xfd"]),
    batch_size=st.integers(1, 9),
    on_error=st.sampled_from(["raise", "skip"]),
)
def test_arbitrary_bytes_as_files(
    tmp_path: Path, data: bytes, fmt: str, compression: str, prefix: bytes, batch_size: int, on_error: str
) -> None:
    _count[0] += 1
    path = tmp_path / f"f{_count[0]}.{fmt}"
    path.write_bytes(prefix + data)
    both(path, format=fmt + compression, batch_size=batch_size, on_error=on_error)


def outcome(impl: str, call: Any) -> tuple[str, Any]:
    with _backend.use(impl):
        try:
            return "ok", canonical(call())
        except fa.errors.FastAxolotlError as exc:
            return "error", type(exc)


def same(call: Any) -> None:
    native, fallback = outcome("native", call), outcome("fallback", call)
    assert native == fallback


SEQUENCES = st.lists(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=12), max_size=12)
SMALL = st.integers(-3, 70)


@settings(suppress_health_check=HEALTH)
@given(seqs=SEQUENCES, max_length=SMALL, pad=SMALL, eos=SMALL, overflow=st.sampled_from(["truncate", "split", "error"]))
def test_pack_sequences_arguments(seqs: list[list[int]], max_length: int, pad: int, eos: int, overflow: str) -> None:
    same(lambda: fa.pack_sequences(seqs, max_length, pad, eos, overflow=overflow, return_seq_lens=True))  # type: ignore[arg-type]


@settings(suppress_health_check=HEALTH)
@given(
    seqs=SEQUENCES, target=st.none() | SMALL, multiple=st.none() | SMALL, side=st.sampled_from(["left", "right", "x"])
)
def test_pad_sequences_arguments(seqs: list[list[int]], target: int | None, multiple: int | None, side: str) -> None:
    same(lambda: fa.pad_sequences(seqs, target, 0, side, multiple))  # type: ignore[arg-type]


@settings(suppress_health_check=HEALTH)
@given(
    lengths=st.lists(st.integers(-2, 80), max_size=60),
    capacity=SMALL,
    bin_size=st.none() | SMALL,
    group=st.integers(-1, 30),
    sequential=st.booleans(),
)
def test_pack_bins_arguments(
    lengths: list[int], capacity: int, bin_size: int | None, group: int, sequential: bool
) -> None:
    same(
        lambda: fa.pack_bins(
            np.array(lengths, np.int64), capacity, bin_size=bin_size, group_size=group, sequential=sequential
        )
    )


@settings(suppress_health_check=HEALTH)
@given(rows=st.lists(st.text(max_size=6) | st.binary(max_size=6), max_size=20))
def test_hash_rows_arguments(rows: list[Any]) -> None:
    same(lambda: fa.deduplicate_indices(rows))
    same(lambda: fa.parallel_hash_rows(rows))
