"""Guards and clusters for the tests of fast_axolotl.distributed (see cluster.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .cluster import LocalCluster, TwoNodeCluster, hard_deadline, local_cluster, two_node_cluster

# A hung cluster fails its test instead of hanging the run (pytest-timeout's signal method, without the
# dependency). The clusters' own start and teardown have their own timeouts.
TEST_TIMEOUT_S = 300.0


@pytest.fixture(autouse=True)
def _fail_a_hung_test() -> Iterator[None]:
    with hard_deadline(TEST_TIMEOUT_S, "test"):
        yield


@pytest.fixture(scope="module")
def ray_local() -> Iterator[LocalCluster]:
    """One node on loopback, in this process, for a module's tests."""
    with local_cluster(num_cpus=2) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def ray_two_nodes() -> Iterator[TwoNodeCluster]:
    """Two nodes in network namespaces, for a module's tests (drivers run with cluster.run_driver)."""
    with two_node_cluster() as cluster:
        yield cluster
