"""Packing, multipack bins, padding and collation: native vs the reference, numpy,
fast-axolotl 0.2.0 (PyPI, set FAST_AXOLOTL_020_PYTHON) and Axolotl's own code
(its 0.21.0 wheel's files, fetched from PyPI by tests/upstream.py; numba-compiled where
Axolotl uses numba).

    python benchmarks/bench_packing.py [--quick]
"""

from __future__ import annotations

import argparse
import copy
from typing import Any

import numpy as np
import pyarrow as pa
from _common import axo, best, digest_of, header, on, row, time_old

import fast_axolotl as fa


def numpy_pad(seqs: list[np.ndarray], target: int) -> np.ndarray:
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    out = np.zeros((len(seqs), target), dtype=np.int64)
    out[np.arange(target) < lengths[:, None]] = np.concatenate(seqs)
    return out


def bench_pack_sequences(rng: np.random.Generator, sizes: list[int], repeat: int) -> None:
    for n in sizes:
        _pack_row(rng, n, repeat)


def _pack_row(rng: np.random.Generator, n: int, repeat: int) -> None:
    seqs = [rng.integers(3, 32000, rng.integers(10, 101)).tolist() for _ in range(n)]
    native = best(on("native", lambda: fa.pack_sequences(seqs, 512, 0, 2)), repeat)
    others: dict[str, float | None] = {}
    # The reference once per size above 10k (about 80 s at 1M lists on 2 cores).
    others["reference"] = best(on("fallback", lambda: fa.pack_sequences(seqs, 512, 0, 2)), 1 if n > 10_000 else repeat)
    old = time_old("pack_sequences", (seqs, 512, 0, 2), {}, 1 if n > 10_000 else repeat)
    if old is not None:
        ours = fa.pack_sequences(seqs, 512, 0, 2, return_tensors="list")
        assert old[1] == digest_of({k: ours[k] for k in ("input_ids", "labels", "attention_mask")}), (
            "0.2.0 output differs"
        )
        others["fast-axolotl 0.2.0 (same output)"] = old[0]
    row("pack_sequences (lists in, lengths 10-100, max 512)", f"{n:,}", native, others)
    arrow = pa.array(seqs, pa.list_(pa.int32()))
    row(
        "pack_sequences (Arrow list<int32> in)",
        f"{n:,}",
        best(on("native", lambda: fa.pack_sequences(arrow, 512, 0, 2)), repeat),
        {
            "native from lists (above)": native,
        },
    )


def bench_pack_bins(rng: np.random.Generator, n: int, repeat: int) -> None:
    import time

    lengths = rng.integers(16, 1025, n).astype(np.int32)
    native = best(on("native", lambda: fa.pack_bins(lengths, 2048, bin_size=200)), repeat)
    others: dict[str, float | None] = {}
    try:
        import numba

        # Axolotl's multipack module (tests/upstream.py: its numba stand-in leaves pack_group
        # a Python function; with Axolotl installed it is already numba's).
        multipack = axo.module("axolotl.utils.samplers.multipack")
        python_pack_group = multipack.pack_group
        if not hasattr(python_pack_group, "py_func"):
            multipack.pack_group = numba.njit(python_pack_group)
        start = time.perf_counter()
        cold_bins = multipack.pack_parallel(lengths, 2048, 100_000, 200, num_processes=1)
        cold = time.perf_counter() - start
        warm = best(lambda: multipack.pack_parallel(lengths, 2048, 100_000, 200, num_processes=1), repeat)
        multipack.pack_group = python_pack_group
        assert [list(b) for b in cold_bins] == fa.pack_bins(lengths, 2048, bin_size=200), "bins differ from Axolotl"
        others["Axolotl pack_parallel, numba warm (identical bins)"] = warm
        others["Axolotl pack_parallel, numba first call (compile)"] = cold
    except ImportError:
        others["Axolotl pack_parallel (numba not installed)"] = None
    if n <= 100_000:
        others["reference"] = best(on("fallback", lambda: fa.pack_bins(lengths, 2048, bin_size=200)), 1)
    row("pack_bins (lengths 16-1024, capacity 2048, bin_size 200)", f"{n:,}", native, others)


def bench_padding(rng: np.random.Generator, repeat: int) -> None:
    arrays = [rng.integers(3, 32000, rng.integers(10, 257)) for _ in range(10_000)]
    lists = [a.tolist() for a in arrays]
    native = best(on("native", lambda lists=lists: fa.pad_sequences(lists, 256)), repeat)
    others: dict[str, float | None] = {
        "reference": best(on("fallback", lambda: fa.pad_sequences(lists, 256)), repeat),
        "numpy (np.asarray per row + mask scatter)": best(
            lambda: numpy_pad([np.asarray(s) for s in lists], 256), repeat
        ),
    }
    old = time_old("pad_sequences", (lists, 256), {}, repeat)
    if old is not None:
        assert old[1] == digest_of(fa.pad_sequences(lists, 256, return_tensors="list")), "0.2.0 output differs"
        others["fast-axolotl 0.2.0 (same output)"] = old[0]
    row("pad_sequences (lists, lengths 10-256, target 256)", "10,000", native, others)
    native_arrays = best(on("native", lambda: fa.pad_sequences(arrays, 256)), repeat)
    row(
        "pad_sequences (1-D ndarrays in)",
        "10,000",
        native_arrays,
        {
            "numpy mask scatter": best(lambda: numpy_pad(arrays, 256), repeat),
        },
    )


def bench_sweeps(rng: np.random.Generator, sizes: list[int], repeat: int) -> None:
    """Native vs the reference at every size: no size where native loses."""
    for n in sizes:
        lists = [rng.integers(3, 32000, rng.integers(10, 257)).tolist() for _ in range(n)]
        row(
            "pad_sequences sweep (lists, lengths 10-256, target 256)",
            f"{n:,}",
            best(on("native", lambda lists=lists: fa.pad_sequences(lists, 256)), repeat),
            {
                "reference": best(
                    on("fallback", lambda lists=lists: fa.pad_sequences(lists, 256)), 1 if n > 10_000 else repeat
                )
            }
            if n <= 100_000
            else {"reference (not run above 100k)": None},
        )
    for n in sizes:
        lengths = rng.integers(16, 1025, n).astype(np.int64)
        row(
            "pack_bins sweep (lengths 16-1024, capacity 2048, bin_size 200)",
            f"{n:,}",
            best(on("native", lambda lengths=lengths: fa.pack_bins(lengths, 2048, bin_size=200)), repeat),
            {"reference": best(on("fallback", lambda lengths=lengths: fa.pack_bins(lengths, 2048, bin_size=200)), 1)}
            if n <= 10_000  # the reference first fit scans every open bin: quadratic
            else {"reference (quadratic: not run above 10k)": None},
        )


def bench_collate(rng: np.random.Generator, repeat: int) -> None:
    try:
        import transformers
        from tokenizers import Tokenizer, models
    except ImportError:
        print("transformers not installed: collator rows skipped")
        return
    tok = transformers.PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel({"<pad>": 0, "</s>": 2}, unk_token="<pad>")),
        pad_token="<pad>",
        eos_token="</s>",
    )

    def sample(n: int) -> dict[str, Any]:
        ids = rng.integers(3, 32000, n).tolist()
        return {
            "input_ids": ids,
            "attention_mask": [1] * n,
            "labels": [-100] * (n // 3) + ids[n // 3 :],
            "position_ids": list(range(n)),
        }

    # One packed bin of ~2048 tokens (V2 collator, pad to 2048).
    lengths = [300, 500, 200, 700, 300]
    packed = [[sample(n) for n in lengths]]
    v2 = axo.V2BatchSamplerDataCollatorForSeq2Seq(tok, pad_to_multiple_of=2048, return_tensors="np")
    expected = v2(copy.deepcopy(packed))
    got = fa.collate(packed, pad_token_id=0, pad_to_multiple_of=2048, multipack="v2")
    assert all(np.array_equal(got[k], expected[k]) for k in expected)
    out_bytes = sum(v.nbytes for v in got.values())
    buf = np.empty(out_bytes // 8, dtype=np.int64)
    src = np.ones_like(buf)
    row(
        "collate, V2 multipack, 1 bin of 2000 tokens -> 2048",
        "1 batch",
        best(
            on("native", lambda: fa.collate(packed, pad_token_id=0, pad_to_multiple_of=2048, multipack="v2")),
            repeat * 20,
        ),
        {
            "Axolotl V2BatchSamplerDataCollatorForSeq2Seq (identical arrays)": best(
                lambda: v2(copy.deepcopy(packed)), repeat * 5
            ),
            "deepcopy of the features alone (inside the line above)": best(lambda: copy.deepcopy(packed), repeat * 5),
            f"memcpy of the output bytes ({out_bytes // 1024} KiB)": best(lambda: np.copyto(buf, src), repeat * 20),
        },
    )
    rows = [sample(int(n)) for n in rng.integers(16, 1025, 8)]
    plain = axo.DataCollatorForSeq2Seq(tok, pad_to_multiple_of=64, return_tensors="np")
    expected = plain(copy.deepcopy(rows))
    got = fa.collate(rows, pad_token_id=0, pad_to_multiple_of=64)
    assert all(np.array_equal(got[k], expected[k]) for k in expected)
    out_bytes = sum(v.nbytes for v in got.values())
    buf = np.empty(out_bytes // 8, dtype=np.int64)
    src = np.ones_like(buf)
    row(
        "collate, 8 unpacked rows (16-1024 tokens), multiple of 64",
        "1 batch",
        best(on("native", lambda: fa.collate(rows, pad_token_id=0, pad_to_multiple_of=64)), repeat * 20),
        {
            "Axolotl DataCollatorForSeq2Seq (identical arrays)": best(lambda: plain(copy.deepcopy(rows)), repeat * 5),
            f"memcpy of the output bytes ({out_bytes // 1024} KiB)": best(lambda: np.copyto(buf, src), repeat * 20),
        },
    )
    # Large batches, where fixed per-call costs fade: rows given as numpy arrays.
    for n_rows, longest in ((8, 8192), (16, 32768)):
        big = []
        for n in rng.integers(longest // 2, longest + 1, n_rows):
            ids = rng.integers(3, 32000, n)
            big.append({"input_ids": ids, "attention_mask": np.ones(n, np.int64), "labels": ids.copy()})
        got = fa.collate(big, pad_token_id=0, pad_to_multiple_of=64)
        out_bytes = sum(v.nbytes for v in got.values())
        buf = np.empty(out_bytes // 8, dtype=np.int64)
        src = np.ones_like(buf)
        row(
            f"collate, {n_rows} rows up to {longest} tokens (ndarrays in)",
            "1 batch",
            best(on("native", lambda big=big: fa.collate(big, pad_token_id=0, pad_to_multiple_of=64)), repeat * 4),
            {
                f"memcpy of the output bytes ({out_bytes // 1024} KiB)": best(
                    lambda buf=buf, src=src: np.copyto(buf, src), repeat * 4
                ),
                f"memcpy into a new array ({out_bytes // 1024} KiB)": best(lambda src=src: src.copy(), repeat * 4),
            },
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    repeat = 3 if args.quick else 5
    header("Packing, bins, padding, collation")
    sizes = [10, 100, 1_000, 10_000, 100_000] + ([] if args.quick else [1_000_000])
    bench_pack_sequences(rng, sizes, repeat)
    bench_pack_bins(rng, 100_000 if args.quick else 1_000_000, repeat)
    bench_padding(rng, repeat)
    bench_sweeps(rng, [10, 100, 1_000, 10_000, 100_000] + ([] if args.quick else [1_000_000]), repeat)
    bench_collate(rng, repeat)


if __name__ == "__main__":
    main()
