"""Running the programs the bench drives: bounded in time, output captured."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

__all__ = ["free_port", "run"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run(
    arguments: list[str],
    timeout: float,
    *,
    env: dict[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a program to its end (killed after ``timeout`` seconds), capturing its output.

    With ``check``, a non-zero exit raises RuntimeError with what it wrote on stderr.
    """
    finished = subprocess.run(
        arguments, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and finished.returncode != 0:
        name = Path(arguments[0]).name
        detail = finished.stderr.strip() or finished.stdout.strip()
        raise RuntimeError(f"{name} exited with {finished.returncode}: {detail}")
    return finished
