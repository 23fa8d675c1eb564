"""Every wait on the database ends within its bound, with the fault made for real.

A PostgreSQL server frozen with SIGSTOP, a row locked from another connection, SQLite's
write lock held by another process, a disk that is full: each request gets its answer
(503 with Retry-After for a write, not ready for ``/readyz``) within its bound rather
than after the fault, nothing holds up the event loop, and once the fault ends caja
works again without a restart.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from caja.db import migrate
from caja.db.engine import Database
from tests.faults.common import SHORT, ledger_pair, migrated, serving, shortened
from tests.faults.servers import own_postgres
from tests.helpers import V1, Caja, transfer_body

pytestmark = pytest.mark.anyio
_names = itertools.count()


async def _timed(request: Awaitable[httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await request
    return response, time.monotonic() - started


def _read(caja: Caja, key: str, token: str) -> Awaitable[httpx.Response]:
    return caja.http.get(f"{V1}/account/{token}", headers={"X-Account-api-key": key})


async def _until(caja: Caja, path: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while (await caja.http.get(path)).status_code != 200:
        assert time.monotonic() < deadline, f"{path} not 200 again in time"
        await asyncio.sleep(0.2)


def _unavailable(response: httpx.Response) -> bool:
    return response.status_code == 503 and response.headers.get("Retry-After", "").isdigit()


async def _sqlite_url(directory: Path) -> str:
    url = f"sqlite:///{directory / 'caja.db'}"
    database = Database(url, settings=SHORT)
    try:
        await migrate.upgrade(database)
    finally:
        await database.dispose()
    return url


@pytest.mark.slow
async def test_a_frozen_postgresql_gets_503_and_not_ready_within_bounds_then_recovers() -> None:
    with own_postgres() as server:
        url = await migrated(server.url, "caja_frozen")
        async with serving(Database(url, settings=SHORT)) as caja:
            key, origin, destination = await ledger_pair(caja)
            server.signal(signal.SIGSTOP)
            try:
                (ready, ready_took), (write, write_took), (read, read_took) = await asyncio.gather(
                    _timed(caja.http.get("/readyz")),
                    _timed(caja.transfer(key, transfer_body(origin, destination, "1.00"))),
                    _timed(_read(caja, key, origin)),
                )
            finally:
                server.signal(signal.SIGCONT)
            assert (ready.status_code, ready_took < 2) == (503, True)
            assert (_unavailable(write), write_took < 10) == (True, True), write.text
            assert (_unavailable(read), read_took < 10) == (True, True), read.text

            await _until(caja, "/readyz", 10)
            body = transfer_body(origin, destination, "1.00")
            assert (await caja.transfer(key, body)).status_code == 201
            assert await caja.balance(key, origin) == "99.00"


@pytest.fixture
async def on_postgres(postgres_url: str) -> AsyncIterator[Caja]:
    url = await migrated(postgres_url, f"caja_bounds_{next(_names)}")
    async with serving(Database(url, settings=SHORT)) as caja:
        yield caja


async def test_a_row_locked_from_outside_gives_503_after_the_lock_bound(
    on_postgres: Caja,
) -> None:
    caja = on_postgres
    key, origin, destination = await ledger_pair(caja)
    url = caja.database.url.replace("postgresql://", "postgres://", 1)
    holder = await asyncpg.connect(url)
    try:
        locking = holder.transaction()
        await locking.start()
        await holder.execute("SELECT 1 FROM accounts WHERE token = $1 FOR UPDATE", origin)
        body = transfer_body(origin, destination, "1.00")
        response, took = await _timed(caja.transfer(key, body))
        await locking.rollback()
    finally:
        await holder.close()

    assert _unavailable(response), response.text
    # The lock bound, once: a lock timeout is not run again.
    assert SHORT.lock * 0.9 < took < SHORT.lock * 4
    assert (await caja.transfer(key, body)).status_code == 201


@contextmanager
def sqlite_write_lock(path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process (the sqlite3 program) holding the database's write lock."""
    with subprocess.Popen(
        ["sqlite3", str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as holder:
        assert holder.stdin is not None
        assert holder.stdout is not None
        try:
            holder.stdin.write("BEGIN IMMEDIATE;\nSELECT 'locked';\n")
            holder.stdin.flush()
            assert holder.stdout.readline().strip() == "locked"
            yield holder
        finally:
            holder.stdin.close()  # sqlite3 ends, and its lock with it
            try:
                holder.wait(timeout=10)
            except subprocess.TimeoutExpired:
                holder.kill()


async def test_sqlite_locked_by_another_process_leaves_health_and_reads_fast(
    tmp_path: Path,
) -> None:
    url = await _sqlite_url(tmp_path)
    # A lock bound well above what a health check or a read may take on a busy machine.
    settings = shortened(lock=3.0)
    async with serving(Database(url, settings=settings)) as caja:
        key, origin, destination = await ledger_pair(caja)
        with sqlite_write_lock(tmp_path / "caja.db"):
            body = transfer_body(origin, destination, "1.00")
            writing = asyncio.create_task(_timed(caja.transfer(key, body)))
            await asyncio.sleep(0.1)  # the write now waits for the lock
            health, health_took = await _timed(caja.http.get("/healthz"))
            read, read_took = await _timed(_read(caja, key, origin))
            write, write_took = await writing
        assert (health.status_code, health_took < 1) == (200, True)
        assert (read.status_code, read_took < 1) == (200, True)
        assert _unavailable(write), write.text
        assert settings.lock * 0.9 < write_took < settings.lock * 2
        assert (await caja.transfer(key, body)).status_code == 201


@contextmanager
def small_disk(size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on a new directory (as root); unmounted at the end."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    directory = Path(tempfile.mkdtemp(prefix="caja-small-disk-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)],
                   check=True, capture_output=True)  # fmt: skip
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False, capture_output=True)
        directory.rmdir()


def _fill(path: Path) -> None:
    """Take every free byte of the file system ``path`` is on."""
    with path.open("wb", buffering=0) as filler:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    filler.write(b"\0" * size)
            except OSError:
                continue


async def test_a_full_disk_gives_503_and_not_ready_then_recovers() -> None:
    with small_disk("8m") as directory:
        url = await _sqlite_url(directory)
        async with serving(Database(url, settings=SHORT)) as caja:
            key, origin, destination = await ledger_pair(caja)
            assert (await caja.http.get("/readyz")).status_code == 200
            filler = directory / "filler"
            await asyncio.to_thread(_fill, filler)
            await asyncio.sleep(1.1)  # readiness keeps an answer for a second

            body: dict[str, Any] = transfer_body(origin, destination, "1.00")
            write = await caja.transfer(key, body)
            ready = await caja.http.get("/readyz")
            filler.unlink()

            assert _unavailable(write), write.text
            assert ready.status_code == 503
            await _until(caja, "/readyz", 5)
            assert (await caja.transfer(key, body)).status_code == 201
            assert await caja.balance(key, origin) == "99.00"
