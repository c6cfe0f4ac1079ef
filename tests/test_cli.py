"""The fast-axolotl command: prepare (formats, dedupe, pack, multipack), info, bench, errors."""

from __future__ import annotations

import io
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
from fast_axolotl._cli.multipack import bins_table, sample_lengths


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fast_axolotl", *args], capture_output=True, text=True, cwd=cwd)


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("fast-axolotl"), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_prepare_on_the_bundled_sample(tmp_path: Path) -> None:
    result = run("prepare", "--dedupe", "--pack", "512", "-o", "out.parquet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "duplicates removed: 60" in result.stdout
    assert "rows in:            660" in result.stdout and "tokens/s" in result.stdout
    assert "packing efficiency" in result.stdout
    table = pq.read_table(tmp_path / "out.parquet")
    assert set(table.column_names) == {"input_ids", "labels", "attention_mask", "position_ids"}
    assert all(len(row) == 512 for row in table.column("input_ids").to_pylist())
    assert result.stderr == ""  # stderr is not a TTY here: no progress bars


def test_prepare_without_output_writes_nothing(tmp_path: Path) -> None:
    result = run("prepare", "--dedupe", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "written:            nothing (no -o)" in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_prepare_a_file_with_columns(tmp_path: Path) -> None:
    rows = [{"text": "a", "n": 1}, {"text": "b", "n": 2}, {"text": "a", "n": 1}]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = run("prepare", "in.jsonl", "--dedupe", "--columns", "text", "-q", "-o", "out.parquet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # --quiet
    assert pq.read_table(tmp_path / "out.parquet").column("text").to_pylist() == ["a", "b"]


def test_prepare_writes_a_save_to_disk_folder_and_arrow(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    result = run("prepare", "--dedupe", "--multipack", "2048", "-o", "prepared/", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    loaded = datasets.load_from_disk(str(tmp_path / "prepared"))
    assert loaded.column_names == ["input_ids", "labels", "attention_mask", "position_ids", "length"]
    assert max(loaded["length"]) <= 2048
    # the same through --format hf into a folder name without a slash, and Arrow IPC
    assert run("prepare", "--format", "hf", "-o", "again", cwd=tmp_path).returncode == 0
    assert datasets.load_from_disk(str(tmp_path / "again")).num_rows == 660
    assert run("prepare", "--dedupe", "-o", "out.arrow", cwd=tmp_path).returncode == 0
    with pa.memory_map(str(tmp_path / "out.arrow")) as source:
        assert pa.ipc.open_file(source).read_all().num_rows == 600


def test_multipack_rows_are_axolotls_v2_bins() -> None:
    """Each output row equals Axolotl's V2 multipack collator on that bin (fa.collate
    multipack="v2" equals it, see test_padding), without padding."""
    rng = np.random.default_rng(7)
    ids = [rng.integers(3, 1000, int(n)).tolist() for n in rng.integers(1, 60, 300)]
    labels = [[-100] * (len(r) // 2) + r[len(r) // 2 :] for r in ids]
    table = pa.table({"input_ids": ids, "labels": labels, "attention_mask": [[1] * len(r) for r in ids]})
    lengths = sample_lengths(table)
    indices, offsets = fa.pack_bins(lengths, 128, bin_size=5, as_arrays=True)
    out = bins_table(table, lengths, np.asarray(indices), np.asarray(offsets))
    assert out.num_rows == len(offsets) - 1
    for k in range(out.num_rows):
        members = indices[offsets[k] : offsets[k + 1]]
        features = [{"input_ids": ids[i], "labels": labels[i], "attention_mask": [1] * len(ids[i])} for i in members]
        for i, feature in zip(members, features, strict=True):
            feature["position_ids"] = list(range(len(ids[i])))
        expected = fa.collate([features], pad_token_id=0, multipack="v2")
        for name in ("input_ids", "labels", "attention_mask", "position_ids"):
            assert out.column(name)[k].as_py() == expected[name][0].tolist(), (k, name)
        assert out.column("length")[k].as_py() == sum(len(ids[i]) for i in members)


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("prepare", "missing.jsonl"), ("missing.jsonl",)),
        (("prepare", "--pack", "0"), ("--pack", "positive")),
        (("prepare", "--pack", "8", "--multipack", "8"), ("not allowed with",)),
        (("prepare", "-o", "out.csv"), ("--format",)),
        (("prepare", "in.jsonl", "--pack", "8"), ("input_ids",)),
        (("prepare", "in.jsonl", "--columns", "nope"), ("nope",)),
        (("prepare", "garbage.jsonl"), ("garbage.jsonl",)),
        (("prepare", "-o", "no/such/dir/out.parquet"), ("does not exist",)),
        (("frobnicate",), ("invalid choice",)),
    ],
)
def test_bad_arguments_and_files_are_one_line_and_nonzero(
    tmp_path: Path, args: tuple[str, ...], needles: tuple[str, ...]
) -> None:
    (tmp_path / "in.jsonl").write_text('{"text": "a"}\n')
    (tmp_path / "garbage.jsonl").write_text('{"text": "a"}\n{not json\n')
    assert_one_line_error(run(*args, cwd=tmp_path), *needles)


def test_info(tmp_path: Path) -> None:
    result = run("info", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"fast-axolotl {fa.__version__}" in result.stdout
    assert f"implementation: {fa.IMPLEMENTATION}" in result.stdout
    assert "axolotl patches" in result.stdout


def test_help_reads_well(tmp_path: Path) -> None:
    for args in (("--help",), ("prepare", "--help"), ("bench", "--help")):
        result = run(*args, cwd=tmp_path)
        assert result.returncode == 0 and "usage: fast-axolotl" in result.stdout
    assert "--multipack CAP" in run("prepare", "--help", cwd=tmp_path).stdout


def test_bench_quick_writes_the_markdown_table(tmp_path: Path) -> None:
    env = {**os.environ, "FAST_AXOLOTL_NUM_THREADS": os.environ.get("FAST_AXOLOTL_NUM_THREADS", "2")}
    result = subprocess.run(
        [sys.executable, "-m", "fast_axolotl", "bench", "--quick", "--markdown", "table.md"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "table.md").read_text()
    assert f"({fa.IMPLEMENTATION})" in text and f"{os.cpu_count()} cores" in text
    header = "| operation | size | native | reference | instead | its time | native vs instead |"
    assert header in text
    operations = [line.split(" | ")[0].strip("| ") for line in text.splitlines() if line.startswith("| ")]
    for name in ("read_table", "deduplicate", "parallel_hash_rows", "pack_sequences", "pack_bins", "pad_sequences"):
        assert any(op.startswith(name) for op in operations), name
    assert any(op.startswith("collate") for op in operations)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bars_only_on_a_terminal_and_not_with_quiet(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from fast_axolotl.__main__ import main

    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["prepare", "--dedupe", "--pack", "256"]) == 0
    assert "reading" in terminal.getvalue() and "rows" in terminal.getvalue()  # tqdm drew its bars
    assert "duplicates removed: 60" in capsys.readouterr().out

    quiet = _Terminal()
    monkeypatch.setattr(sys, "stderr", quiet)
    assert main(["prepare", "--dedupe", "-q"]) == 0
    assert quiet.getvalue() == "" and capsys.readouterr().out == ""
