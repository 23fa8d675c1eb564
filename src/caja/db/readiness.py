"""Whether the database takes a write now: a real write, bounded in time, shared by callers.

A read that answers says little: a read-only standby, a full disk or a server that
cannot commit all answer ``SELECT 1``. So readiness writes: it bumps the one row of the
``heartbeat`` table (migration 0009) in a transaction of its own. One such write is in
flight at a time and its answer is kept for a second, so a flood of probes costs one
write a second; a caller waits for it at most the ready bound, and a write that takes
longer (a frozen server) answers "not ready" while it runs on, itself bounded by the
database's timeouts.

A SQLite file's own free pages and the write-ahead log's reused space can take the
heartbeat's one-row write on a disk that has no room left for a transfer; so, for a
database file, readiness also asks that its file system have ``MIN_FREE_BYTES`` free.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection

__all__ = ["MIN_FREE_BYTES", "Heartbeat"]

log = logging.getLogger("caja.db")

# How long an answer is kept.
FRESH_SECONDS = 1.0
# The free space a database file's file system needs to be ready: room for a few batches
# of transfers and their write-ahead log.
MIN_FREE_BYTES = 4 * 1024 * 1024
_BEAT = text("UPDATE heartbeat SET beats = beats + 1 WHERE id = 1")

Write = Callable[[Callable[[Connection], int]], Awaitable[int]]


def _beat(connection: Connection) -> int:
    return connection.execute(_BEAT).rowcount


class Heartbeat:
    """The cached answer of a bounded write probe."""

    def __init__(self, write: Write, bound: float, file: str | None = None) -> None:
        self._write = write
        self._bound = bound
        self._folder = None if file is None else Path(file).resolve().parent
        self._probe: asyncio.Task[bool] | None = None
        self._answer = False
        self._answered_at = float("-inf")

    async def ready(self) -> bool:
        loop = asyncio.get_running_loop()
        if loop.time() - self._answered_at < FRESH_SECONDS:
            return self._answer
        probe = self._probe
        if probe is None or probe.done() or probe.get_loop() is not loop:
            probe = self._probe = loop.create_task(self._run())
        try:
            return await asyncio.wait_for(asyncio.shield(probe), self._bound)
        except TimeoutError:
            log.warning("the database took no write within %.1f s", self._bound)
            return False

    def _disk_full(self) -> bool:
        if self._folder is None:
            return False
        free = shutil.disk_usage(self._folder).free
        if free < MIN_FREE_BYTES:
            log.warning("the database's disk has %d bytes free", free)
            return True
        return False

    async def _run(self) -> bool:
        try:
            answer = not await asyncio.to_thread(self._disk_full)
            answer = answer and await self._write(_beat) == 1
        except Exception as error:
            log.warning("the database takes no write: %s", error)
            answer = False
        self._answer = answer
        self._answered_at = asyncio.get_running_loop().time()
        return answer

    async def close(self) -> None:
        """Stop a probe still running (the database is being closed)."""
        probe, loop = self._probe, asyncio.get_running_loop()
        if probe is not None and not probe.done() and probe.get_loop() is loop:
            probe.cancel()
            with contextlib.suppress(BaseException):
                await probe
