"""Engine setup for SQLite and PostgreSQL, and the one way to run a write transaction."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import random
import time
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from caja.core import metrics
from caja.core.errors import Contended, Unavailable

__all__ = ["MAX_WRITE_ATTEMPTS", "Database", "async_url"]

T = TypeVar("T")
log = logging.getLogger("caja.db")

MAX_WRITE_ATTEMPTS = 8
# SQLite: the commit that finds this many pages in the write-ahead log copies them back
# into the database (in its thread, off the event loop). Between two checkpoints a page
# changed many times is copied once, so a longer log costs fewer writes in all.
SQLITE_PAGE_SIZE = int(os.environ.get("CAJA_SQLITE_PAGE_SIZE", "1024"))
WAL_AUTOCHECKPOINT_PAGES = int(os.environ.get("CAJA_SQLITE_CHECKPOINT_PAGES", "10000"))
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


def _sqlstate(error: DBAPIError) -> str | None:
    original: Any = error.orig
    for candidate in (original, getattr(original, "__cause__", None)):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(code, str):
            return code
    return None


class Database:
    """An async engine for reads, and the one way to write: :meth:`write`.

    A write is a plain function of a connection, run in one transaction and retried a
    bounded number of times when the database reports a conflict that changed nothing
    (lock timeouts, deadlocks, serialization failures, racing inserts). A failure of the
    commit itself is never retried here: it becomes :class:`~caja.core.errors.Unavailable`,
    and the client's idempotency key makes its own retry safe.

    On PostgreSQL the function runs on the async engine (``AsyncConnection.run_sync``):
    each statement awaits its round trip and the event loop goes on meanwhile. On SQLite,
    which lives in the process, it runs at once on a blocking connection of its own,
    under the one writer lock, and only the durable commit (an fsync) is awaited in a
    thread.
    """

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        options: dict[str, Any] = {"echo": echo}
        if not self.is_sqlite:
            options.update(pool_size=pool_size, max_overflow=2 * pool_size, pool_timeout=30)
        self.engine: AsyncEngine = create_async_engine(async_url(url), **options)
        # SQLite only: the writing connection, and the writer lock. One writer at a time:
        # an asyncio lock within the process, and an exclusive lock on a file beside the
        # database across processes (``caja serve --workers``, the ``caja`` commands).
        # Waiting on these wakes at once when the writer is done, where SQLite's own busy
        # handler sleeps and polls; BEGIN IMMEDIATE and the busy timeout still guard
        # against writers that take neither.
        self.writer: Engine | None = None
        self._write_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._lock_path = _lock_path(url) if self.is_sqlite else None
        self._lock_file: int | None = None
        if self.is_sqlite:
            self.writer = create_engine(url, echo=echo, connect_args={"check_same_thread": False})
            _configure_sqlite(self.engine.sync_engine, begin="BEGIN")
            _configure_sqlite(self.writer, begin="BEGIN IMMEDIATE")

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.writer is not None:
            self.writer.dispose()
        if self._lock_file is not None:
            os.close(self._lock_file)
            self._lock_file = None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads; its transaction is rolled back on exit."""
        async with self.engine.connect() as connection:
            yield connection

    async def write(
        self,
        work: Callable[[Connection], T],
        *,
        committed: Callable[[Connection], bool] | None = None,
    ) -> T:
        """Run ``work`` in one transaction and commit it, retrying bounded conflicts.

        ``committed`` tells, on a fresh connection, whether the transaction of the last
        run of ``work`` is in the database: when the answer to a COMMIT is lost, it
        decides between returning the result and raising :class:`Unavailable`.
        """
        for attempt in range(MAX_WRITE_ATTEMPTS):
            try:
                if self.writer is not None:
                    return await self._write_sqlite(work, attempt, self.writer)
                return await self._write_async(work, attempt)
            except _Conflict:
                await asyncio.sleep(_pause(attempt))
        raise Unavailable()

    async def _write_async(self, work: Callable[[Connection], T], attempt: int) -> T:
        async with self.engine.connect() as connection:
            try:
                await connection.begin()
                result = await connection.run_sync(work)
            except DBAPIError as error:
                await connection.rollback()
                raise self._conflict(error, attempt) from error
            committing = time.perf_counter()
            try:
                await connection.commit()
            except Exception as error:
                # The driver connection's state is unknown now: drop it, which rolls back
                # whatever it still holds, rather than pool it.
                await connection.invalidate()
                raise _commit_failed(error) from error
            metrics.observe_commit(time.perf_counter() - committing)
            return result

    async def _write_sqlite(
        self, work: Callable[[Connection], T], attempt: int, writer: Engine
    ) -> T:
        async with self._sqlite_writer():
            with writer.connect() as connection:
                try:
                    connection.begin()
                    result = work(connection)
                except DBAPIError as error:
                    connection.rollback()
                    raise self._conflict(error, attempt) from error
                committing = time.perf_counter()
                try:
                    await asyncio.to_thread(connection.commit)
                except Exception as error:
                    connection.invalidate()
                    raise _commit_failed(error) from error
                metrics.observe_commit(time.perf_counter() - committing)
                return result

    @asynccontextmanager
    async def _sqlite_writer(self) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        lock = self._write_locks.get(loop)
        if lock is None:
            lock = self._write_locks[loop] = asyncio.Lock()
        async with lock:
            if self._lock_path is None:
                yield
                return
            if self._lock_file is None:
                self._lock_file = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                # Another process is writing: wait for it without holding up the loop.
                await asyncio.to_thread(fcntl.flock, self._lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    def _conflict(self, error: DBAPIError, attempt: int) -> Exception:
        """What to raise for ``error`` (its transaction rolled back): a conflict to run
        again, :class:`Unavailable` after the last attempt, or the error itself."""
        if not self._is_retryable(error):
            return error
        if attempt == MAX_WRITE_ATTEMPTS - 1:
            log.warning("write gave up after %d conflicts: %s", attempt + 1, error)
            metrics.count_write_failure("conflicts")
            return Contended()
        metrics.count_retry()
        return _Conflict()

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


class _Conflict(Exception):
    """A write that changed nothing and may succeed if run again."""


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
            # Takes effect on a new, empty database only.
            f"PRAGMA page_size={SQLITE_PAGE_SIZE}",
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=FULL",
            "PRAGMA busy_timeout=10000",
            "PRAGMA foreign_keys=ON",
            f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}",
        ):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql(begin)
