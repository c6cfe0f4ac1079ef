"""The clusters of cluster.py are real, stay on loopback or our own namespaces, and leave nothing behind."""

from __future__ import annotations

import json
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import ray

import fast_axolotl

from .cluster import (
    NAMESPACE_PREFIXES,
    ClusterError,
    ClusterTimeoutError,
    LocalCluster,
    TwoNodeCluster,
    descendant_pids,
    hard_deadline,
    local_cluster,
    network_namespaces,
    two_node_cluster,
)

# Ray's own annotations leave these untyped (mypy --strict refuses calls to them); typed once here.
node_ip_address: Callable[[], str] = ray.util.get_node_ip_address
ray_nodes: Callable[[], list[dict[str, Any]]] = ray.nodes

TIMEOUT_S = 60.0
DRIVER = Path(__file__).with_name("cluster_driver.py")


def _our_namespaces() -> set[str]:
    return {name for name in network_namespaces() if name.startswith(NAMESPACE_PREFIXES)}


# Class scope (not the conftest's module-scoped ray_local and ray_two_nodes): the local cluster is down before
# the two-node one starts, so the two never compete for this machine's cores.
@pytest.fixture(scope="class")
def local() -> Iterator[LocalCluster]:
    before = descendant_pids(os.getpid())
    started = time.monotonic()
    with local_cluster(num_cpus=2) as cluster:
        print(f"\nlocal cluster up in {time.monotonic() - started:.1f} s")
        yield cluster
        stopping = time.monotonic()
    print(f"\nlocal cluster down in {time.monotonic() - stopping:.1f} s")
    assert not cluster.temp_dir.exists()
    assert descendant_pids(os.getpid()) <= before, "a process of the local cluster outlived it"
    assert not ray.is_initialized()


@pytest.fixture(scope="class")
def two_nodes() -> Iterator[TwoNodeCluster]:
    started = time.monotonic()
    with two_node_cluster() as cluster:
        print(f"\ntwo-node cluster up in {time.monotonic() - started:.1f} s")
        yield cluster
        stopping = time.monotonic()
    print(f"\ntwo-node cluster down in {time.monotonic() - stopping:.1f} s")
    assert not cluster.workdir.exists()
    assert {cluster.head_namespace, cluster.worker_namespace}.isdisjoint(network_namespaces())
    # Every Ray daemon of the cluster names its temp dir (under the workdir) on its command line.
    assert _processes_mentioning(str(cluster.workdir)) == [], "a process of the two-node cluster outlived it"


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            command_line = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in command_line:
            found.append(f"{proc.name}: {command_line[:200]}")
    return found


class TestLocalCluster:
    def test_one_node_on_loopback(self, local: LocalCluster) -> None:
        nodes = ray_nodes()
        assert [(node["NodeManagerAddress"], node["Alive"]) for node in nodes] == [("127.0.0.1", True)]
        assert local.address.startswith("127.0.0.1:")

    def test_every_socket_listens_on_loopback(self, local: LocalCluster) -> None:
        sockets = local.listening_sockets()
        processes = {s.process for s in sockets}
        assert {"gcs_server", "raylet"} <= processes, sockets
        assert [s for s in sockets if not s.is_loopback] == []
        gcs_port = int(local.address.rpartition(":")[2])
        assert any(s.process == "gcs_server" and s.port == gcs_port for s in sockets)

    def test_tasks_and_objects(self, local: LocalCluster) -> None:
        def node_ip_and_sum(values: np.ndarray) -> tuple[str, int]:
            return node_ip_address(), int(values.sum())

        node_ip_and_sum_task = ray.remote(node_ip_and_sum)  # not a decorator: mypy --strict without Ray's types

        values = np.arange(1_000_000, dtype=np.int64)  # 8 MB: in the object store, not inline
        ref = ray.put(values)
        results = ray.get([node_ip_and_sum_task.remote(ref) for _ in range(4)], timeout=TIMEOUT_S)
        assert results == [("127.0.0.1", int(values.sum()))] * 4

    def test_workers_have_the_clusters_home(self, local: LocalCluster) -> None:
        # The HOME with ray_bootstrap_config.yaml that keeps Ray from querying cloud metadata services.
        def home() -> str:
            return os.environ["HOME"]

        worker_home = ray.get(ray.remote(home).remote(), timeout=TIMEOUT_S)
        assert worker_home == str(local.temp_dir / "home")
        assert (Path(worker_home) / "ray_bootstrap_config.yaml").is_file()
        assert os.environ.get("HOME") != worker_home  # this process keeps its own

    def test_ray_data_map_batches(self, local: LocalCluster) -> None:
        def double(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            return {"id": batch["id"] * 2}

        # Summed here, not with Dataset.sum(): that is a hash-shuffle aggregation with actors of its own,
        # seconds more on a small machine for nothing this harness needs.
        dataset = ray.data.range(1000, override_num_blocks=4).map_batches(double, batch_size=100)
        assert sum(int(batch["id"].sum()) for batch in dataset.iter_batches(batch_format="numpy")) == 999_000

    def test_refuses_a_second_init(self, local: LocalCluster) -> None:
        with pytest.raises(ClusterError, match="already initialized"), local_cluster():
            pass


class TestTwoNodeCluster:
    def test_namespaces_reach_only_each_other(self, two_nodes: TwoNodeCluster) -> None:
        for namespace, ip in (
            (two_nodes.head_namespace, two_nodes.head_ip),
            (two_nodes.worker_namespace, two_nodes.worker_ip),
        ):
            routes = two_nodes.routes(namespace)
            assert not any(route.startswith("default") for route in routes), routes
            # Every route goes through the veth or lo (the kernel's own local and link-local ones included).
            assert all(" dev fa-veth" in route or " dev lo" in route for route in routes), routes
            subnet = ip.rpartition(".")[0]
            assert f"{subnet}.0/24 dev fa-veth proto kernel scope link src {ip}" in routes

    def test_sockets_listen_only_in_the_namespaces(self, two_nodes: TwoNodeCluster) -> None:
        for namespace, ip in (
            (two_nodes.head_namespace, two_nodes.head_ip),
            (two_nodes.worker_namespace, two_nodes.worker_ip),
        ):
            sockets = two_nodes.listening_sockets(namespace)
            assert "raylet" in {s.process for s in sockets}
            # "*" is every address of the namespace: its veth end and lo, nothing more.
            assert {s.host for s in sockets} <= {ip, "*", "127.0.0.1", "::ffff:127.0.0.1"}, sockets
        head_sockets = two_nodes.listening_sockets(two_nodes.head_namespace)
        assert any(
            s.process == "gcs_server" and s.port == int(two_nodes.address.rpartition(":")[2]) for s in head_sockets
        )

    def test_tasks_objects_and_data_across_nodes(self, two_nodes: TwoNodeCluster) -> None:
        result = two_nodes.run_driver(DRIVER, timeout_s=TIMEOUT_S * 3).check()
        report = json.loads(result.stdout.strip().splitlines()[-1])
        print(f"\n{report}")
        head, worker = two_nodes.head_ip, two_nodes.worker_ip
        assert report["driver_ip"] == head
        assert report["nodes"] == sorted([head, worker])
        assert report["task_ips"] == {head: head, worker: worker}
        # The worker node's tasks see this process's PYTHONPATH, so they import the same fast_axolotl.
        assert report["worker_imports"] == {
            "node": worker,
            "pythonpath": os.environ.get("PYTHONPATH", ""),
            "fast_axolotl": fast_axolotl.__file__,
        }
        assert report["worker_to_driver"] == {"made_on": worker, "equal": True}
        assert report["driver_to_worker"] == {"read_on": worker, "equal": True}
        assert report["worker_to_head_task"] == {"made_on": worker, "read_on": head, "equal": True}
        assert report["data"]["rows"] == 1000
        assert report["data"]["sum"] == 2 * sum(range(1000))
        assert set(report["data"]["nodes"]) <= {head, worker}

    def test_driver_gets_pythonpath_and_exit_code(self, two_nodes: TwoNodeCluster) -> None:
        source = "import os, sys\nprint(os.environ.get('PYTHONPATH', ''))\nsys.exit(3)\n"
        result = two_nodes.run_driver_code(source, timeout_s=TIMEOUT_S)
        assert result.returncode == 3
        assert result.stdout.strip() == os.environ.get("PYTHONPATH", "")

    def test_hung_driver_times_out(self, two_nodes: TwoNodeCluster) -> None:
        with pytest.raises(ClusterTimeoutError, match="still running"):
            two_nodes.run_driver_code("import time\ntime.sleep(600)\n", timeout_s=2)


def test_failed_start_leaves_nothing_behind(tmp_path: Path) -> None:
    # An interpreter that cannot start Ray: `ray start` fails in the head's namespace, after the namespaces,
    # the veth pair and the workdir were made. All must be gone after the error.
    fake_python = tmp_path / "python"
    fake_python.write_text("#!/bin/sh\necho 'no ray here' >&2\nexit 1\n")
    fake_python.chmod(0o755)
    namespaces_before = _our_namespaces()
    with pytest.raises(ClusterError, match="no ray here"), two_node_cluster(python=str(fake_python)):
        pass
    assert _our_namespaces() == namespaces_before


def test_ctrl_c_during_start_leaves_nothing_behind(tmp_path: Path) -> None:
    # A real SIGINT to this process while `ray start` (here a stand-in that hangs) runs in the head's namespace.
    fake_python = tmp_path / "python"
    fake_python.write_text("#!/bin/sh\nexec sleep 60\n")
    fake_python.chmod(0o755)
    namespaces_before = _our_namespaces()
    interrupt = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    started = time.monotonic()
    interrupt.start()
    try:
        with pytest.raises(KeyboardInterrupt), two_node_cluster(python=str(fake_python)):
            pass
    finally:
        interrupt.cancel()
    assert time.monotonic() - started < 30
    assert _our_namespaces() == namespaces_before
    assert not any(path.name.startswith(f"fa-ray-{os.getpid()}-") for path in Path(tempfile.gettempdir()).iterdir())


def test_hard_deadline_interrupts_a_hung_call() -> None:
    started = time.monotonic()
    with pytest.raises(ClusterTimeoutError, match="sleeping"), hard_deadline(0.5, "sleeping"):
        time.sleep(30)
    assert time.monotonic() - started < 5


def test_hard_deadline_keeps_a_sooner_enclosing_alarm() -> None:
    with pytest.raises(ClusterTimeoutError, match="outer"), hard_deadline(0.5, "outer"):
        with hard_deadline(30, "inner"):  # due later: the outer alarm stays armed
            time.sleep(30)
    with pytest.raises(ClusterTimeoutError, match="outer"), hard_deadline(1.0, "outer"):
        with pytest.raises(ClusterTimeoutError, match="inner"), hard_deadline(0.2, "inner"):
            time.sleep(30)
        time.sleep(30)  # the outer alarm was restored after the inner one
