"""caja finds the primary itself: a multi-host URL, a killed server, a standby promoted.

Two real PostgreSQL servers of the test's own. A read-only server (the setting
``default_transaction_read_only``, which asyncpg's ``target_session_attrs=read-write``
checks as it checks a standby) and a port where nothing listens come first in the URL:
writes go to the writable one. When it is killed, ``/readyz`` says not ready and writes
get 503 with Retry-After, within their bounds; when the other is made writable (the
failover), or the killed one starts again, caja writes again without a restart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import asyncpg
import pytest

from caja.db import migrate
from caja.db.engine import Database
from tests.faults.common import SHORT, ledger_pair, serving
from tests.faults.servers import PostgresServer, own_postgres
from tests.helpers import Caja, transfer_body
from tests.postgres import free_port

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.fixture
def two_servers() -> Iterator[tuple[PostgresServer, PostgresServer]]:
    with own_postgres() as first, own_postgres() as second:
        yield first, second


async def _migrate(server: PostgresServer) -> None:
    database = Database(server.url, settings=SHORT)
    try:
        await migrate.upgrade(database)
    finally:
        await database.dispose()


async def _read_only(server: PostgresServer, on: bool) -> None:
    """Make ``server`` refuse writes (or take them again), as a standby (or a promoted one)."""
    connection = await asyncpg.connect(server.url)
    try:
        await connection.execute(
            f"ALTER SYSTEM SET default_transaction_read_only = {'on' if on else 'off'}"
        )
        await connection.execute("SELECT pg_reload_conf()")
    finally:
        await connection.close()


async def _transfers(server: PostgresServer) -> int:
    connection = await asyncpg.connect(server.url)
    try:
        return int(await connection.fetchval("SELECT count(*) FROM transfers"))
    finally:
        await connection.close()


async def _timed_transfer(caja: Caja, key: str, body: dict[str, str]) -> tuple[int, float, str]:
    started = time.monotonic()
    response = await caja.transfer(key, body)
    return response.status_code, time.monotonic() - started, response.headers.get("Retry-After", "")


async def _ready(caja: Caja) -> tuple[int, float]:
    started = time.monotonic()
    response = await caja.http.get("/readyz")
    return response.status_code, time.monotonic() - started


async def _until_ready(caja: Caja, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while (await _ready(caja))[0] != 200:
        assert time.monotonic() < deadline, "not ready again in time"
        await asyncio.sleep(0.2)


async def test_writes_find_the_primary_and_follow_it_after_a_failover(
    two_servers: tuple[PostgresServer, PostgresServer],
) -> None:
    primary, standby = two_servers
    await _migrate(primary)
    await _migrate(standby)
    await _read_only(standby, True)
    hosts = f"127.0.0.1:{free_port()},127.0.0.1:{standby.port},127.0.0.1:{primary.port}"
    url = f"postgresql://postgres@{hosts}/postgres?target_session_attrs=read-write"

    async with serving(Database(url, settings=SHORT)) as caja:
        key, origin, destination = await ledger_pair(caja)
        assert (
            await caja.transfer(key, transfer_body(origin, destination, "1.00"))
        ).status_code == 201
        assert (await _transfers(primary), await _transfers(standby)) == (2, 0)  # funding too
        assert (await _ready(caja))[0] == 200

        primary.kill()
        await asyncio.sleep(1.1)  # readiness keeps an answer for a second
        status, took = await _ready(caja)
        assert (status, took < 2) == (503, True)
        status, took, retry_after = await _timed_transfer(
            caja, key, transfer_body(origin, destination, "1.00")
        )
        assert (status, took < 8, retry_after.isdigit()) == (503, True, True)

        await _read_only(standby, False)  # promoted
        await _until_ready(caja, 5)
        # The accounts live on the killed primary only: the promoted server has the schema
        # but not that client; what matters is that writes reach it at all.
        other = await ledger_pair(caja)
        assert (await caja.transfer(other[0], transfer_body(*other[1:], "1.00"))).status_code == 201
        assert await _transfers(standby) == 2


async def test_a_killed_server_started_again_takes_writes_without_a_restart() -> None:
    with own_postgres() as server:
        await _migrate(server)
        async with serving(Database(server.url, settings=SHORT)) as caja:
            key, origin, destination = await ledger_pair(caja)
            first = transfer_body(origin, destination, "9.00")
            assert (await caja.transfer(key, first)).status_code == 201

            server.kill()
            await asyncio.sleep(1.1)
            status, took = await _ready(caja)
            assert (status, took < 2) == (503, True)
            body = transfer_body(origin, destination, "1.00")
            status, took, retry_after = await _timed_transfer(caja, key, body)
            assert (status, took < 8, retry_after.isdigit()) == (503, True, True)

            server.start()
            await _until_ready(caja, 5)
            assert (await caja.transfer(key, body)).status_code == 201
            assert await caja.balance(key, origin) == "90.00"


async def test_a_demoted_primary_is_left_for_the_promoted_one_without_a_restart(
    two_servers: tuple[PostgresServer, PostgresServer],
) -> None:
    first, second = two_servers
    await _migrate(first)
    await _migrate(second)
    await _read_only(second, True)
    hosts = f"127.0.0.1:{first.port},127.0.0.1:{second.port}"
    url = f"postgresql://postgres@{hosts}/postgres?target_session_attrs=read-write"

    async with serving(Database(url, settings=SHORT)) as caja:
        key, origin, destination = await ledger_pair(caja)
        assert (
            await caja.transfer(key, transfer_body(origin, destination, "1.00"))
        ).status_code == 201

        # A switchover: the pool's connections to the first server stay open, but it now
        # refuses writes; the second takes them. The first write on an old connection is
        # refused, which drops the pool's old connections: the next go to the second.
        await _read_only(first, True)
        await _read_only(second, False)
        await asyncio.sleep(1.1)  # readiness keeps an answer for a second
        await _until_ready(caja, 3)
        other = await ledger_pair(caja)
        assert (await caja.transfer(other[0], transfer_body(*other[1:], "1.00"))).status_code == 201
        assert (await _transfers(first), await _transfers(second)) == (2, 2)
