"""The processes of the cluster: three etcd members, three Patronis (each running one
PostgreSQL), and HAProxy; each started here, in a session of its own, logging to a file.

Patroni and PostgreSQL run as the ``postgres`` user (PostgreSQL refuses root). The
interpreter that runs Patroni must be one that user can execute: the running one if it
can, else the system's Python of the same version with this environment's packages on
its path (a Python under /root, as pyenv installs it, is out of its reach).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import sysconfig
import time
from functools import cache
from pathlib import Path

__all__ = ["Started", "as_postgres", "patroni_command", "postmaster_pid", "signal_postgres"]

STOP_TIMEOUT_SECONDS = 20.0
PROBE_TIMEOUT_SECONDS = 30.0


def as_postgres() -> bool:
    return os.geteuid() == 0


def _owner_env(extra: dict[str, str]) -> dict[str, str]:
    path = os.environ.get("PATH", "/usr/bin:/bin")
    return {"PATH": path, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", **extra}


@cache
def patroni_command() -> tuple[list[str], dict[str, str]]:
    """The command starting Patroni, and the environment it needs, as ``postgres``."""
    site = sysconfig.get_paths()["purelib"]
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [
        (sys.executable, {}),
        (f"/usr/bin/python{version}", {"PYTHONPATH": site, "PYTHONNOUSERSITE": "1"}),
    ]
    for python, extra in candidates:
        try:
            probe = subprocess.run(
                [python, "-c", "import patroni, psycopg"],
                env=_owner_env(extra),
                user="postgres" if as_postgres() else None,
                capture_output=True,
                timeout=PROBE_TIMEOUT_SECONDS,
                check=False,
            )
        except OSError:
            continue
        if probe.returncode == 0:
            return [python, "-m", "patroni"], extra
    raise RuntimeError(
        "no Python the postgres user can run imports Patroni: "
        "install the cluster extra (pip install -e '.[cluster]')"
    )


class Started:
    """One program started here in a session of its own, its output appended to a log."""

    def __init__(
        self, name: str, command: list[str], log: Path, *, env: dict[str, str], owner: bool
    ) -> None:
        self.name = name
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                command,
                env=env,
                cwd=log.parent,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user="postgres" if owner and as_postgres() else None,
                group="postgres" if owner and as_postgres() else None,
                extra_groups=[] if owner and as_postgres() else None,
            )
        self.pid = self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL this process only (not its session: Patroni's PostgreSQL outlives it)."""
        if self.running():
            self.process.kill()
        self.process.wait()

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds."""
        if self.running():
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process.wait()


def postmaster_pid(data_dir: Path) -> int | None:
    """The postmaster's pid from ``postmaster.pid``, if it names a running PostgreSQL."""
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return None
    # A pid can be reused: it must be a live postgres on this data directory.
    if b"postgres" not in command or state == "Z":
        return None
    return pid


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if len(fields) > 1 and int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def signal_postgres(data_dir: Path, signum: int, *, whole: bool = False) -> list[int]:
    """Send ``signum`` to the postmaster of ``data_dir`` (and, ``whole``, to every one of
    its processes); the pids signalled."""
    pid = postmaster_pid(data_dir)
    if pid is None:
        return []
    pids = [pid, *(_children_of(pid) if whole else [])]
    for target in pids:
        try:
            os.kill(target, signum)
        except ProcessLookupError:
            pass
    return pids


def stop_postgres(data_dir: Path, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
    """Stop a PostgreSQL left running (its Patroni gone): SIGQUIT (immediate shutdown),
    then SIGKILL to every process of it."""
    pids = signal_postgres(data_dir, signal.SIGCONT, whole=True)
    if not pids:
        return
    os.kill(pids[0], signal.SIGQUIT)
    deadline = time.monotonic() + timeout
    while postmaster_pid(data_dir) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    signal_postgres(data_dir, signal.SIGKILL, whole=True)
