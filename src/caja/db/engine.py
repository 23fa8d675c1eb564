"""Engine setup for SQLite and PostgreSQL, and the one way to run a write transaction."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from caja.core.errors import Unavailable

__all__ = ["MAX_WRITE_ATTEMPTS", "Database", "async_url"]

T = TypeVar("T")
log = logging.getLogger("caja.db")

MAX_WRITE_ATTEMPTS = 8
# PostgreSQL: serialization_failure, deadlock_detected, unique_violation (a racing insert
# of the same key: the next attempt sees the winner's row), lock_not_available.
_RETRYABLE_SQLSTATES = {"40001", "40P01", "23505", "55P03"}


def async_url(url: str) -> str:
    """Map the documented URL forms to their async drivers."""
    if url.startswith("sqlite:"):
        return "sqlite+aiosqlite:" + url.removeprefix("sqlite:")
    for prefix in ("postgresql:", "postgres:"):
        if url.startswith(prefix):
            return "postgresql+asyncpg:" + url.removeprefix(prefix)
    return url


def _sqlstate(error: DBAPIError) -> str | None:
    original: Any = error.orig
    for candidate in (original, getattr(original, "__cause__", None)):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(code, str):
            return code
    return None


class Database:
    """An async engine plus the write discipline every surface relies on.

    Writes go through :meth:`write`, which runs a unit of work in one transaction and
    retries it a bounded number of times when the database reports a conflict that
    changed nothing (lock timeouts, deadlocks, serialization failures, racing inserts).
    A failure of the commit itself is never retried here: it becomes
    :class:`~caja.core.errors.Unavailable`, and the client's idempotency key makes its
    own retry safe.
    """

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = async_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        options: dict[str, Any] = {"echo": echo}
        if not self.is_sqlite:
            options.update(pool_size=pool_size, max_overflow=2 * pool_size, pool_timeout=30)
        self.engine: AsyncEngine = create_async_engine(self.url, **options)
        # One SQLite writer at a time per process: waiting here is cheaper than spinning on
        # SQLITE_BUSY. Other processes are kept out by BEGIN IMMEDIATE and busy_timeout.
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        if self.is_sqlite:
            _configure_sqlite(self.engine)

    async def dispose(self) -> None:
        await self.engine.dispose()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads; its transaction is rolled back on exit."""
        async with self.engine.connect() as connection:
            yield connection

    @asynccontextmanager
    async def _write_connection(self) -> AsyncIterator[AsyncConnection]:
        if self._write_lock is None:
            async with self.engine.connect() as connection:
                yield connection
            return
        async with self._write_lock, self.engine.connect() as connection:
            await connection.execution_options(caja_write=True)
            yield connection

    async def write(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``work`` in one transaction and commit it, retrying bounded conflicts."""
        for attempt in range(MAX_WRITE_ATTEMPTS):
            async with self._write_connection() as connection:
                try:
                    await connection.begin()
                    result = await work(connection)
                except DBAPIError as error:
                    await connection.rollback()
                    if not self._is_retryable(error):
                        raise
                    if attempt == MAX_WRITE_ATTEMPTS - 1:
                        log.warning("write gave up after %d conflicts: %s", attempt + 1, error)
                        raise Unavailable() from error
                else:
                    try:
                        await connection.commit()
                    except Exception as error:
                        # The driver connection's state is unknown now: drop it, which
                        # rolls back whatever it still holds, rather than pool it.
                        await connection.invalidate()
                        log.warning("commit failed: %s", error)
                        raise Unavailable() from error
                    return result
            await asyncio.sleep(random.uniform(0, 0.002 * 2**attempt))
        raise Unavailable()

    def _is_retryable(self, error: DBAPIError) -> bool:
        if self.is_sqlite:
            text_of_error = str(error.orig).lower()
            return (
                isinstance(error, IntegrityError)
                or "locked" in text_of_error
                or ("busy" in text_of_error)
            )
        return _sqlstate(error) in _RETRYABLE_SQLSTATES

    async def ping(self) -> None:
        async with self.read() as connection:
            await connection.execute(text("SELECT 1"))


def _configure_sqlite(engine: AsyncEngine) -> None:
    """WAL, durable commits, a busy timeout, and explicit BEGINs under our control."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=FULL",
            "PRAGMA busy_timeout=10000",
            "PRAGMA foreign_keys=ON",
        ):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        writing = connection.get_execution_options().get("caja_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")
