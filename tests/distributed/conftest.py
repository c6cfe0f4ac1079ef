"""Guards and clusters for the tests of fast_axolotl.distributed (see cluster.py)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest

from .cluster import LocalCluster, TwoNodeCluster, hard_deadline, local_cluster, two_node_cluster

# The default test sessions do not install Ray: there these tests are not collected (an import error
# otherwise), and the report header says so. The `distributed` session installs Ray and runs them all.
# (A directory named ray on sys.path, e.g. a venv at /tmp/ray with the tests run from /tmp, is found as a
# namespace package, with no origin: that is not Ray.)
_RAY_SPEC = importlib.util.find_spec("ray")
RAY_INSTALLED = _RAY_SPEC is not None and _RAY_SPEC.origin is not None
if not RAY_INSTALLED:
    collect_ignore_glob = ["test_*.py"]


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [] if RAY_INSTALLED else ["tests/distributed: not collected, Ray is not installed"]


# A hung cluster fails its test instead of hanging the run (pytest-timeout's signal method, without needing
# the plugin; where pytest-timeout armed a sooner alarm, that one stays). The clusters' own start and
# teardown have their own timeouts.
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
