"""The processes a crash run starts: ``caja serve``, which it kills and starts again, and
``caja operator serve``, the slow sandbox operator the server buys top-ups from.

Each runs in a session of its own (``start_new_session=True``), so the server and its
workers form one process group that a SIGKILL to the group ends at once, and nothing
else is signalled: the group's id is the pid of a process started here and not yet
reaped when it is signalled.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import httpx
from bench.server import ProcessGroup, caja_command, serve_command

from chaos.procfs import process_states

__all__ = ["CajaServer", "Operator"]

STOP_TIMEOUT_SECONDS = 15.0
GONE_TIMEOUT_SECONDS = 10.0
READY_TIMEOUT_SECONDS = 60.0


def _live_members(group: int) -> list[int]:
    """Processes of process group ``group`` that have not exited (zombies excluded).

    Read from /proc: a worker that outlived its killed parent is reparented, and no
    ``wait`` here can see it.
    """
    members = []
    for pid, fields in process_states():
        if len(fields) > 2 and int(fields[2]) == group and fields[0] != "Z":
            members.append(pid)
    return members


class CajaServer:
    """``caja serve`` on one loopback port, started, killed and started again.

    With several workers the server shares metrics through a directory: the run gives
    it one of its own and empties it before each start, since a killed server cannot
    remove it.
    """

    def __init__(
        self, env: dict[str, str], port: int, workers: int, log_path: Path, metrics: Path
    ) -> None:
        self.port = port
        self.workers = workers
        self.base_url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self._metrics = metrics
        self._env = dict(env)
        if workers > 1:
            self._env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics)
        self._group: ProcessGroup | None = None
        self.starts = 0

    def start(self) -> None:
        assert self._group is None, "the server is already running"
        if self.workers > 1:
            shutil.rmtree(self._metrics, ignore_errors=True)
            self._metrics.mkdir(parents=True)
        self._group = ProcessGroup(serve_command(self.port, self.workers), self._env, self.log_path)
        self.starts += 1

    def wait_healthy(self) -> None:
        """Wait for ``GET /healthz`` to answer 200; raise if the server exits or is slow."""
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            self.check_running()
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"caja serve not healthy after {READY_TIMEOUT_SECONDS:.0f} s")

    def check_running(self) -> None:
        if self._group is None or self._group.exited():
            raise RuntimeError(f"caja serve exited on its own; log: {self.log_path}")

    def kill(self) -> None:
        """SIGKILL the whole process group at once, then wait until none of it runs."""
        assert self._group is not None, "the server is not running"
        group = self._group
        self._group = None
        group.kill()
        self._wait_gone(group.pid)

    def stop(self) -> None:
        """SIGTERM and wait; SIGKILL the group if it outstays the timeout."""
        if self._group is None:
            return
        group = self._group
        self._group = None
        group.stop(STOP_TIMEOUT_SECONDS)
        self._wait_gone(group.pid)

    @staticmethod
    def _wait_gone(group: int) -> None:
        """The next server binds the same port and, on SQLite, takes the same writer
        lock: wait for every worker of the killed one to be gone."""
        deadline = time.monotonic() + GONE_TIMEOUT_SECONDS
        while _live_members(group):
            if time.monotonic() > deadline:
                raise RuntimeError(f"processes of group {group} outlived SIGKILL")
            time.sleep(0.02)


class Operator:
    """``caja operator serve`` on a loopback port, answering every purchase after a delay
    (it records the purchase first, as a slow real operator would)."""

    def __init__(self, port: int, log_path: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.port = port
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, delay_ms: int) -> None:
        command = [*caja_command(), "operator", "serve", "--host", "127.0.0.1"]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [*command, "--port", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"caja operator serve exited; log: {self.log_path}")
            try:
                answer = httpx.put(
                    f"{self.url}/control/faults", json={"delay_ms": delay_ms}, timeout=2
                )
                answer.raise_for_status()
                return
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError("caja operator serve did not start") from None
                time.sleep(0.05)

    def final_status(self, reference: str) -> str | None:
        """What the operator says of a purchase: its status, or None if it never got it."""
        answer = httpx.get(f"{self.url}/purchases/{reference}", timeout=10)
        if answer.status_code == 404:
            return None
        answer.raise_for_status()
        status = answer.json()["status"]
        return str(status)

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None
