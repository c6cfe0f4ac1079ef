"""A driver run in the head's namespace by test_cluster.py: where tasks run, objects across nodes, Ray Data.

Prints one JSON object on stdout. Connects with a bare ray.init(): the harness sets RAY_ADDRESS.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

# Ray's own annotations leave these untyped (mypy --strict refuses calls to them); typed once here.
node_ip_address: Callable[[], str] = ray.util.get_node_ip_address
ray_nodes: Callable[[], list[dict[str, Any]]] = ray.nodes

OBJECT_BYTES = 4 * 1024 * 1024  # over Ray's 100 KiB inline limit: stored in the object store, moved by the raylets
TIMEOUT_S = 120.0


def node_ip() -> str:
    return node_ip_address()


def make_payload(seed: int) -> tuple[str, bytes]:
    payload = np.random.default_rng(seed).bytes(OBJECT_BYTES)
    return node_ip_address(), payload


def imports() -> dict[str, str]:
    import fast_axolotl  # from PYTHONPATH, which the nodes were started with

    return {
        "node": node_ip_address(),
        "pythonpath": os.environ.get("PYTHONPATH", ""),
        "fast_axolotl": fast_axolotl.__file__ or "",
    }


def digest_of(payload: bytes) -> tuple[str, str]:
    return node_ip_address(), hashlib.sha256(payload).hexdigest()


# Wrapped here rather than decorated: mypy --strict (without Ray's types) refuses untyped decorators.
node_ip_task = ray.remote(num_cpus=1)(node_ip)
# Two objects: where it ran, and the payload (passed on by reference).
make_payload_task = ray.remote(num_cpus=1, num_returns=2)(make_payload)
digest_of_task = ray.remote(num_cpus=1)(digest_of)
imports_task = ray.remote(num_cpus=1)(imports)


def pinned(node_id: str) -> NodeAffinitySchedulingStrategy:
    return NodeAffinitySchedulingStrategy(node_id=node_id, soft=False)


def main() -> None:
    ray.init(logging_level=logging.WARNING)
    nodes = {str(node["NodeManagerAddress"]): str(node["NodeID"]) for node in ray_nodes() if node["Alive"]}
    driver_ip = node_ip_address()
    worker_ip = next(ip for ip in nodes if ip != driver_ip)

    def made_on_worker(seed: int) -> tuple[ray.ObjectRef[str], ray.ObjectRef[bytes]]:
        # num_returns=2 gives two references, which Ray's annotations do not express.
        refs = make_payload_task.options(scheduling_strategy=pinned(nodes[worker_ip])).remote(seed)
        return cast("tuple[ray.ObjectRef[str], ray.ObjectRef[bytes]]", refs)

    report: dict[str, Any] = {"driver_ip": driver_ip, "nodes": sorted(nodes)}

    report["task_ips"] = {
        ip: ray.get(node_ip_task.options(scheduling_strategy=pinned(node_id)).remote(), timeout=TIMEOUT_S)
        for ip, node_id in nodes.items()
    }

    report["worker_imports"] = ray.get(
        imports_task.options(scheduling_strategy=pinned(nodes[worker_ip])).remote(), timeout=TIMEOUT_S
    )

    # Made on the worker, fetched by the driver on the head.
    made_on_ref, payload_ref = made_on_worker(7)
    made_on, payload = ray.get([made_on_ref, payload_ref], timeout=TIMEOUT_S)
    expected = np.random.default_rng(7).bytes(OBJECT_BYTES)
    report["worker_to_driver"] = {"made_on": made_on, "equal": payload == expected}

    # Put by the driver on the head, read by a task on the worker.
    ref = ray.put(expected)
    read_on, digest = ray.get(
        digest_of_task.options(scheduling_strategy=pinned(nodes[worker_ip])).remote(ref), timeout=TIMEOUT_S
    )
    report["driver_to_worker"] = {"read_on": read_on, "equal": digest == hashlib.sha256(expected).hexdigest()}

    # An object made on the worker passed by reference to a task on the head: the head's raylet pulls it.
    made_on_ref, on_worker = made_on_worker(11)
    consumer_ip, digest = ray.get(
        digest_of_task.options(scheduling_strategy=pinned(nodes[driver_ip])).remote(on_worker), timeout=TIMEOUT_S
    )
    report["worker_to_head_task"] = {
        "made_on": ray.get(made_on_ref, timeout=TIMEOUT_S),
        "read_on": consumer_ip,
        "equal": digest == hashlib.sha256(np.random.default_rng(11).bytes(OBJECT_BYTES)).hexdigest(),
    }

    def double(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"id": batch["id"] * 2, "node": np.full(len(batch["id"]), node_ip_address())}

    rows = ray.data.range(1000, override_num_blocks=8).map_batches(double, batch_size=100).take_all()
    report["data"] = {
        "rows": len(rows),
        "sum": int(sum(int(row["id"]) for row in rows)),
        "nodes": sorted({str(row["node"]) for row in rows}),
    }
    json.dump(report, sys.stdout)
    print()


if __name__ == "__main__":
    main()
