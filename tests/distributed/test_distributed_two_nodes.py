"""fast_axolotl.distributed on two Ray nodes, two test hosts in network namespaces joined by
their own veth pair: the driver (two_node_driver.py, in the head's namespace) checks that both
nodes run tasks and that dedup, pack and reads (a task per row group) give the single-machine
results on Hypothesis tables and files."""

from __future__ import annotations

from pathlib import Path

from .cluster import TwoNodeCluster

DRIVER = Path(__file__).with_name("two_node_driver.py")


def test_two_nodes_give_the_single_machine_results(ray_two_nodes: TwoNodeCluster, tmp_path: Path) -> None:
    done = ray_two_nodes.run_driver(DRIVER, ray_two_nodes.address, str(tmp_path), timeout_s=280).check()
    assert done.stdout.strip().splitlines()[-1].startswith("ok "), done.stdout
