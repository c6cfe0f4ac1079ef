"""The fast-axolotl command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fast_axolotl", *args], capture_output=True, text=True, cwd=cwd)


def test_prepare_on_the_bundled_sample(tmp_path: Path) -> None:
    result = run("prepare", "--dedupe", "--pack", "512", "-o", "out.parquet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "60 duplicate rows removed" in result.stdout
    table = pq.read_table(tmp_path / "out.parquet")
    assert set(table.column_names) == {"input_ids", "labels", "attention_mask", "position_ids"}
    assert all(len(row) == 512 for row in table.column("input_ids").to_pylist())


def test_prepare_a_file_with_columns(tmp_path: Path) -> None:
    rows = [{"text": "a", "n": 1}, {"text": "b", "n": 2}, {"text": "a", "n": 1}]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = run("prepare", "in.jsonl", "--dedupe", "--columns", "text", "-o", "out.parquet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert pq.read_table(tmp_path / "out.parquet").column("text").to_pylist() == ["a", "b"]


def test_bad_input_is_one_line_and_nonzero(tmp_path: Path) -> None:
    result = run("prepare", "missing.jsonl", "-o", "out.parquet", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().startswith("fast-axolotl: error:") and "Traceback" not in result.stderr
    assert run("info", cwd=tmp_path).returncode == 0
