"""fast-axolotl inside the real Axolotl 0.21.0: each patched function against
Axolotl's original (same inputs, outputs asserted equal), and ``axolotl preprocess``
end to end with and without fast-axolotl (the prepared datasets asserted equal).

Needs Axolotl installed (the ``nox -s axolotl`` environment, e.g.
``.nox/axolotl/bin/python benchmarks/bench_axolotl.py``).

    python benchmarks/bench_axolotl.py [--rows 20000] [--e2e-rows 100000] [--skip-e2e | --only-e2e]
"""

from __future__ import annotations

import argparse
import copy
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import header, row

import fast_axolotl as fa
from fast_axolotl import integration
from fast_axolotl.integration import _core

TESTS = Path(__file__).resolve().parent.parent / "tests"
AXOLOTL = "Axolotl 0.21.0"


def original(obj: Any) -> Any:
    found = getattr(obj, _core.ORIGINAL_ATTR, None)
    assert found is not None, f"{obj!r} is not patched"
    return found


def timed(fn: Any, repeat: int) -> tuple[float, Any]:
    """Best of ``repeat`` runs and the first run's output (a slow original runs only ``repeat`` times)."""
    times, out = [], None
    for i in range(max(1, repeat)):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
        if i == 0:
            out = result
    return min(times), out


def bench_dedup(dataset: Any, repeat: int) -> None:
    from axolotl.utils.data import utils

    fast, slow = utils._deduplicate_dataset, original(utils._deduplicate_dataset)
    t_fast, (got, _) = timed(lambda: fast(dataset), repeat)
    t_slow, (want, _) = timed(lambda: slow(dataset), 1)
    assert got._indices.column(0).to_pylist() == want._indices.column(0).to_pylist()
    row("_deduplicate_dataset (3 columns)", f"{len(dataset):,} rows", t_fast, {AXOLOTL: t_slow})


def bench_length_filter(dataset: Any, repeat: int) -> None:
    from axolotl.utils.data import utils

    fast, slow = utils._drop_outside_range, original(utils._drop_outside_range)
    kwargs = {"num_proc": 1, "load_from_cache_file": False}
    # Lengths are 16-1024: [2, 768] drops about a quarter of the rows.
    t_fast, (got, n_fast) = timed(lambda: fast(dataset, 768, 2, False, kwargs), repeat)
    t_slow, (want, n_slow) = timed(lambda: slow(dataset, 768, 2, False, kwargs), 1)
    assert n_fast == n_slow > 0 and got.flatten_indices().data.table.equals(want.flatten_indices().data.table)
    size = f"{len(dataset):,} rows, {n_slow:,} dropped"
    row("_drop_outside_range (length filter, drop)", size, t_fast, {AXOLOTL: t_slow})


def bench_lengths(dataset: Any, repeat: int) -> None:
    from axolotl.utils.samplers import utils

    fast, slow = utils.get_dataset_lengths, original(utils.get_dataset_lengths)
    with_length = dataset.add_column("length", [int(n) for n in fast(dataset)])
    for name, ds in (("input_ids", dataset), ("length column", with_length)):
        t_fast, got = timed(lambda ds=ds: fast(ds), repeat)
        t_slow, want = timed(lambda ds=ds: slow(ds), repeat)
        assert got.dtype == want.dtype and np.array_equal(got, want)
        row(f"get_dataset_lengths ({name})", f"{len(ds):,} rows", t_fast, {AXOLOTL: t_slow})


def bench_bins(lengths: np.ndarray, repeat: int) -> None:
    from axolotl.utils.samplers import multipack

    fast, slow = multipack.pack_parallel, original(multipack.pack_parallel)
    slow(lengths[:100], 2048, 100_000, 200, num_processes=1)  # numba compiles on the first call
    t_fast, got = timed(lambda: fast(lengths, 2048, 100_000, 200, num_processes=1), repeat)
    t_slow, want = timed(lambda: slow(lengths, 2048, 100_000, 200, num_processes=1), repeat)
    assert got == want
    row("pack_parallel (capacity 2048, bin_size 200)", f"{len(lengths):,} lengths", t_fast, {AXOLOTL: t_slow})
    fast_s, slow_s = multipack.allocate_sequentially, original(multipack.allocate_sequentially)
    slow_s(lengths[:100], 0, 2048, 1)
    t_fast, got_s = timed(lambda: fast_s(lengths, 0, 2048, 1), repeat)
    t_slow, want_s = timed(lambda: slow_s(lengths, 0, 2048, 1), repeat)
    assert [list(b) for b in got_s[0]] == [list(b) for b in want_s[0]] and got_s[1:] == tuple(want_s[1:])
    row("allocate_sequentially (capacity 2048)", f"{len(lengths):,} lengths", t_fast, {AXOLOTL: t_slow})


def bench_sampler(dataset: Any) -> None:
    """MultipackBatchSampler + len(): 5 packings, as calculate_total_num_steps builds it."""
    import torch
    from axolotl.utils.samplers import MultipackBatchSampler, get_dataset_lengths
    from torch.utils.data import RandomSampler

    def build() -> tuple[int, list[Any]]:
        sampler = MultipackBatchSampler(
            sampler=RandomSampler(dataset, generator=torch.Generator().manual_seed(0)),
            lengths=get_dataset_lengths(dataset),
            batch_size=1,
            batch_max_len=2048,
            bin_size=200,
            num_processes=1,
        )
        return len(sampler), list(sampler)

    integration.install()
    t_fast, got = timed(build, 1)
    integration.uninstall()
    try:
        t_slow, want = timed(build, 1)
    finally:
        integration.install()
    assert got == want
    row("MultipackBatchSampler(...) + len() + iter", f"{len(dataset):,} rows", t_fast, {AXOLOTL: t_slow})


def bench_collators(dataset: Any, repeat: int) -> None:
    from axolotl.utils.collators import batching
    from test_integration import _tokenizer  # noqa: F401  (a tiny WordLevel tokenizer)
    from transformers import PreTrainedTokenizerFast

    tokenizer: PreTrainedTokenizerFast = _tokenizer("right")
    rows = dataset.select(range(600)).to_list()
    bins = [[rows[3 * i], rows[3 * i + 1], rows[3 * i + 2]] for i in range(200)]
    cases = [
        ("V2BatchSamplerDataCollatorForSeq2Seq", 200, "200 bins of 3 rows -> 4096", 4096),
        ("BatchSamplerDataCollatorForSeq2Seq", 200, "200 bins of 3 rows -> 4096", 4096),
        ("DataCollatorForSeq2Seq", 75, "75 batches of 8 rows, multiple of 64", 64),
    ]

    def run(call: Any, collator: Any, batches: list[Any]) -> tuple[float, Any]:
        # Axolotl pads labels inside the caller's dicts: every run gets fresh copies,
        # made before the clock starts.
        times, first = [], None
        for _ in range(repeat):
            fresh = copy.deepcopy(batches)
            start = time.perf_counter()
            out = [call(collator, b) for b in fresh]
            times.append(time.perf_counter() - start)
            first = out if first is None else first
        return min(times), first

    for name, count, size, multiple in cases:
        cls = getattr(batching, name)
        collator = cls(tokenizer=tokenizer, padding=True, pad_to_multiple_of=multiple, return_tensors="pt")
        fast, slow = cls.__call__, original(cls.__call__)
        batches = (
            [[bins[i]] for i in range(count)] if "Batch" in name else [rows[8 * i : 8 * i + 8] for i in range(count)]
        )
        t_fast, got = run(fast, collator, batches)
        t_slow, want = run(slow, collator, batches)
        for g, w in zip(got, want, strict=True):
            assert sorted(g) == sorted(w) and all(g[k].dtype == w[k].dtype and (g[k] == w[k]).all() for k in w)
        row(f"{name}.__call__ (pt)", size, t_fast, {AXOLOTL: t_slow})


def _tokenizer_floor(config: Path) -> dict[str, tuple[float, int]]:
    """``tokenizers``' ``encode_batch`` alone (each call with its truncation length, as the
    pipeline makes them) on the strings Axolotl tokenizes (every non-empty text; for
    chat_template rows the rendered conversation, which Axolotl tokenizes twice and we
    once), and on the distinct ones the pipeline tokenizes: the floor."""
    from tokenizers import Tokenizer

    from fast_axolotl import prepare
    from fast_axolotl.prepare import _chat, _pipeline, _strategies

    cfg = prepare.load_config(config)
    plan = prepare.read_config(cfg)
    tokenizer = prepare.load_tokenizer(cfg)
    calls: list[tuple[list[str], int | None, bool]] = []  # texts, truncation, special tokens
    for spec in plan.datasets:
        table = _pipeline.read_source(spec)
        if spec.base_type == "alpaca":
            inputs = table.column("input").to_pylist() if "input" in table.column_names else [""] * table.num_rows
            style = _strategies.ALPACA_STYLES[spec.style or "instruct"]
            prompts = _strategies._alpaca_prompts(table.column("instruction").to_pylist(), inputs, style)
            calls += [(prompts, plan.sequence_len, True), (table.column("output").to_pylist(), plan.sequence_len, True)]
        elif spec.chat is not None:
            template = _chat.resolve_template(spec.chat.choice, spec.chat.jinja, tokenizer, "chat_template")
            rows = _chat._Rows(spec.chat, spec.key)
            messages = _chat.remove_none_values(table.column(spec.chat.field_messages).to_pylist())
            conversations = [rows.turns(m, (False, None), i) for i, m in enumerate(messages)]
            texts = _chat._Renderer(tokenizer, template, {}).render(conversations, [None] * len(conversations))
            calls.append((texts, None, False))
        else:
            calls.append((table.column(spec.field).to_pylist(), plan.sequence_len * 64, True))
    out = {}
    for name, distinct in (("every text", False), ("distinct texts", True)):
        start, strings = time.perf_counter(), 0
        for texts, max_length, special in calls:
            encoder = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
            if max_length is not None:
                encoder.enable_truncation(max_length)
            present = [t for t in texts if t]
            if distinct:
                present = list(dict.fromkeys(present))
            strings += len(present)
            encoder.encode_batch(present, add_special_tokens=special)
        out[name] = (time.perf_counter() - start, strings)
    return out


def bench_preprocess(rows: int) -> None:
    """``axolotl preprocess`` on the mixed config (alpaca JSONL, chat_template messages JSONL
    built from the same rows, completion Parquet; packing, dedup, val_set_size 0.1,
    dataset_num_proc 2): Axolotl alone, with the plugin's patches only
    (``fast_axolotl_prepare: false``), with the plugin's pipeline, and ``fast-axolotl
    prepare CONFIG.yml``; every prepared dataset asserted equal to Axolotl's."""
    import subprocess

    import pyarrow.parquet as pq
    import test_axolotl_prepare as prepare_tests
    import test_axolotl_preprocess as e2e
    from datasets import load_from_disk

    root = Path(tempfile.mkdtemp(prefix="bench-axolotl-"))
    try:
        # 35% alpaca, 35% chat_template (conversations made of the same rows), 30% completion
        data = e2e.write_datasets(root / "data", n_alpaca=rows * 35 // 100, n_text=rows * 30 // 100)
        data["messages"] = root / "data" / "messages.jsonl"
        prepare_tests._conversations(data["jsonl"], data["messages"], sharegpt=False)
        prepare_tests._chat_model(root / "model", data["corpus"])
        datasets = [
            {"path": str(data["jsonl"]), "type": "alpaca", "ds_type": "json"},
            {"path": str(data["messages"]), "type": "chat_template"},
            {"path": str(data["parquet"]), "type": "completion", "ds_type": "parquet"},
        ]
        seconds, prepared, cli_log, plugin_line = {}, {}, "", ""
        modes = {
            AXOLOTL: {"disabled": True},
            "patches only": {"fast_axolotl_prepare": False},
            "plugin pipeline": {},
            "fast-axolotl prepare CONFIG.yml": {"cli": True},
        }
        for mode, how in modes.items():
            work = root / mode.replace(" ", "_").replace(".", "_")
            work.mkdir()
            config = work / "config.yml"
            extra = {"fast_axolotl_prepare": False} if "fast_axolotl_prepare" in how else {}
            e2e.write_config(
                config, root / "model", data, work / "prepared", dataset_num_proc=2, datasets=datasets, **extra
            )
            # Each run starts from a cold datasets cache: the second would otherwise reuse the
            # first one's JSON/Parquet -> Arrow conversion of the raw files.
            os.environ["HF_DATASETS_CACHE"] = str(work / "hf-datasets-cache")
            start = time.perf_counter()
            if how.get("cli"):
                done = subprocess.run(
                    [sys.executable, "-m", "fast_axolotl", "prepare", str(config)],
                    cwd=work, env=e2e.run_env(False), capture_output=True, text=True, check=True,
                )  # fmt: skip
                cli_log = done.stdout
            else:
                log = e2e.preprocess(config, work, bool(how.get("disabled")))
                if mode == "plugin pipeline":
                    plugin_line = next((line for line in log.splitlines() if "fast-axolotl prepared" in line), "")
            seconds[mode] = time.perf_counter() - start
            prepared[mode] = load_from_disk(str(e2e.prepared_dir(work / "prepared")))
        base = prepared[AXOLOTL]
        for mode, got in prepared.items():
            assert got.column_names == base.column_names and got.data.table.equals(base.data.table), mode
        with data["jsonl"].open(encoding="utf-8") as fh:
            raw = sum(1 for _ in fh) + pq.read_metadata(data["parquet"]).num_rows
        with data["messages"].open(encoding="utf-8") as fh:
            raw += sum(1 for _ in fh)
        size = f"{raw:,} raw rows -> {base.num_rows:,} prepared"
        for mode in ("patches only", "plugin pipeline", "fast-axolotl prepare CONFIG.yml"):
            row(f"axolotl preprocess: {mode}" if "prepare" not in mode else mode, size, seconds[mode],
                {f"axolotl preprocess, {AXOLOTL} alone": seconds[AXOLOTL]})  # fmt: skip
        stages = next((line for line in cli_log.splitlines() if line.startswith("time per stage")), "")
        print(f"\nfast-axolotl prepare stages: {stages.split(':', 1)[-1].strip()}")
        print(f"plugin pipeline (inside axolotl preprocess): {plugin_line.split('dropped; ', 1)[-1].strip()}")
        config = root / "plugin_pipeline" / "config.yml"
        tokenize = float(stages.split("tokenize ")[1].split(" s")[0]) if "tokenize " in stages else float("nan")
        for name, (floor, strings) in _tokenizer_floor(config).items():
            print(
                f"tokenize stage {tokenize:.2f} s vs encode_batch alone on {name} ({strings:,} strings) "
                f"{floor:.2f} s: {tokenize / floor:.2f}x the floor"
            )
    finally:
        os.environ.pop("HF_DATASETS_CACHE", None)
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000, help="rows of the per-function datasets")
    parser.add_argument("--e2e-rows", type=int, default=100_000, help="raw rows of the preprocess run")
    parser.add_argument("--skip-e2e", action="store_true")
    parser.add_argument("--only-e2e", action="store_true", help="only the axolotl preprocess / prepare runs")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(TESTS))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from bench_dedup import tokenized_dataset

    assert integration.is_installed() and fa.IMPLEMENTATION == "native", (fa.IMPLEMENTATION, integration.report())
    import axolotl.utils.collators.batching  # noqa: F401  (import the patched modules)
    import axolotl.utils.data.utils  # noqa: F401
    import axolotl.utils.samplers.multipack  # noqa: F401

    load = os.getloadavg()
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print()
    if args.only_e2e:
        header(f"axolotl preprocess end to end ({AXOLOTL}; prepared datasets asserted equal)")
        bench_preprocess(args.e2e_rows)
        return
    header(f"fast-axolotl patches inside {AXOLOTL} (patched vs original, outputs asserted equal)")
    rng = np.random.default_rng(0)
    dataset, _ = tokenized_dataset(rng, args.rows)
    bench_dedup(dataset, args.repeat)
    bench_length_filter(dataset, args.repeat)
    bench_lengths(dataset, args.repeat)
    bench_bins(rng.integers(16, 1025, max(args.rows, 100_000)).astype(np.int32), args.repeat)
    bench_sampler(dataset)
    bench_collators(dataset, args.repeat)
    if not args.skip_e2e:
        bench_preprocess(args.e2e_rows)
    load = os.getloadavg()
    print(f"\nended {time.strftime('%H:%M:%S')}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
