"""A throwaway, durable PostgreSQL cluster for one bench run, and its databases.

The cluster keeps PostgreSQL's durable defaults (fsync, synchronous_commit and
full_page_writes on), so the figures are those of a server that loses no committed
transfer. It listens on 127.0.0.1 only, on a free port, with its socket and data in a
temporary directory. PostgreSQL refuses to run as root, so as root it runs as the
``postgres`` user.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bench import programs
from bench.cpu import parse_stat
from bench.programs import free_port
from caja.db.engine import async_url
from caja.db.postgres_programs import pg_binary as find_pg_binary

__all__ = [
    "create_database",
    "database_url",
    "is_loopback",
    "pg_binary",
    "postmaster_pid",
    "throwaway_cluster",
]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "max_connections": "300",
    "shared_buffers": "256MB",
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    # Usual settings for a write-heavy server: checkpoints (and their full-page writes)
    # every few minutes, not every few seconds of a run. pgbench runs on them too.
    "max_wal_size": "4GB",
    "checkpoint_timeout": "15min",
    # A new cluster has no used WAL files to recycle: every 16 MB of WAL it creates a
    # file, and by default fills it with zeroes first, which held one commit (and, behind
    # the journal's lock, every other) for 50 to 100 ms every few seconds of a run. Off,
    # the file is created at its size without being filled; commits stay durable.
    "wal_init_zero": "off",
}
COMMAND_TIMEOUT_SECONDS = 120


def pg_binary(name: str) -> str:
    """A PostgreSQL program from PATH, else from the newest Debian server package."""
    return find_pg_binary(name, hint="apt-get install postgresql, or pass --postgres-url")


def _run_as_owner(arguments: list[str]) -> None:
    """Run a server program, as ``postgres`` when we are root; raise with its output."""
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    programs.run([*prefix, *arguments], COMMAND_TIMEOUT_SECONDS)


@contextmanager
def throwaway_cluster() -> Iterator[str]:
    """Start a cluster; yield a superuser URL to its ``postgres`` database; then remove it."""
    home = Path(tempfile.mkdtemp(prefix="caja-bench-pg-"))
    data = home / "data"
    try:
        if os.geteuid() == 0:
            shutil.chown(home, "postgres", "postgres")
        initdb = [pg_binary("initdb"), "--pgdata", str(data), "--username", "postgres"]
        _run_as_owner([*initdb, "--auth", "trust", "--encoding", "UTF8", "--no-sync"])
        port = free_port()
        settings = {**SERVER_SETTINGS, "port": str(port), "unix_socket_directories": str(home)}
        with (data / "postgresql.conf").open("a") as conf:
            conf.write("\n# caja bench\n")
            conf.writelines(f"{name} = '{value}'\n" for name, value in settings.items())
        pg_ctl = [pg_binary("pg_ctl"), "--pgdata", str(data)]
        _run_as_owner([*pg_ctl, "start", "--wait", "--timeout", "60", "--log", str(home / "log")])
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            _stop(data)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _stop(data: Path) -> None:
    """Stop the cluster at once: its data is removed next, so nothing needs a checkpoint."""
    _run_as_owner([pg_binary("pg_ctl"), "stop", "--pgdata", str(data), "--mode", "immediate"])


def database_url(server_url: str, name: str) -> str:
    """``server_url`` with its database name replaced by ``name``."""
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def is_loopback(url: str) -> bool:
    return (urlsplit(url).hostname or "") in LOOPBACK_HOSTS


async def _create_database(server_url: str, name: str) -> None:
    engine = create_async_engine(async_url(server_url), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            exists = await connection.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            )
            if not exists:
                await connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()


def create_database(server_url: str, name: str) -> str:
    """Create database ``name`` on the server of ``server_url`` unless it exists; its URL."""
    asyncio.run(_create_database(server_url, name))
    return database_url(server_url, name)


async def _postmaster_pid(url: str) -> int | None:
    engine = create_async_engine(async_url(url))
    try:
        async with engine.connect() as connection:
            backend = await connection.scalar(text("SELECT pg_backend_pid()"))
            # Read while the backend lives: its parent is the postmaster.
            return parent_pid(int(backend))
    finally:
        await engine.dispose()


def parent_pid(pid: int) -> int | None:
    """The parent of PostgreSQL process ``pid`` from /proc, or None when it cannot be read
    or is not a PostgreSQL process (another pid namespace)."""
    try:
        if not Path(f"/proc/{pid}/comm").read_text().startswith("postgres"):
            return None
        return parse_stat(Path(f"/proc/{pid}/stat").read_text()).ppid
    except (OSError, ValueError, IndexError):
        return None


def postmaster_pid(url: str) -> int | None:
    """The pid of the postmaster serving ``url``: the parent of a backend of ours. None
    when that process is not visible here (a server in another container or machine)."""
    return asyncio.run(_postmaster_pid(url))
