"""Engine setup for SQLite and PostgreSQL, and the one way to run a write transaction."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import random
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from caja.core import metrics
from caja.core.errors import Unavailable

__all__ = ["MAX_WRITE_ATTEMPTS", "Database", "async_url", "sync_url"]

T = TypeVar("T")
log = logging.getLogger("caja.db")

MAX_WRITE_ATTEMPTS = 8
# PostgreSQL: serialization_failure, deadlock_detected, unique_violation (a racing insert
# of the same key: the next attempt sees the winner's row), lock_not_available.
_RETRYABLE_SQLSTATES = {"40001", "40P01", "23505", "55P03"}


def async_url(url: str) -> str:
    """The documented URL forms with the async drivers, for reads."""
    if url.startswith("sqlite:"):
        return "sqlite+aiosqlite:" + url.removeprefix("sqlite:")
    for prefix in ("postgresql:", "postgres:"):
        if url.startswith(prefix):
            return "postgresql+asyncpg:" + url.removeprefix(prefix)
    return url


def sync_url(url: str) -> str:
    """The documented URL forms with the blocking drivers, for writes."""
    for prefix in ("postgresql:", "postgres:"):
        if url.startswith(prefix):
            return "postgresql+psycopg:" + url.removeprefix(prefix)
    return url


def _sqlstate(error: DBAPIError) -> str | None:
    original: Any = error.orig
    for candidate in (original, getattr(original, "__cause__", None)):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(code, str):
            return code
    return None


class Database:
    """Reads on an async engine; writes, as blocking code, on an engine of their own.

    A write is a function of a connection, run by :meth:`write_blocking` in one
    transaction (from a worker thread, or from :meth:`write` in the default executor),
    and retried a bounded number of times when the database reports a conflict that
    changed nothing (lock timeouts, deadlocks, serialization failures, racing inserts).
    A failure of the commit itself is never retried here: it becomes
    :class:`~caja.core.errors.Unavailable`, and the client's idempotency key makes its
    own retry safe. Writing from blocking code keeps a transaction's statements off the
    request loop: each costs a round trip to the database, not a turn of a busy loop.
    """

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        options: dict[str, Any] = {"echo": echo}
        writer_options: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            writer_options["connect_args"] = {"check_same_thread": False}
        else:
            options.update(pool_size=pool_size, max_overflow=2 * pool_size, pool_timeout=30)
            writer_options.update(pool_size=pool_size, max_overflow=pool_size, pool_timeout=30)
        self.engine: AsyncEngine = create_async_engine(async_url(url), **options)
        self.writer: Engine = create_engine(sync_url(url), **writer_options)
        # One SQLite writer at a time: a thread lock within the process, and an exclusive
        # lock on a file beside the database across processes (``caja serve --workers``,
        # the ``caja`` commands). Waiting on these wakes at once when the writer is done,
        # where SQLite's own busy handler sleeps and polls. BEGIN IMMEDIATE and the busy
        # timeout still guard against writers that take neither lock.
        self._write_lock = threading.Lock() if self.is_sqlite else None
        self._lock_path = _lock_path(url) if self.is_sqlite else None
        self._lock_file: int | None = None
        if self.is_sqlite:
            _configure_sqlite(self.engine.sync_engine, begin="BEGIN")
            _configure_sqlite(self.writer, begin="BEGIN IMMEDIATE")

    async def dispose(self) -> None:
        await self.engine.dispose()
        self.writer.dispose()
        if self._write_lock is not None:
            with self._write_lock:
                if self._lock_file is not None:
                    os.close(self._lock_file)
                    self._lock_file = None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads; its transaction is rolled back on exit."""
        async with self.engine.connect() as connection:
            yield connection

    async def write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one transaction from a worker thread (see :meth:`write_blocking`)."""
        return await asyncio.to_thread(self.write_blocking, work)

    def write_blocking(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one transaction and commit it, retrying bounded conflicts."""
        for attempt in range(MAX_WRITE_ATTEMPTS):
            with self._writing(), self.writer.connect() as connection:
                try:
                    connection.begin()
                    result = work(connection)
                except DBAPIError as error:
                    connection.rollback()
                    self._conflict(error, attempt)
                else:
                    committing = time.perf_counter()
                    try:
                        connection.commit()
                    except Exception as error:
                        # The driver connection's state is unknown now: drop it, which
                        # rolls back whatever it still holds, rather than pool it.
                        connection.invalidate()
                        raise _commit_failed(error) from error
                    metrics.observe_commit(time.perf_counter() - committing)
                    return result
            time.sleep(_pause(attempt))
        raise Unavailable()

    async def write_async(self, work: Callable[[Connection], T]) -> T:
        """:meth:`write_blocking` on the async engine: ``work`` runs through
        ``AsyncConnection.run_sync``, so each statement awaits its answer instead of
        blocking the event loop. For PostgreSQL, whose round trips are worth awaiting;
        a SQLite write holds the one writer lock and is better done at once."""
        for attempt in range(MAX_WRITE_ATTEMPTS):
            async with self.engine.connect() as connection:
                try:
                    await connection.begin()
                    result = await connection.run_sync(work)
                except DBAPIError as error:
                    await connection.rollback()
                    self._conflict(error, attempt)
                else:
                    committing = time.perf_counter()
                    try:
                        await connection.commit()
                    except Exception as error:
                        await connection.invalidate()
                        raise _commit_failed(error) from error
                    metrics.observe_commit(time.perf_counter() - committing)
                    return result
            await asyncio.sleep(_pause(attempt))
        raise Unavailable()

    def _conflict(self, error: DBAPIError, attempt: int) -> None:
        """Return when ``error`` (its transaction rolled back) may be retried; else raise."""
        if not self._is_retryable(error):
            raise error
        if attempt == MAX_WRITE_ATTEMPTS - 1:
            log.warning("write gave up after %d conflicts: %s", attempt + 1, error)
            metrics.count_write_failure("conflicts")
            raise Unavailable() from error
        metrics.count_retry()

    @contextmanager
    def _writing(self) -> Iterator[None]:
        if self._write_lock is None:
            yield
            return
        with self._write_lock:
            if self._lock_path is None:
                yield
                return
            if self._lock_file is None:
                self._lock_file = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._lock_file, fcntl.LOCK_UN)

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


def _pause(attempt: int) -> float:
    """Seconds to wait before running a conflicted write again."""
    return random.uniform(0, 0.002 * 2**attempt)


def _commit_failed(error: Exception) -> Unavailable:
    log.warning("commit failed: %s", error)
    metrics.count_write_failure("commit")
    return Unavailable()


def _lock_path(url: str) -> str | None:
    """The lock file of a SQLite database file (none for an in-memory database)."""
    path = make_url(url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return f"{path}-writer.lock"


def _configure_sqlite(engine: Engine, *, begin: str) -> None:
    """WAL, durable commits, a busy timeout, and explicit BEGINs under our control."""

    @event.listens_for(engine, "connect")
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

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql(begin)
