"""``caja webhooks run``: the webhook delivery runner, in a process of its own, and how
``caja serve`` starts one beside it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from typing import Annotated

import typer

from caja.cli.common import _fail, _run
from caja.config import WebhookSettings, webhook_settings
from caja.db.engine import Database

__all__ = ["start_runner", "stop_runner", "webhooks_run"]

# After SIGTERM, how long a runner may take to finish its round before it is killed.
STOP_SECONDS = 15.0
# How the child runs the ``caja`` command with this interpreter (its sender, not itself,
# runs at a lower priority: see caja.webhooks.sender).
LAUNCH = "from caja.cli import app; app(prog_name='caja')"


def _settings() -> WebhookSettings:
    try:
        return webhook_settings()
    except ValueError as error:
        _fail(str(error), 2)


def webhooks_run(
    parent: Annotated[
        int | None,
        typer.Option(
            hidden=True, help="Stop when this process (the server that started it) is gone."
        ),
    ] = None,
) -> None:
    """Deliver the webhooks: fan events out to their endpoints and send them, until
    stopped (SIGTERM or Ctrl-C). Any number of runners may run on any hosts: they share
    the work through claimed rows."""
    from caja.webhooks.runner import run

    settings = _settings()

    def alive() -> bool:
        return parent is None or os.getppid() == parent

    async def main(database: Database) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await run(database, settings, stop=stop, alive=alive)

    _run(main)


def start_runner() -> subprocess.Popen[bytes] | None:
    """Start ``caja webhooks run`` as a child of this process (same environment, so the
    same database), unless ``CAJA_WEBHOOKS_RUNNER=off``."""
    if webhook_settings().runner == "off":
        return None
    command = [sys.executable, "-c", LAUNCH, "webhooks", "run", "--parent", str(os.getpid())]
    return subprocess.Popen(command, stdin=subprocess.DEVNULL)


def stop_runner(child: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM, then SIGKILL if it has not ended within :data:`STOP_SECONDS`."""
    if child is None or child.poll() is not None:
        return
    child.terminate()
    try:
        child.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
