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
from functools import partial
from typing import Any, TypeVar, cast

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine, ExceptionContext, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from caja.config import DatabaseSettings, database_settings
from caja.core import metrics
from caja.core.errors import Contended, Unavailable
from caja.db import witness
from caja.db.pool import check_when_idle
from caja.db.readiness import Heartbeat
from caja.db.sql import rows_changed, run_beginning
from caja.db.urls import async_url

__all__ = ["MAX_WRITE_ATTEMPTS", "Database", "async_url"]

T = TypeVar("T")
log = logging.getLogger("caja.db")

MAX_WRITE_ATTEMPTS = 8
# SQLite: the commit that finds this many pages in the write-ahead log copies them back
# into the database (in its thread, off the event loop). Between two checkpoints a page
# changed many times is copied once, so a longer log costs fewer writes in all.
SQLITE_PAGE_SIZE = int(os.environ.get("CAJA_SQLITE_PAGE_SIZE", "1024"))
WAL_AUTOCHECKPOINT_PAGES = int(os.environ.get("CAJA_SQLITE_CHECKPOINT_PAGES", "10000"))
# SQLite: a transaction that changed at most this many rows (a transfer changes about
# seven) commits on the event loop: its fsync of a few pages costs the loop less than the
# hop to a worker thread and back. Larger ones commit in a thread, and the loop goes on.
SMALL_COMMIT_ROWS = 16
# PostgreSQL: serialization_failure, deadlock_detected, unique_violation (a racing insert
# of the same key: the next attempt sees the winner's row).
_RETRYABLE_SQLSTATES = {"40001", "40P01", "23505"}
# lock_not_available: a row stayed locked for the whole lock timeout. Running the write
# again would wait as long again, so it is answered at once.
_LOCK_TIMEOUT = "55P03"
# read_only_sql_transaction: the connection is to a standby (or a demoted primary).
_READ_ONLY = "25006"
# A session of ours whose COMMIT lost its answer, still running: ended (waiting up to the
# given milliseconds) before asking whether its transaction is in the database.
_END_LOST_SESSION = text(
    "SELECT pg_terminate_backend(pid, :wait_ms) FROM pg_stat_activity "
    "WHERE pid = :pid AND query ILIKE 'commit%'"
)
_PROBE_PAUSE = 0.25


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
    (deadlocks, serialization failures, racing inserts); a row locked past the lock
    timeout raises :class:`~caja.core.errors.Contended` at once. A commit whose answer is
    lost (the connection broke, or no answer within the commit timeout) is resolved, not
    guessed: see :meth:`write`.

    On PostgreSQL the function runs on the async engine (``AsyncConnection.run_sync``):
    each statement awaits its round trip and the event loop goes on meanwhile. On SQLite,
    which lives in the process, it runs at once on a blocking connection of its own,
    under the one writer lock, and only the durable commit (an fsync; on the loop for a
    transaction of at most ``SMALL_COMMIT_ROWS`` rows) and a wait for another process's
    write lock are awaited in a thread.

    Every wait is bounded (``caja.config.database_settings``): pooled connections idle
    for a while are checked before use (:mod:`caja.db.pool`), and a connection found dead
    or read-only is dropped with the pool's older ones, the write run once more on a new
    one, so after a failover the next connection goes to whichever host is primary now.
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        echo: bool = False,
        settings: DatabaseSettings | None = None,
    ) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.settings = settings if settings is not None else database_settings()
        options: dict[str, Any] = {"echo": echo}
        if not self.is_sqlite:
            options.update(
                pool_size=pool_size,
                max_overflow=2 * pool_size,
                pool_timeout=self.settings.pool,
                # The connection used last is taken first: under light load the same
                # few stay busy and skip the idle check (caja.db.pool).
                pool_use_lifo=True,
                connect_args=_postgres_connect_args(self.settings),
            )
        self.engine: AsyncEngine = create_async_engine(async_url(url), **options)
        self._lock_path = _lock_path(url) if self.is_sqlite else None
        self.heartbeat = Heartbeat(
            partial(self.write, witnessed=False), self.settings.ready, _database_file(url)
        )
        # SQLite only: the writing connection, and the writer lock. One writer at a time:
        # an asyncio lock within the process, and an exclusive lock on a file beside the
        # database across processes (``caja serve --workers``, the ``caja`` commands).
        # Waiting on these wakes at once when the writer is done, where SQLite's own busy
        # handler sleeps and polls; BEGIN IMMEDIATE, waited for in a thread, still guards
        # against writers that take neither.
        self.writer: Engine | None = None
        self._write_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._lock_file: int | None = None
        if self.is_sqlite:
            self.writer = create_engine(url, echo=echo, connect_args={"check_same_thread": False})
            _configure_sqlite(self.engine.sync_engine, begin="BEGIN", busy_ms=10_000)
            _configure_sqlite(self.writer, begin="BEGIN IMMEDIATE", busy_ms=0)
        else:
            event.listen(self.engine.sync_engine, "handle_error", _drop_read_only)
            check_when_idle(self.engine.sync_engine)

    async def dispose(self) -> None:
        await self.heartbeat.close()
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
        witnessed: bool = True,
    ) -> T:
        """Run ``work`` in one transaction and commit it, retrying bounded conflicts.

        ``committed`` tells, on a fresh connection, whether the transaction of the last
        run of ``work`` is in the database: when the answer to a COMMIT is lost, caja
        reconnects (for up to the reconnect bound, to whichever host is primary now) and
        asks it. True returns the result as if the commit had answered; False, or no
        answer within the bound, raise :class:`Unavailable`. Without ``committed``, a
        transaction that changed something leaves a witness to ask about
        (:mod:`caja.db.witness`), unless ``witnessed`` is False (for callers that try
        again anyway and need no answer: then a lost commit raises :class:`Unavailable`).
        """
        for attempt in range(MAX_WRITE_ATTEMPTS):
            try:
                witnessing = witnessed and committed is None
                if self.writer is not None:
                    return await self._write_sqlite(
                        work, attempt, self.writer, witnessed=witnessing
                    )
                return await self._write_async(work, attempt, witnessed=witnessing)
            except _Conflict:
                await asyncio.sleep(_pause(attempt))
            except _LostCommit as lost:
                probe = committed or witness.probe(lost.witness)
                if probe is not None and await self._found(probe, lost.server_pid):
                    log.warning("commit lost its answer and is in the database: %s", lost)
                    return cast(T, lost.result)
                raise _commit_failed(lost) from lost
        raise Unavailable()

    async def _write_async(
        self, work: Callable[[Connection], T], attempt: int, *, witnessed: bool
    ) -> T:
        """``work`` in a transaction; ``witnessed``, it leaves a witness when it changed
        something (:mod:`caja.db.witness`)."""
        async with self.engine.connect() as connection:
            token = None
            try:
                await connection.begin()
                result = await connection.run_sync(work)
                if witnessed:
                    token = await witness.leave(connection)
            except DBAPIError as error:
                await connection.rollback()
                raise self._conflict(error, attempt) from error
            server_pid = await _server_pid(connection)
            committing = time.perf_counter()
            try:
                async with asyncio.timeout(self.settings.commit):
                    await connection.commit()
            except Exception as error:
                # The driver connection's state is unknown now: drop it, which rolls back
                # whatever it still holds, rather than pool it.
                await connection.invalidate()
                raise _LostCommit(result, server_pid, token) from error
            metrics.observe_commit(time.perf_counter() - committing)
            return result

    async def _write_sqlite(
        self, work: Callable[[Connection], T], attempt: int, writer: Engine, *, witnessed: bool
    ) -> T:
        async with self._sqlite_writer():
            with writer.connect() as connection:
                token = None
                try:
                    await self._begin_sqlite(connection)
                    changed = rows_changed(connection)
                    result = work(connection)
                    if witnessed:
                        token = witness.leave_sqlite(connection, changed)
                except DBAPIError as error:
                    connection.rollback()
                    raise self._conflict(error, attempt) from error
                committing = time.perf_counter()
                try:
                    await _commit_sqlite(connection, changed)
                except Exception as error:
                    connection.invalidate()
                    raise _LostCommit(result, None, token) from error
                metrics.observe_commit(time.perf_counter() - committing)
                return result

    async def _begin_sqlite(self, connection: Connection) -> None:
        """BEGIN IMMEDIATE at once when no other process writes, else waited for in a
        thread (the loop goes on) up to the lock bound, then :class:`Contended`."""
        try:
            connection.begin()
            return
        except DBAPIError as error:
            if not _sqlite_busy(error):
                raise
            connection.rollback()
        try:
            await asyncio.to_thread(_begin_waiting, connection, self.settings.lock)
        except DBAPIError as error:
            if not _sqlite_busy(error):
                raise
            connection.rollback()
            log.warning("another process held SQLite's write lock past the bound: %s", error)
            metrics.count_write_failure("locked")
            raise Contended() from error

    async def _found(self, committed: Callable[[Connection], bool], server_pid: int | None) -> bool:
        """Whether the lost commit is in the database, asked of whichever host is primary
        within the reconnect bound; False when none answered in time."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.reconnect
        while True:
            try:
                async with asyncio.timeout(max(deadline - loop.time(), 0.01)):
                    return await self._ask(committed, server_pid)
            except Exception as error:
                log.warning("cannot learn yet whether a lost commit is in: %s", error)
            if loop.time() + _PROBE_PAUSE >= deadline:
                return False
            await asyncio.sleep(_PROBE_PAUSE)

    async def _ask(self, committed: Callable[[Connection], bool], server_pid: int | None) -> bool:
        async with self.engine.connect() as connection:
            if server_pid is not None:
                # Its commit may still be under way (waiting for a synchronous standby):
                # end it first, so that the answer below is final.
                wait_ms = int(self.settings.commit * 1000)
                await connection.execute(_END_LOST_SESSION, {"pid": server_pid, "wait_ms": wait_ms})
            return await connection.run_sync(committed)

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
        again, :class:`Contended` after the last attempt or for a lock timeout, or the
        error itself."""
        if not self.is_sqlite and _sqlstate(error) == _LOCK_TIMEOUT:
            log.warning("a row stayed locked past the lock timeout: %s", error)
            metrics.count_write_failure("locked")
            return Contended()
        if error.connection_invalidated and attempt == 0:
            # A pooled connection found dead (or on a read-only server) before COMMIT:
            # nothing was written. Once more, on a new connection (caja.db.pool).
            metrics.count_retry()
            return _Conflict()
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
            return isinstance(error, IntegrityError) or _sqlite_busy(error)
        return _sqlstate(error) in _RETRYABLE_SQLSTATES

    async def ping(self) -> None:
        async with self.read() as connection:
            await connection.execute(text("SELECT 1"))

    async def ready(self) -> bool:
        """Whether the database takes a write now, answered within the ready bound."""
        return await self.heartbeat.ready()


class _Conflict(Exception):
    """A write that changed nothing and may succeed if run again."""


class _LostCommit(Exception):
    """A COMMIT whose answer never came: the transaction may or may not be in."""

    def __init__(self, result: object, server_pid: int | None, witness: str | None = None) -> None:
        super().__init__("the answer to COMMIT was lost")
        self.result = result
        self.server_pid = server_pid
        self.witness = witness


async def _server_pid(connection: AsyncConnection) -> int | None:
    """The PostgreSQL backend's process id of ``connection`` (no round trip)."""
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    get_server_pid = getattr(driver, "get_server_pid", None)
    return int(get_server_pid()) if get_server_pid is not None else None


def _postgres_connect_args(settings: DatabaseSettings) -> dict[str, Any]:
    """asyncpg's bounds (connect, each command) and the server's own, per session."""
    return {
        "timeout": settings.connect,
        # Client side: a frozen server never answers, so the server's own timeouts never
        # fire; past this the query is given up and the connection dropped.
        "command_timeout": settings.statement + 1,
        "server_settings": {
            "statement_timeout": str(int(settings.statement * 1000)),
            "lock_timeout": str(int(settings.lock * 1000)),
            "idle_in_transaction_session_timeout": str(int(settings.idle_in_transaction * 1000)),
            # caja's statements find rows by key or by range: one plan fits every
            # parameter, made once per connection rather than at each execution (a third
            # of a millisecond of PostgreSQL's CPU per batch of transfers).
            "plan_cache_mode": "force_generic_plan",
        },
    }


def _drop_read_only(context: ExceptionContext) -> None:
    """A connection that finds itself on a read-only server is dropped, with the pool's
    other connections made then, like a broken one: the next goes to the primary."""
    error = context.sqlalchemy_exception
    if isinstance(error, DBAPIError) and _sqlstate(error) == _READ_ONLY:
        context.is_disconnect = True


async def _commit_sqlite(connection: Connection, changed_before: int) -> None:
    """COMMIT on the loop when the transaction changed few rows since the connection had
    changed ``changed_before``, else in a worker thread (``SMALL_COMMIT_ROWS``)."""
    if rows_changed(connection) - changed_before <= SMALL_COMMIT_ROWS:
        connection.commit()
    else:
        await asyncio.to_thread(connection.commit)


def _sqlite_busy(error: DBAPIError) -> bool:
    text_of_error = str(error.orig).lower()
    return "locked" in text_of_error or "busy" in text_of_error


def _begin_waiting(connection: Connection, seconds: float) -> None:
    """BEGIN with SQLite's busy handler waiting up to ``seconds`` (run in a thread)."""
    driver: Any = connection.connection.driver_connection
    driver.execute(f"PRAGMA busy_timeout={int(seconds * 1000)}")
    try:
        connection.begin()
    finally:
        driver.execute("PRAGMA busy_timeout=0")


def _pause(attempt: int) -> float:
    """Seconds to wait before running a conflicted write again."""
    return random.uniform(0, 0.002 * 2**attempt)


def _commit_failed(error: Exception) -> Unavailable:
    log.warning("commit failed: %s", error.__cause__ or error)
    metrics.count_write_failure("commit")
    return Unavailable()


def _database_file(url: str) -> str | None:
    """The file of a SQLite database (none for an in-memory one, or for PostgreSQL)."""
    if not url.startswith("sqlite"):
        return None
    path = make_url(url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return path


def _lock_path(url: str) -> str | None:
    """The lock file of a SQLite database file (none for an in-memory database)."""
    path = _database_file(url)
    return None if path is None else f"{path}-writer.lock"


def _configure_sqlite(engine: Engine, *, begin: str, busy_ms: int) -> None:
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
            f"PRAGMA busy_timeout={busy_ms}",
            "PRAGMA foreign_keys=ON",
            f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}",
        ):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        run_beginning(connection, begin)
