"""Real Ray clusters for the tests of `fast_axolotl.distributed`, whose traffic never leaves this machine.

- `local_cluster()`: one node in this process, every Ray socket bound to 127.0.0.1.
- `two_node_cluster()`: two test hosts, each a network namespace with only `lo` and one end of a veth pair
  (10.213.N.1 and 10.213.N.2, no route anywhere else); the head in one, a worker in the other, and a driver run
  as a subprocess inside the head's namespace.

Needs Linux, root (`ip netns`) and iproute2 (`ip`, `ss`) for the two-node cluster. Every wait has a timeout: a
hung cluster raises `ClusterTimeoutError` and is torn down; it never hangs the run.

Nothing here runs `ray stop`: it finds Ray's processes by name on the whole machine (psutil over every process,
network namespaces do not scope it), so it would also kill any other Ray on the host (another test run, a
developer's cluster). Teardown kills only the processes this harness started: the descendants of this process
(local) or the processes whose network namespace is one of ours (two nodes).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

# Seconds. Generous for a loaded CI machine: on 2 busy cores a node takes 5-15 s to start.
NODE_START_TIMEOUT_S = 120.0
DRIVER_TIMEOUT_S = 300.0
TEARDOWN_TIMEOUT_S = 30.0
# Per node. Ray's default is 30% of RAM (7 GB here) per node; the tests move kilobytes to megabytes.
OBJECT_STORE_BYTES = 256 * 1024 * 1024
# Inside a namespace of our own every port is free, so the GCS can have a fixed one.
GCS_PORT = 6379
VETH_NAME = "fa-veth"  # the same name at both ends: each end lives in its own namespace
NAMESPACE_PREFIXES = ("fa-head-", "fa-work-")

_cluster_sequence = itertools.count()
# Ray's token authentication: without a token in the environment Ray 2.60 generates one and writes it to
# ~/.ray/auth_token. One token for every cluster of this process, because Ray caches the token it loaded
# in the process (a second local cluster with a new token would fail to authenticate).
_PROCESS_AUTH_TOKEN = secrets.token_hex(32)


class ClusterError(RuntimeError):
    """A cluster did not come up as asked (wrong addresses, a node missing, a command failed)."""


class ClusterTimeoutError(ClusterError, TimeoutError):
    """A cluster operation did not finish within its timeout."""


@dataclass(frozen=True)
class ListeningSocket:
    """One listening socket as `ss -ltnup` shows it."""

    protocol: str  # "tcp" or "udp"
    host: str  # without brackets: "127.0.0.1", "::ffff:127.0.0.1", "10.213.7.1", "*" (every address)
    port: int
    process: str
    pid: int

    @property
    def is_loopback(self) -> bool:
        return self.host.startswith("127.") or self.host in ("::1", "localhost") or self.host.startswith("::ffff:127.")


@dataclass(frozen=True)
class DriverResult:
    """How a driver script run in the head's namespace ended."""

    returncode: int
    stdout: str
    stderr: str

    def check(self) -> DriverResult:
        """Self when the driver exited 0, else an AssertionError showing its output."""
        if self.returncode != 0:
            raise AssertionError(
                f"driver exited with {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"
            )
        return self


@dataclass(frozen=True)
class LocalCluster:
    """The one-node cluster of `local_cluster()`, running in this process."""

    address: str  # the GCS, "127.0.0.1:PORT"
    temp_dir: Path

    def listening_sockets(self) -> list[ListeningSocket]:
        """Sockets listening in processes of this cluster: this driver and every process it started."""
        ours = descendant_pids(os.getpid()) | {os.getpid()}
        return [s for s in _listening_sockets(namespace=None) if s.pid in ours]


@dataclass(frozen=True)
class TwoNodeCluster:
    """The cluster of `two_node_cluster()`: a head and a worker, each in its own network namespace."""

    head_namespace: str
    worker_namespace: str
    head_ip: str
    worker_ip: str
    address: str  # the GCS, "HEAD_IP:PORT"; drivers get it as RAY_ADDRESS, so a bare `ray.init()` connects
    python: str
    workdir: Path  # removed at teardown; Ray's temp dirs are workdir/head and workdir/worker
    driver_env: Mapping[str, str] = field(repr=False)

    def run_driver(
        self,
        script: str | Path,
        *args: str,
        python: str | None = None,
        extra_env: Mapping[str, str] | None = None,
        timeout_s: float = DRIVER_TIMEOUT_S,
    ) -> DriverResult:
        """Run `python script args...` in the head's namespace as a driver of this cluster.

        The environment is this process's (PYTHONPATH included: the nodes were started with it too, so the
        workers import what the driver imports), plus RAY_ADDRESS and the cluster's auth token. The
        interpreter must have the same Python and Ray versions as the nodes' (`self.python` by default).
        """
        env = dict(self.driver_env)
        env.update(extra_env or {})
        command = [python or self.python, str(script), *args]
        try:
            completed = _run_in_namespace(self.head_namespace, command, env=env, timeout_s=timeout_s, check=False)
        except subprocess.TimeoutExpired as error:
            raise ClusterTimeoutError(
                f"driver {script} still running after {timeout_s:.0f} s (killed)\n"
                f"--- stdout\n{_text(error.stdout)}\n--- stderr\n{_text(error.stderr)}"
            ) from error
        return DriverResult(completed.returncode, completed.stdout, completed.stderr)

    def run_driver_code(self, source: str, *args: str, timeout_s: float = DRIVER_TIMEOUT_S) -> DriverResult:
        """`run_driver` of a script given as source text (written to a new file in the workdir)."""
        script = self.workdir / f"driver_{secrets.token_hex(4)}.py"
        script.write_text(source)
        return self.run_driver(script, *args, timeout_s=timeout_s)

    def listening_sockets(self, namespace: str) -> list[ListeningSocket]:
        """Every socket listening in one of the two namespaces (all are this cluster's)."""
        return _listening_sockets(namespace=namespace)

    def routes(self, namespace: str) -> list[str]:
        """The IPv4 and IPv6 routes of a namespace, as `ip route` prints them."""
        return [
            line.strip()
            for family in ("-4", "-6")
            for line in _run(["ip", "-n", namespace, family, "route", "show", "table", "all"]).stdout.splitlines()
            if line.strip()
        ]


# --- one node on loopback -------------------------------------------------------------------------------


def _temp_root() -> Path:
    """Where clusters keep their temp dirs: the system's temp dir, unless it lies inside this
    interpreter's virtualenv (nox points TMPDIR into the session's venv), which Ray refuses
    ("temp_dir must not be child directory of virtualenv root"): then /tmp."""
    root = Path(tempfile.gettempdir()).resolve()
    venv = Path(os.environ.get("VIRTUAL_ENV") or sys.prefix).resolve()
    return Path("/tmp") if root == venv or venv in root.parents else root


@contextlib.contextmanager
def local_cluster(
    num_cpus: int = 2,
    *,
    object_store_bytes: int = OBJECT_STORE_BYTES,
    start_timeout_s: float = NODE_START_TIMEOUT_S,
) -> Iterator[LocalCluster]:
    """A one-node Ray cluster in this process, on 127.0.0.1 only; shut down (and its temp dir removed) after.

    What it listens on (seen with `ss -ltnup`, Ray 2.60): the GCS, the raylet (node manager and object
    manager), the driver's and each worker's core-worker server, all on [::ffff:127.0.0.1] (IPv6 sockets
    bound to the v4-mapped loopback address), and the runtime-env agent on 127.0.0.1; nothing else (the
    dashboard is off, its minimal API-server process and the dashboard agent listen on no port). Without
    RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, `ray.init(_node_ip_address="127.0.0.1")` still made the node
    192.0.2.2 (the machine's eth0) and every one of those sockets listened on `*` (all interfaces).
    """
    import ray
    import ray._private.ray_constants as ray_constants

    if ray.is_initialized():
        raise ClusterError("ray is already initialized in this process: shut it down before local_cluster()")
    _remove_stale_workdirs()
    temp_dir = Path(tempfile.mkdtemp(prefix=f"fa-ray-local-{os.getpid()}-", dir=_temp_root()))
    # Ray reads RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER when ray_constants is imported (ray may have been imported
    # before this runs), and each process it starts reads it again: set both for the cluster's life.
    saved_flag = ray_constants.ENABLE_RAY_CLUSTER
    children_before = descendant_pids(os.getpid())  # not the cluster's: never killed here
    with _environment(_loopback_ray_environment()):
        ray_constants.ENABLE_RAY_CLUSTER = False
        try:
            # HOME only for the processes ray.init() starts (see _ray_home); this one keeps its own.
            with (
                hard_deadline(start_timeout_s, "starting the local Ray cluster"),
                _environment({"HOME": str(_ray_home(temp_dir))}),
            ):
                ray.init(
                    num_cpus=num_cpus,
                    include_dashboard=False,
                    object_store_memory=object_store_bytes,
                    # Ray's default /tmp/ray is shared with every other Ray on the machine.
                    _temp_dir=str(temp_dir),
                )
            ray_nodes: Callable[[], list[dict[str, Any]]] = ray.nodes  # untyped in Ray's annotations
            node_addresses = sorted(str(node["NodeManagerAddress"]) for node in ray_nodes())
            if node_addresses != ["127.0.0.1"]:
                raise ClusterError(f"local cluster: expected one node at 127.0.0.1, ray.nodes() has {node_addresses}")
            yield LocalCluster(address=str(ray.get_runtime_context().gcs_address), temp_dir=temp_dir)
        finally:
            started = descendant_pids(os.getpid()) - children_before
            try:
                ray.shutdown()
            finally:
                ray_constants.ENABLE_RAY_CLUSTER = saved_flag
                # ray.shutdown() stops the processes it started; a worker that outlives its raylet is killed.
                _kill_and_wait(lambda: started & descendant_pids(os.getpid()), "the local cluster's processes")
                _remove_tree(temp_dir)


def _ray_home(parent: Path) -> Path:
    """A HOME for Ray's processes, with a ~/ray_bootstrap_config.yaml in it.

    Ray's usage-stats module (loaded by the dashboard process, which runs even with the dashboard off)
    reads ~/ray_bootstrap_config.yaml whether or not usage stats are on; when the file is missing it asks
    the cloud metadata services which cloud this is: HTTP to 169.254.169.254 (Azure's and AWS's paths)
    and a DNS query for metadata.google.internal. Seen with strace on the local cluster; with this file
    no process of the cluster connects to any address but 127.0.0.1. Ray's workers inherit this HOME.
    """
    home = parent / "home"
    home.mkdir(exist_ok=True)
    (home / "ray_bootstrap_config.yaml").write_text(
        "# Written by tests/distributed/cluster.py so that Ray does not query cloud metadata services.\n"
        "provider:\n  type: local\n"
    )
    return home


def _loopback_ray_environment() -> dict[str, str | None]:
    return {
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # one node, every address 127.0.0.1
        "RAY_USAGE_STATS_ENABLED": "0",
        # Token authentication with our token. RAY_AUTH_MODE stays unset: ray.init() then turns token mode
        # on itself and reloads its C++ config; an explicit "token" is taken as is, and the config read when
        # ray was imported (mode "disabled" if ray came first) would send no token to our own GCS.
        "RAY_AUTH_MODE": None,
        "RAY_AUTH_TOKEN": _PROCESS_AUTH_TOKEN,
        "RAY_AUTH_TOKEN_PATH": None,
        "RAY_ADDRESS": None,  # else ray.init() would connect to that cluster instead of starting one
    }


# --- two nodes in network namespaces --------------------------------------------------------------------


@contextlib.contextmanager
def two_node_cluster(
    *,
    python: str = sys.executable,
    object_store_bytes: int = OBJECT_STORE_BYTES,
    start_timeout_s: float = NODE_START_TIMEOUT_S,
) -> Iterator[TwoNodeCluster]:
    """Two Ray nodes (1 CPU each) on two test hosts made of network namespaces; all removed after.

    The head runs in fa-head-<pid>-<n> at 10.213.X.1, the worker in fa-work-<pid>-<n> at 10.213.X.2, joined
    by a veth pair; each namespace has `lo` and its veth end, no other interface and no route elsewhere.
    `python` runs `ray start` (so the nodes' workers) and, by default, the drivers.

    Ray allows a temp dir per node (`ray start --temp-dir`, "can be specified per node"). One shared temp dir
    works too (tried: the worker joins the head's session directory and numbers its socket files raylet.1 and
    plasma_store.1, as ray.cluster_utils does for nodes on one host). Each node gets its own here all the
    same, so that each keeps its own logs, and nothing goes to /tmp/ray (Ray's default, shared machine-wide).

    What it listens on (seen with `ss -ltnup` in each namespace, Ray 2.60): in the head, the GCS on *:6379,
    the raylet's two ports and each worker's core-worker server on `*`, the runtime-env agent on the head's
    veth address; in the worker, the same without the GCS. `*` means every address of that namespace: its
    veth end and lo. What else Ray tries (seen with strace): 8.8.8.8:53 and [2001:4860:4860::8888]:53 (to
    guess the node's address) and the machine's DNS resolver; every such connect fails at once with
    ENETUNREACH (no route), and Ray goes on with the addresses it was given.

    Teardown (also after an error or Ctrl-C): SIGKILL to every process in either namespace, the namespaces
    deleted (which deletes the veth pair), the workdir removed.
    """
    _require_namespace_tools()
    _remove_stale_namespaces()
    _remove_stale_workdirs()
    sequence = next(_cluster_sequence)
    tag = f"{os.getpid()}-{sequence}"
    subnet = f"10.213.{(os.getpid() + sequence) % 254 + 1}"
    head_ip, worker_ip = f"{subnet}.1", f"{subnet}.2"
    head_namespace, worker_namespace = f"fa-head-{tag}", f"fa-work-{tag}"
    with contextlib.ExitStack() as teardown:
        workdir = Path(tempfile.mkdtemp(prefix=f"fa-ray-{tag}-", dir=_temp_root()))
        teardown.callback(_remove_tree, workdir)  # registered first, so it runs last: after the processes died
        for namespace in (head_namespace, worker_namespace):
            # Only a killed earlier process whose pid this one has now could have left this very name.
            _delete_namespace(namespace)
            _run(["ip", "netns", "add", namespace])
            teardown.callback(_delete_namespace, namespace)
        # Made inside the head's namespace with its peer put straight into the worker's: the pair never
        # appears in this machine's own namespace, so its name cannot clash with anything there.
        veth_pair = ["type", "veth", "peer", "name", VETH_NAME, "netns", worker_namespace]
        _run(["ip", "-n", head_namespace, "link", "add", VETH_NAME, *veth_pair])
        for namespace, ip in ((head_namespace, head_ip), (worker_namespace, worker_ip)):
            _run(["ip", "-n", namespace, "addr", "add", f"{ip}/24", "dev", VETH_NAME])
            _run(["ip", "-n", namespace, "link", "set", "lo", "up"])
            _run(["ip", "-n", namespace, "link", "set", VETH_NAME, "up"])

        node_env = _namespace_ray_environment()
        address = f"{head_ip}:{GCS_PORT}"
        common = ["--num-cpus=1", "--disable-usage-stats", f"--object-store-memory={object_store_bytes}"]
        ray_start = [python, "-m", "ray.scripts.scripts", "start"]
        head_command = [*ray_start, "--head", f"--node-ip-address={head_ip}", f"--port={GCS_PORT}"]
        head_command += ["--include-dashboard=false", f"--temp-dir={workdir / 'head'}", *common]
        worker_command = [*ray_start, f"--address={address}", f"--node-ip-address={worker_ip}"]
        worker_command += [f"--temp-dir={workdir / 'worker'}", *common]
        # Both at once: the worker's `ray start` retries the GCS (once a second) until the head has it up, and
        # starting Python and importing Ray takes seconds on a busy machine, overlapped so.
        starts = [
            _NodeStart(head_namespace, head_command, workdir / "ray-start-head.log"),
            _NodeStart(worker_namespace, worker_command, workdir / "ray-start-worker.log"),
        ]
        # In these namespaces the metadata services are unreachable anyway (no route); the file saves the tries.
        _start_nodes(starts, {**node_env, "HOME": str(_ray_home(workdir))}, start_timeout_s)

        cluster = TwoNodeCluster(
            head_namespace=head_namespace,
            worker_namespace=worker_namespace,
            head_ip=head_ip,
            worker_ip=worker_ip,
            address=address,
            python=python,
            workdir=workdir,
            driver_env={**node_env, "RAY_ADDRESS": address},
        )
        _wait_for_alive_nodes(cluster, {head_ip, worker_ip}, start_timeout_s)
        yield cluster


def _namespace_ray_environment() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)  # "0" would refuse a multi-node cluster
    env.pop("RAY_ADDRESS", None)
    env.pop("RAY_AUTH_TOKEN_PATH", None)
    env.update(
        {
            "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_AUTH_MODE": "token",
            # Its own token: these are other processes, and a driver must not reach another cluster.
            "RAY_AUTH_TOKEN": secrets.token_hex(32),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@dataclass(frozen=True)
class _NodeStart:
    namespace: str
    command: Sequence[str]
    log: Path


def _start_nodes(starts: Sequence[_NodeStart], env: Mapping[str, str], timeout_s: float) -> None:
    """Run the `ray start` commands at once, each in its namespace, and wait for all of them to succeed.

    `ray start` returns once its daemons are up; they keep running in the namespace. Its output goes to a
    file, not a pipe: the daemons inherit the descriptors, and a pipe would stay open as long as they run.
    """
    deadline = time.monotonic() + timeout_s
    running: list[tuple[_NodeStart, subprocess.Popen[bytes]]] = []
    try:
        for start in starts:
            with start.log.open("w") as output:
                process = subprocess.Popen(
                    ["ip", "netns", "exec", start.namespace, *start.command],
                    env=dict(env),
                    cwd=start.log.parent,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )
            running.append((start, process))
        for start, process in running:
            try:
                returncode = process.wait(timeout=max(deadline - time.monotonic(), 0.0))
            except subprocess.TimeoutExpired as error:
                raise ClusterTimeoutError(
                    f"`ray start` in {start.namespace} still running after {timeout_s:.0f} s\n{_tail(start.log)}"
                ) from error
            if returncode != 0:
                raise ClusterError(f"`ray start` in {start.namespace} exited with {returncode}\n{_tail(start.log)}")
    finally:
        for _, process in running:  # after an error or Ctrl-C; the daemons go with the namespaces
            if process.poll() is None:
                process.kill()
                process.wait()


_WAIT_FOR_NODES = """
import sys, time
import ray

expected, timeout_s = set(sys.argv[1].split(",")), float(sys.argv[2])
deadline = time.monotonic() + timeout_s
ray.init(logging_level="WARNING", log_to_driver=False)
while True:
    alive = {node["NodeManagerAddress"] for node in ray.nodes() if node["Alive"]}
    if alive == expected:
        sys.exit(0)
    if time.monotonic() > deadline:
        sys.exit(f"alive nodes {sorted(alive)} after {timeout_s:.0f} s, expected {sorted(expected)}")
    time.sleep(0.2)
"""


def _wait_for_alive_nodes(cluster: TwoNodeCluster, node_ips: set[str], timeout_s: float) -> None:
    result = cluster.run_driver_code(_WAIT_FOR_NODES, ",".join(sorted(node_ips)), str(timeout_s), timeout_s=timeout_s)
    if result.returncode != 0:
        raise ClusterError(f"the two-node cluster did not come up\n{result.stderr[-4000:]}")


def _require_namespace_tools() -> None:
    if not sys.platform.startswith("linux"):
        raise ClusterError("two_node_cluster needs Linux network namespaces")
    if os.geteuid() != 0:
        raise ClusterError("two_node_cluster needs root (ip netns add)")
    for tool in ("ip", "ss"):
        if shutil.which(tool) is None:
            raise ClusterError(f"two_node_cluster needs `{tool}` (iproute2)")


def _remove_stale_namespaces() -> None:
    """Delete our namespaces left by a run that was killed (SIGKILL skips teardown): their pid is gone."""
    for namespace in network_namespaces():
        match = re.fullmatch(r"fa-(?:head|work)-(\d+)-\d+", namespace)
        if match is not None and not _is_running(int(match.group(1))):
            _delete_namespace(namespace)


def _remove_stale_workdirs() -> None:
    """Remove the temp dirs of clusters whose process was killed (named fa-ray-[local-]<pid>-...)."""
    for path in _temp_root().glob("fa-ray-*"):
        match = re.match(r"fa-ray-(?:local-)?(\d+)-", path.name)
        if match is not None and path.is_dir() and not _is_running(int(match.group(1))):
            _remove_tree(path)


def _is_running(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def network_namespaces() -> list[str]:
    return [line.split()[0] for line in _run(["ip", "netns", "list"]).stdout.splitlines() if line.strip()]


def _delete_namespace(namespace: str) -> None:
    if namespace not in network_namespaces():
        return
    _kill_and_wait(lambda: _pids_in_namespace(namespace), f"the processes in {namespace}")
    _run(["ip", "netns", "delete", namespace])


def _pids_in_namespace(namespace: str) -> set[int]:
    """Processes whose network namespace is this one (what `ip netns pids` lists)."""
    try:
        target = os.stat(f"/run/netns/{namespace}")
    except FileNotFoundError:
        return set()
    pids = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ns = os.stat(f"/proc/{entry}/ns/net")
        except OSError:  # exited, or a zombie (its namespaces are gone)
            continue
        if (ns.st_dev, ns.st_ino) == (target.st_dev, target.st_ino):
            pids.add(int(entry))
    return pids


# --- processes and sockets ------------------------------------------------------------------------------


def descendant_pids(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry))
    found: set[int] = set()
    pending = [root]
    while pending:
        for child in children.get(pending.pop(), []):
            if child not in found:
                found.add(child)
                pending.append(child)
    return found


def _kill_and_wait(find_pids: Callable[[], set[int]], what: str) -> None:
    """SIGKILL the processes find_pids() returns until it returns none (new ones may appear meanwhile)."""
    deadline = time.monotonic() + TEARDOWN_TIMEOUT_S
    while pids := find_pids():
        if time.monotonic() > deadline:
            raise ClusterTimeoutError(f"{what} still alive after {TEARDOWN_TIMEOUT_S:.0f} s: {sorted(pids)}")
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


_SS_USER = re.compile(r'\("([^"]*)",pid=(\d+),')


def _listening_sockets(namespace: str | None) -> list[ListeningSocket]:
    command = ["ss", "-H", "-l", "-t", "-u", "-n", "-p"]
    if namespace is not None:
        command = ["ip", "netns", "exec", namespace, *command]
    sockets = []
    for line in _run(command).stdout.splitlines():
        columns = line.split()
        if len(columns) < 5:
            continue
        host, _, port = columns[4].rpartition(":")
        host = host.strip("[]").split("%")[0]  # "[::ffff:127.0.0.1]" and "127.0.0.53%lo" as plain addresses
        for process, pid in _SS_USER.findall(line):
            sockets.append(ListeningSocket(columns[0], host, int(port), process, int(pid)))
    return sockets


# --- small helpers --------------------------------------------------------------------------------------


def _run(command: Sequence[str], *, timeout_s: float = 30.0) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=True)
    except subprocess.CalledProcessError as error:
        raise ClusterError(f"{' '.join(command)} exited with {error.returncode}: {error.stderr.strip()}") from error
    except subprocess.TimeoutExpired as error:
        raise ClusterTimeoutError(f"{' '.join(command)} still running after {timeout_s:.0f} s") from error


def _run_in_namespace(
    namespace: str, command: Sequence[str], *, env: Mapping[str, str], timeout_s: float, check: bool
) -> subprocess.CompletedProcess[str]:
    # `ip netns exec` execs the command (no fork), so the timeout's kill reaches the driver itself.
    return subprocess.run(
        ["ip", "netns", "exec", namespace, *command],
        env=dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=check,
    )


@contextlib.contextmanager
def _environment(changes: Mapping[str, str | None]) -> Iterator[None]:
    """os.environ with these variables set (None: removed), restored after."""
    saved = {name: os.environ.get(name) for name in changes}
    try:
        for name, value in changes.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def hard_deadline(seconds: float, what: str) -> Iterator[None]:
    """Raise ClusterTimeoutError in the main thread if the block runs longer than `seconds` (SIGALRM).

    For calls without a timeout of their own (ray.init). Elsewhere (not the main thread) it does nothing.
    An enclosing alarm due sooner (pytest-timeout's signal method, an outer deadline) is left as it is;
    one due later is restored after, less the time spent here.
    """
    pending, _ = signal.getitimer(signal.ITIMER_REAL)
    if threading.current_thread() is not threading.main_thread() or 0 < pending <= seconds:
        yield
        return

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise ClusterTimeoutError(f"{what}: still running after {seconds:.0f} s")

    started = time.monotonic()
    previous_handler = signal.signal(signal.SIGALRM, on_alarm)
    previous_remaining, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if previous_remaining > 0:
            signal.setitimer(signal.ITIMER_REAL, max(previous_remaining - (time.monotonic() - started), 0.001))


def _remove_tree(path: Path) -> None:
    # A process that died a moment ago may still have been writing its logs: retry briefly.
    for _ in range(20):
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            return
        time.sleep(0.1)
    shutil.rmtree(path)


def _tail(log: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _text(output: bytes | str | None) -> str:
    if output is None:
        return ""
    return output.decode(errors="replace") if isinstance(output, bytes) else output
