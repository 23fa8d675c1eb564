"""A PostgreSQL server of a test's own, to kill, freeze and start again.

Like ``tests.postgres``, as root it runs as the ``postgres`` user, in a temporary
directory, on a free loopback port. Faults are made on its real processes: the
postmaster and every backend, found by their parent in ``/proc``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.postgres import _as_postgres, _pg_binary, free_port

__all__ = ["PostgresServer", "own_postgres"]


class PostgresServer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> None:
        initdb = [_pg_binary("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust"]
        subprocess.run(_as_postgres([*initdb, "-E", "UTF8", "--no-sync"]), check=True,
                       capture_output=True)  # fmt: skip

    def start(self, *settings: str) -> None:
        """Start it (after a kill, with crash recovery); ``settings`` as ``name=value``."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off -c max_connections=100"
        )
        options += "".join(f" -c {setting}" for setting in settings)
        command = [_pg_binary("pg_ctl"), "-D", str(self.data), "-o", options]
        command += ["-l", str(self.root / "log"), "-w", "-t", "30", "start"]
        done = subprocess.run(_as_postgres(command), capture_output=True, timeout=40, check=False)
        if done.returncode != 0:
            log = (self.root / "log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"PostgreSQL did not start: {done.stderr!r}\n{log}")

    def stop(self) -> None:
        command = [_pg_binary("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"]
        subprocess.run(_as_postgres(command), check=False, capture_output=True, timeout=30)

    def postmaster(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            return None

    def processes(self) -> list[int]:
        """The postmaster and its children (backends, checkpointer, ...)."""
        postmaster = self.postmaster()
        if postmaster is None:
            return []
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == postmaster:
                children.append(int(stat.parent.name))
        return [postmaster, *children]

    def signal(self, number: signal.Signals) -> None:
        for pid in self.processes():
            try:
                os.kill(pid, number)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        """SIGKILL every process of the server, as when its machine dies."""
        pids = self.processes()
        self.signal(signal.SIGKILL)
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        # A killed postmaster may stay a zombie until whoever adopted it reaps it, and
        # PostgreSQL refuses to start while the process its lock file names exists.
        (self.data / "postmaster.pid").unlink(missing_ok=True)
        (self.root / f".s.PGSQL.{self.port}.lock").unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    """Running or stopped, not a zombie waiting for its parent."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@contextmanager
def own_postgres(*settings: str) -> Iterator[PostgresServer]:
    """A fresh server of the test's own, started; stopped and removed at the end."""
    root = Path(tempfile.mkdtemp(prefix="caja-pg-fault-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    server = PostgresServer(root)
    try:
        server.init()
        server.start(*settings)
        yield server
    finally:
        server.signal(signal.SIGCONT)
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
