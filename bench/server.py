"""The caja server under test, and the ``caja`` commands the bench runs around it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from bench import programs
from bench.programs import free_port

__all__ = ["ProcessGroup", "Server", "caja_command", "run_caja", "serve_command"]

READY_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0


def serve_command(port: int, workers: int) -> list[str]:
    """``caja serve`` on 127.0.0.1:``port`` with ``workers`` processes."""
    return [
        *caja_command(), "serve", "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(workers),
    ]  # fmt: skip


def caja_command() -> list[str]:
    """The ``caja`` entry point of the running interpreter's environment."""
    script = Path(sys.executable).parent / "caja"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from caja.cli import app; app(prog_name='caja')"]


def _environment(database_url: str) -> dict[str, str]:
    return {
        "CAJA_WALLET_JWT_SECRET": "the-benchmark-s-secret-shared-by-its-workers",
        **os.environ,
        "CAJA_DATABASE_URL": database_url,
        "CAJA_BENCH_ENDPOINT": "1",
        # The webhook modes' endpoints are on 127.0.0.1.
        "CAJA_WEBHOOKS_ALLOW_PRIVATE": "1",
    }


def run_caja(
    arguments: list[str], database_url: str, timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run one ``caja`` subcommand on ``database_url``; its output is captured."""
    return programs.run(
        [*caja_command(), *arguments], timeout, env=_environment(database_url), check=False
    )


class ProcessGroup:
    """A command started in a process group of its own, its output appended to a log.

    The group holds the command and every process it starts (a server's workers), all
    started here, so signalling the group reaches only our own.
    """

    def __init__(self, command: list[str], env: dict[str, str], log_path: Path) -> None:
        with log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid = self._process.pid

    def exited(self) -> bool:
        """Whether the command has exited, without reaping it: while it is not reaped its
        process group id cannot be reused."""
        flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
        return os.waitid(os.P_PID, self.pid, flags) is not None

    def kill(self) -> None:
        """SIGKILL the whole group at once and reap the command."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._process.wait()

    def stop(self, timeout: float) -> None:
        """SIGTERM the command, wait up to ``timeout`` seconds, then :meth:`kill` whatever
        is left of the group."""
        if not self.exited():
            self._process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while not self.exited() and time.monotonic() < deadline:
                time.sleep(0.05)
        self.kill()


class Server:
    """``caja serve`` on a free loopback port, in its own process group, logging to a file.

    Use as a context manager: entering starts it (call :meth:`wait_ready` before loading
    it), leaving stops it (SIGTERM, then SIGKILL to its process group after a timeout).
    """

    def __init__(self, database_url: str, workers: int, log_path: Path) -> None:
        self.database_url = database_url
        self.workers = workers
        self.log_path = log_path
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._group: ProcessGroup | None = None

    def __enter__(self) -> Server:
        command = serve_command(self.port, self.workers)
        self._group = ProcessGroup(command, _environment(self.database_url), self.log_path)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def group(self) -> int | None:
        """The process group id of the running server (its master's pid), else None."""
        return None if self._group is None else self._group.pid

    def check_alive(self) -> None:
        """Raise if the server has exited while it should be serving."""
        if self._group is None or self._group.exited():
            raise RuntimeError(f"caja serve exited during the run; log: {self.log_path}")

    def wait_ready(self) -> None:
        """Wait until ``GET /readyz`` answers 200; raise if the server exits or takes long."""
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._group is None or self._group.exited():
                raise RuntimeError(f"caja serve exited early; log: {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/readyz", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise RuntimeError(
            f"caja serve not ready after {READY_TIMEOUT_SECONDS:.0f} s; log: {self.log_path}"
        )

    def stop(self) -> None:
        """SIGTERM the server, wait, then SIGKILL whatever is left of its process group."""
        if self._group is None:
            return
        self._group.stop(STOP_TIMEOUT_SECONDS)
        self._group = None
