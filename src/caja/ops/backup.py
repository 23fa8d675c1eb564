"""Online backups of a caja database into one file, and restores of them into a new one.

A backup is taken while the server runs and sees one moment of the database. On SQLite
it is a copy made through SQLite's online backup API: a database file of its own (its
write-ahead log folded in), which ``sqlite3`` opens as it is. On PostgreSQL it is a
``pg_dump --format=custom`` archive.

A restore never merges into a ledger: it goes only into a database that holds none (no
tables, or the empty schema ``caja db upgrade`` makes), which it replaces whole. It
checks the file before it touches the target, brings the restored schema to this
version, and runs the ledger's verification on the result.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from alembic.util.exc import CommandError
from sqlalchemy import column, create_engine, func, inspect, select, table, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.pool import NullPool

from caja.core.errors import CajaError
from caja.db import migrate
from caja.db.engine import Database
from caja.db.postgres_programs import pg_binary
from caja.ledger.verify import Report
from caja.ops.checks import verify

__all__ = ["BackupError", "Restored", "Written", "backup", "restore"]

SQLITE = "SQLite"
POSTGRESQL = "PostgreSQL"
_MAGIC = {SQLITE: b"SQLite format 3\x00", POSTGRESQL: b"PGDMP"}
# How long SQLite waits for a lock another connection holds, in seconds.
_BUSY_SECONDS = 10
# Tables a caja database always has: a backup without them is not one.
_REQUIRED_TABLES = frozenset({"alembic_version", "transfers", "accounts", "entries"})
# Rows that only using caja puts in: a target with any of them holds a ledger. The
# migrations' own rows (system accounts, the catalog, the banks) do not count. Backups
# work on a whole database, so they name its tables rather than use their owners' models.
_LEDGER_ROWS = (
    ("clients", select(func.count()).select_from(table("clients"))),
    ("owners", select(func.count()).select_from(table("owners"))),
    ("accounts", select(func.count()).where(table("accounts", column("kind")).c.kind != "system")),
    ("transfers", select(func.count()).select_from(table("transfers"))),
    ("entries", select(func.count()).select_from(table("entries"))),
    ("wallet_profiles", select(func.count()).select_from(table("wallet_profiles"))),
    ("deposit_holders", select(func.count()).select_from(table("deposit_holders"))),
)
# Connection settings of a URL's query that the PostgreSQL programs take from these
# variables (``ssl`` is asyncpg's name for ``sslmode``).
_QUERY_VARIABLES = {
    "host": "PGHOST",
    "port": "PGPORT",
    "user": "PGUSER",
    "password": "PGPASSWORD",
    "sslmode": "PGSSLMODE",
    "ssl": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "application_name": "PGAPPNAME",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
}
_TOC_TABLE = re.compile(r"^\d+; \d+ \d+ TABLE \S+ (\S+) ", re.MULTILINE)


class BackupError(CajaError):
    """A backup or restore that cannot be done; nothing was written."""

    code = "BackupError"


@dataclass(frozen=True, slots=True)
class Written:
    """A backup file: where, how big, which database it came from, and its transfers."""

    path: str
    size: int
    database: str
    transfers: int


@dataclass(frozen=True, slots=True)
class Restored:
    """A restore: the file, the database it went into, and the ledger's verification."""

    path: str
    target: str
    report: Report


async def backup(
    url: str, path: str, progress: Callable[[int, int], None] | None = None
) -> Written:
    """Write a backup of the database at ``url`` to ``path``, a file that must not exist;
    ``progress(done, total)`` is told when the copy is done (it is one step)."""
    kind = _kind(url)
    _check_new_file(path)
    if kind == SQLITE:
        count = await asyncio.to_thread(_sqlite_backup, _sqlite_path(url), path)
    else:
        count = await _postgres_backup(url, path)
    if progress is not None:
        progress(1, 1)
    return Written(path, os.path.getsize(path), kind, count)


async def restore(
    path: str, url: str, progress: Callable[[int, int], None] | None = None
) -> Restored:
    """Restore the backup at ``path`` into the database at ``url``, which holds no ledger.

    Every check runs before the target is touched: the file must be a complete caja
    backup of the target's kind, and the target must hold no ledger. Then the schema is
    brought to this version (as ``caja serve`` would) and the ledger verified, each of its
    checks told to ``progress(done, total)``.
    """
    kind = _kind(url)
    _check_kind_of_file(path, kind)
    target = _shown(url)
    if kind == SQLITE:
        target_path = _sqlite_path(url)
        await asyncio.to_thread(_check_sqlite_backup, path)
        if os.path.exists(target_path) and os.path.getsize(target_path) > 0:
            await _check_target(url, None)
        await asyncio.to_thread(_sqlite_restore, path, target_path)
    else:
        tables = await _postgres_archive_tables(path)
        await _check_target(url, tables)
        await _program(
            "pg_restore",
            # --clean drops only the tables of the archive, which the target may have
            # (empty) from `caja db upgrade`; in one transaction nothing is left half
            # done.
            "--clean",
            "--if-exists",
            "--single-transaction",
            "--exit-on-error",
            "--no-owner",
            "--no-privileges",
            _CONNECT_FROM_ENVIRONMENT,
            path,
            environment=_libpq_environment(url),
        )
    database = Database(url)
    try:
        await migrate.upgrade(database)
        async with database.read() as connection:
            report = await verify(connection, progress)
    except CommandError as error:
        message = f"{target}: restored, but its schema is not this caja's: {error}"
        raise BackupError(message) from None
    except (DBAPIError, OSError) as error:
        raise BackupError(f"{target}: restored, but it cannot be read: {_reason(error)}") from None
    finally:
        await database.dispose()
    return Restored(path, target, report)


# --- where things are --------------------------------------------------------------------


def _parse(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError:
        raise BackupError(f"not a database URL: {url!r}") from None


def _kind(url: str) -> str:
    backend = _parse(url).drivername.split("+", 1)[0]
    if backend == "sqlite":
        return SQLITE
    if backend in {"postgresql", "postgres"}:
        return POSTGRESQL
    raise BackupError(f"cannot back up or restore a {backend} database")


def _shown(url: str) -> str:
    """The URL without its password, to print."""
    return _parse(url).render_as_string(hide_password=True)


def _sqlite_path(url: str) -> str:
    path = _parse(url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        raise BackupError(f"{url}: only a SQLite database in a file can be backed up or restored")
    return path


def _reason(error: Exception) -> str:
    """The driver's own message of a database error (SQLAlchemy's adds a long wrapper)."""
    return str(error.orig if isinstance(error, DBAPIError) else error)


def _check_new_file(path: str) -> None:
    if os.path.lexists(path):
        raise BackupError(f"{path} exists already: write each backup to a new file")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise BackupError(f"{directory}: no such directory")


def _check_kind_of_file(path: str, kind: str) -> None:
    """The file is a backup of ``kind`` by its first bytes; anything else is refused."""
    try:
        with open(path, "rb") as handle:
            start = handle.read(len(_MAGIC[SQLITE]))
    except OSError as error:
        raise BackupError(f"{path}: {error.strerror}") from None
    for found, magic in _MAGIC.items():
        if start.startswith(magic):
            if found != kind:
                raise BackupError(
                    f"{path} is a backup of a {found} database: it cannot be restored into {kind}"
                )
            return
    raise BackupError(f"{path} is not a caja backup")


# --- SQLite ------------------------------------------------------------------------------


def _sqlite_backup(source: str, path: str) -> int:
    """Copy ``source`` into ``path`` in one step of the backup API: one read transaction,
    so one moment of the database while writers go on (WAL). The copy is written beside
    ``path`` and renamed into place only once complete and on disk."""
    if not os.path.isfile(source):
        raise BackupError(f"{source}: no such database file")
    handle, partial = tempfile.mkstemp(prefix=".caja-backup-", dir=os.path.dirname(path) or ".")
    os.close(handle)
    try:
        with (
            closing(sqlite3.connect(source, timeout=_BUSY_SECONDS)) as reading,
            closing(sqlite3.connect(partial)) as writing,
        ):
            _require_caja_tables(reading, source)
            reading.backup(writing)
            # The copy keeps the source's WAL mode; folding its log back in makes the
            # backup one file that needs nothing beside it.
            writing.execute("PRAGMA journal_mode=DELETE")
            count = writing.execute("SELECT count(*) FROM transfers").fetchone()[0]
        _sync(partial)
        os.replace(partial, path)
        _sync(os.path.dirname(os.path.abspath(path)))
    except sqlite3.Error as error:
        raise BackupError(f"{source}: {error}") from None
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return int(count)


def _require_caja_tables(connection: sqlite3.Connection, name: str) -> None:
    rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    missing = _REQUIRED_TABLES - {row[0] for row in rows}
    if missing:
        raise BackupError(f"{name} is not a caja database (no {', '.join(sorted(missing))})")


def _open_read_only(path: str) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{quote(os.path.abspath(path))}?mode=ro", uri=True)


def _open_query_only(path: str) -> sqlite3.Connection:
    """A connection that cannot write. Unlike a read-only one it may remove the log files
    of a WAL database when it closes, and so leaves nothing behind."""
    connection = sqlite3.connect(path, timeout=_BUSY_SECONDS)
    connection.execute("PRAGMA query_only=ON")
    return connection


def _check_sqlite_backup(path: str) -> None:
    """A whole, sound SQLite file with caja's tables; else :class:`BackupError`."""
    with open(path, "rb") as handle:
        header = handle.read(100)
    size = os.path.getsize(path)
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    # The header's page count is valid when its version matches the change counter.
    if len(header) < 100 or (header[92:96] == header[24:28] and size != pages * page_size):
        raise BackupError(
            f"{path} is truncated or damaged: {size} bytes, where its header says "
            f"{pages * page_size}"
        )
    try:
        with closing(_open_read_only(path)) as connection:
            _require_caja_tables(connection, path)
            problems = [row[0] for row in connection.execute("PRAGMA quick_check")]
    except sqlite3.Error as error:
        raise BackupError(f"{path} is not a sound caja backup: {error}") from None
    if problems != ["ok"]:
        raise BackupError(f"{path} is damaged: {'; '.join(problems[:5])}")


def _sqlite_restore(path: str, target: str) -> None:
    """Copy the backup over ``target`` (new, or holding no ledger) through the backup API,
    in one write transaction of the target."""
    directory = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(directory):
        raise BackupError(f"{directory}: no such directory")
    created = not os.path.exists(target)
    try:
        with (
            closing(_open_read_only(path)) as reading,
            closing(sqlite3.connect(target, timeout=_BUSY_SECONDS)) as writing,
        ):
            # In WAL mode SQLite refuses a copy whose page size differs from the target's;
            # in rollback mode the copy brings its own. Leaving WAL needs the file to
            # itself, which also means no server is using it.
            mode = writing.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
            if mode != "delete":
                raise BackupError(f"{target} is in use: stop every process using it first")
            reading.backup(writing)
        _sync(target)
    except sqlite3.Error as error:
        if created:
            Path(target).unlink(missing_ok=True)
        raise BackupError(f"{target}: {error}") from None


def _sync(path: str) -> None:
    """Flush a file (or a directory's entries) to disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


# --- PostgreSQL --------------------------------------------------------------------------

# The programs read every connection setting from the environment (the password too,
# which a command line would show to every user of the machine); a --dbname that holds
# a setting makes pg_restore connect at all, rather than print SQL.
_CONNECT_FROM_ENVIRONMENT = "--dbname=application_name=caja"


def _libpq_environment(url: str) -> dict[str, str]:
    """This process's environment with the URL's connection settings as ``PG*`` variables."""
    parsed = _parse(url)
    environment = dict(os.environ)
    parts = {
        "PGHOST": parsed.host,
        "PGPORT": str(parsed.port) if parsed.port else None,
        "PGUSER": parsed.username,
        "PGPASSWORD": parsed.password if isinstance(parsed.password, str) else None,
        "PGDATABASE": parsed.database,
    }
    environment.update({name: value for name, value in parts.items() if value})
    for key, value in parsed.query.items():
        variable = _QUERY_VARIABLES.get(key)
        if variable is None:
            raise BackupError(f"the URL option {key!r} is not supported by backup and restore")
        joined = value if isinstance(value, str) else ",".join(value)
        if key == "ssl":
            joined = {"true": "require", "false": "disable"}.get(joined.lower(), joined)
        environment[variable] = joined
    return environment


async def _program(name: str, *arguments: str, environment: dict[str, str]) -> str:
    """Run a PostgreSQL program; its output, or :class:`BackupError` with its errors."""
    try:
        command = [pg_binary(name), *arguments]
    except RuntimeError as error:
        raise BackupError(str(error)) from None
    done = await asyncio.to_thread(
        subprocess.run, command, env=environment, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise BackupError(f"{name} failed: {' '.join(lines[-3:]) or done.returncode}")
    return done.stdout


async def _postgres_backup(url: str, path: str) -> int:
    """pg_dump into a file beside ``path``, renamed into place once complete.

    pg_dump reads the snapshot of a transaction held open here, so the transfers counted
    here are exactly those in the file.
    """
    database = Database(url, pool_size=1)
    handle, partial = tempfile.mkstemp(prefix=".caja-backup-", dir=os.path.dirname(path) or ".")
    os.close(handle)
    try:
        async with database.engine.connect() as connection:
            await connection.execution_options(isolation_level="REPEATABLE READ")
            snapshot = await connection.scalar(text("SELECT pg_export_snapshot()"))
            await _require_tables(connection, _shown(url))
            count = await connection.scalar(select(func.count()).select_from(table("transfers")))
            await _program(
                "pg_dump",
                "--format=custom",
                f"--snapshot={snapshot}",
                f"--file={partial}",
                _CONNECT_FROM_ENVIRONMENT,
                environment=_libpq_environment(url),
            )
            await connection.rollback()
        _sync(partial)
        os.replace(partial, path)
        _sync(os.path.dirname(os.path.abspath(path)))
    except (DBAPIError, OSError) as error:
        raise BackupError(f"{_shown(url)}: {_reason(error)}") from None
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
        await database.dispose()
    return int(count or 0)


async def _require_tables(connection: AsyncConnection, name: str) -> None:
    present = set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
    missing = _REQUIRED_TABLES - present
    if missing:
        raise BackupError(f"{name} is not a caja database (no {', '.join(sorted(missing))})")


async def _postgres_archive_tables(path: str) -> set[str]:
    """The tables of a complete caja archive; :class:`BackupError` for anything else.

    ``pg_restore --list`` reads the table of contents only; reading the whole archive
    (into nothing) is what finds a file cut short.
    """
    environment = dict(os.environ)
    try:
        listing = await _program("pg_restore", "--list", path, environment=environment)
        await _program("pg_restore", f"--file={os.devnull}", path, environment=environment)
    except BackupError as error:
        raise BackupError(f"{path} is truncated or damaged: {error.message}") from None
    tables = set(_TOC_TABLE.findall(listing))
    missing = _REQUIRED_TABLES - tables
    if missing:
        raise BackupError(f"{path} is not a caja backup (no {', '.join(sorted(missing))})")
    return tables


# --- the target --------------------------------------------------------------------------


async def _check_target(url: str, archive_tables: set[str] | None) -> None:
    """Refuse a target that holds a ledger, or tables that are not caja's.

    On PostgreSQL the archive's tables replace the target's of the same name, so the
    target may have no other (they would stay beside the restored ones). A SQLite target
    is read through a connection that cannot write.
    """
    target = _shown(url)
    try:
        if archive_tables is None:
            problem = await asyncio.to_thread(_sqlite_target_problem, _sqlite_path(url))
        else:
            database = Database(url, pool_size=1)
            try:
                async with database.read() as connection:
                    problem = await connection.run_sync(
                        lambda sync: _target_problem(sync, archive_tables, "the backup lacks")
                    )
            finally:
                await database.dispose()
    except (DBAPIError, sqlite3.Error, OSError) as error:
        raise BackupError(f"{target}: {_reason(error)}") from None
    if problem:
        raise BackupError(f"{target} {problem}")


def _sqlite_target_problem(path: str) -> str | None:
    engine = create_engine("sqlite://", creator=lambda: _open_query_only(path), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return _target_problem(connection, migrate.table_names(), "are not caja's")
    finally:
        engine.dispose()


def _target_problem(connection: Connection, allowed: AbstractSet[str], why: str) -> str | None:
    """What keeps a restore out of this database, or None."""
    present = set(inspect(connection).get_table_names())
    foreign = present - allowed
    if foreign:
        return (
            f"holds tables that {why} ({', '.join(sorted(foreign))}): restore into an empty "
            "database"
        )
    held = []
    for name, query in _LEDGER_ROWS:
        if name in present:
            count = connection.execute(query).scalar_one()
            if count:
                held.append(f"{name}: {count}")
    if held:
        return (
            f"holds a ledger ({', '.join(held)}): a restore goes only into a new database, "
            "or one that `caja db upgrade` has just made"
        )
    return None
