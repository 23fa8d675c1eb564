"""``python -m chaos cluster up|down|status``: the cluster as a service of this machine.

``up`` starts a supervisor process (``python -m chaos cluster supervise``, in a session
of its own) that holds the cluster (it is the parent, and the subreaper, of every
Patroni and PostgreSQL), waits until the cluster is healthy, creates the ``caja``
database, prints the URLs and returns; the supervisor stays. ``down`` sends the
supervisor SIGTERM, which stops everything; whatever a dead supervisor left (by the pids
it wrote, and any PostgreSQL by its ``postmaster.pid``) is stopped too, then the state
directory is removed. ``status`` prints what Patroni says of each node.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

from chaos.cluster.cluster import Cluster, ClusterError, port_taken
from chaos.cluster.layout import Layout
from chaos.cluster.nodes import stop_postgres

__all__ = ["down", "status", "supervise", "up"]

DEFAULT_BASE_PORT = 15400
UP_TIMEOUT_SECONDS = 120.0
DOWN_TIMEOUT_SECONDS = 60.0


def default_state() -> Path:
    return Path(tempfile.gettempdir()) / "caja-cluster"


def _supervisor_pid(state: Path) -> int | None:
    """The supervisor's pid, if it still runs."""
    try:
        pid = int((state / "supervisor.pid").read_text())
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if b"supervise" in command else None


def _urls(layout: Layout) -> str:
    return (
        f"write URL       {layout.write_url()}\n"
        f"multi-host URL  {layout.multi_host_url()}\n"
        f"caja over HTTP  http://127.0.0.1:{layout.http_port} "
        f"(caja hosts expected on {layout.caja_ports(2)})\n"
        f"HAProxy stats   http://127.0.0.1:{layout.stats_port}/"
    )


def _start_supervisor(state: Path, base: int) -> subprocess.Popen[bytes]:
    state.mkdir(parents=True, exist_ok=True)
    (state / "ready").unlink(missing_ok=True)
    command = [sys.executable, "-m", "chaos", "cluster", "supervise"]
    with (state / "supervisor.log").open("ab") as log:
        return subprocess.Popen(
            [*command, "--state", str(state), "--base-port", str(base)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def up(state: Path, base: int) -> int:
    """Start the supervisor unless it runs; wait for a healthy cluster; print the URLs."""
    layout = Layout(state, base)
    started = None if _supervisor_pid(state) else _start_supervisor(state, base)
    deadline = time.monotonic() + UP_TIMEOUT_SECONDS
    while not (state / "ready").exists():
        if started is not None and started.poll() is not None:
            print(f"the cluster did not start; see {state / 'supervisor.log'}", file=sys.stderr)
            return 1
        if time.monotonic() > deadline:
            print(f"the cluster is not healthy; see {state / 'logs'}", file=sys.stderr)
            return 1
        time.sleep(0.2)
    print((state / "ready").read_text().strip())
    print(_urls(layout))
    return 0


def supervise(state: Path, base: int) -> int:
    """Hold the cluster until SIGTERM or SIGINT, then stop it."""
    cluster = Cluster(Layout(state, base))
    stopping = False

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    (state / "supervisor.pid").write_text(str(os.getpid()))
    try:
        cluster.start()
        seconds = cluster.wait_healthy()
        cluster.ensure_database()
        (state / "ready").write_text(f"cluster healthy {seconds:.1f} s after start")
        while not stopping:
            time.sleep(0.2)
        return 0
    except ClusterError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return 1
    finally:
        cluster.stop()
        (state / "supervisor.pid").unlink(missing_ok=True)


def _stop_leftovers(state: Path) -> None:
    """SIGKILL what a dead supervisor left: its programs by pid (if still theirs), and any
    PostgreSQL by its postmaster.pid."""
    try:
        pids: dict[str, int] = json.loads((state / "pids.json").read_text())
    except (OSError, ValueError):
        pids = {}
    for name, pid in pids.items():
        program = name.rstrip("0123456789").encode()
        try:
            if program in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGKILL)
        except (OSError, ProcessLookupError):
            continue
    for home in state.glob("pg*"):
        stop_postgres(home / "data")


def down(state: Path) -> int:
    """Stop the cluster and remove its state directory."""
    pid = _supervisor_pid(state)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + DOWN_TIMEOUT_SECONDS
        while _supervisor_pid(state) is not None and time.monotonic() < deadline:
            time.sleep(0.2)
    _stop_leftovers(state)
    shutil.rmtree(state, ignore_errors=True)
    print("cluster stopped")
    return 0


def status(state: Path, base: int) -> int:
    """What each node's Patroni says; exit 0 when the cluster is healthy."""
    layout = Layout(state, base)
    cluster = Cluster(layout)
    supervisor = _supervisor_pid(state)
    print(f"supervisor      {'pid ' + str(supervisor) if supervisor else 'not running'}")
    for member in cluster.members():
        lag = member.get("lag", "")
        print(
            f"{member.get('name', '?'):<6} {member.get('role', '?'):<13} "
            f"{member.get('state', '?'):<10} timeline {member.get('timeline', '?')}  "
            f"port {member.get('port', '?')}  lag {lag}"
        )
    write = "open" if port_taken(layout.write_port) else "closed"
    print(f"HAProxy write port {layout.write_port}: {write}")
    healthy = cluster.healthy()
    print("healthy" if healthy else "not healthy")
    if healthy:
        print(_urls(layout))
    return 0 if healthy else 1
