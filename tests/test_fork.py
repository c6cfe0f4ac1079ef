"""fork() after the worker pool has run: the child's calls work and do not deadlock.

A forked child has none of the parent's pool threads (only the forking thread survives), so a
pool inherited as is would wait forever; the pool module rebuilds its pools in a new process
(rust/core/src/pool.rs). Each scenario runs in a fresh interpreter under a timeout, so a
deadlock fails the test instead of hanging the suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

TIMEOUT = 180

PRELUDE = """
import os, sys
import numpy as np, pyarrow as pa
import fast_axolotl as fa
from fast_axolotl import _backend

impl, n = sys.argv[1], int(sys.argv[2])
_backend.use(impl).__enter__()
TABLE = pa.table({"a": [i % 5000 for i in range(n)], "b": [str(i % 777) for i in range(n)]})
LENGTHS = np.arange(n) % 2000 + 1

def work(seed=0):
    digests = fa.hash_table(TABLE, num_threads=2)
    bins = fa.pack_bins(LENGTHS, 4096, group_size=n // 4, num_threads=2, as_arrays=True)
    return digests.tobytes().hex()[:32] + ":" + str(len(bins[1])) + ":" + str(seed)

EXPECTED = work()  # the parent's pool (2 threads) is now running
"""

SCENARIOS = {
    "os.fork": """
pid = os.fork()
if pid == 0:
    ok = work() == EXPECTED
    os._exit(0 if ok else 3)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, status
print("ok")
""",
    "multiprocessing fork": """
import multiprocessing as mp
with mp.get_context("fork").Pool(2) as pool:
    got = pool.map(work, range(4))
assert got == [EXPECTED[:-1] + str(i) for i in range(4)], got
assert work() == EXPECTED  # and the parent's pool still works
print("ok")
""",
    "datasets map num_proc=2": """
import datasets
ds = datasets.Dataset.from_dict({"text": [f"t{i % 100}" for i in range(2000)]})
def add_hash(batch):
    return {"h": fa.parallel_hash_rows(batch["text"], num_threads=2), "w": [work()] * len(batch["text"])}
out = ds.map(add_hash, batched=True, batch_size=500, num_proc=2)
assert out["h"] == fa.parallel_hash_rows(ds["text"]) and set(out["w"]) == {EXPECTED}
print("ok")
""",
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_fork_after_pool_use(impl: str, tmp_path: Path, scenario: str) -> None:
    if scenario.startswith("datasets"):
        pytest.importorskip("datasets")
    code = PRELUDE + SCENARIOS[scenario]
    done = subprocess.run(
        # Native: sizes that take the parallel paths (pool::PARALLEL_THRESHOLD); the reference is slower.
        [sys.executable, "-c", code, impl, "200000" if impl == "native" else "4000"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-3000:]
