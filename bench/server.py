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

__all__ = ["Server", "caja_command", "run_caja", "serve_command"]

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
    return {**os.environ, "CAJA_DATABASE_URL": database_url, "CAJA_BENCH_ENDPOINT": "1"}


def run_caja(
    arguments: list[str], database_url: str, timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run one ``caja`` subcommand on ``database_url``; its output is captured."""
    return programs.run(
        [*caja_command(), *arguments], timeout, env=_environment(database_url), check=False
    )


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
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        command = serve_command(self.port, self.workers)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command,
                env=_environment(self.database_url),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def _exited(self) -> bool:
        """Whether the server has exited, without reaping it: while it is not reaped its
        process group id cannot be reused, so signalling the group reaches only our own."""
        assert self._process is not None
        flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
        return os.waitid(os.P_PID, self._process.pid, flags) is not None

    def check_alive(self) -> None:
        """Raise if the server has exited while it should be serving."""
        if self._process is None or self._exited():
            raise RuntimeError(f"caja serve exited during the run; log: {self.log_path}")

    def wait_ready(self) -> None:
        """Wait until ``GET /readyz`` answers 200; raise if the server exits or takes long."""
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._exited():
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
        if self._process is None:
            return
        if not self._exited():
            self._process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
            while not self._exited() and time.monotonic() < deadline:
                time.sleep(0.1)
        # The group holds the server and its workers, all started here.
        try:
            os.killpg(self._process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._process.wait()
        self._process = None
