"""PostgreSQL's pooled connections: checked before use only after a second idle, and a
write whose connection turns out dead runs once more on a new one (caja.db.pool).

The pool's connections are ended from outside (``pg_terminate_backend``), as a restarted
server, a proxy's idle timeout or an operator would end them.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from caja.db.engine import Database
from caja.db.pool import IDLE_BEFORE_CHECK
from tests.faults.common import SHORT, ledger_pair, migrated, serving
from tests.helpers import Caja, transfer_body

pytestmark = pytest.mark.anyio
_names = itertools.count()


@pytest.fixture
async def caja(postgres_url: str) -> AsyncIterator[Caja]:
    url = await migrated(postgres_url, f"caja_pooled_{next(_names)}")
    async with serving(Database(url, settings=SHORT)) as served:
        yield served


async def _end_connections(postgres_url: str, database: Database) -> int:
    """End every session on caja's database; how many there were."""
    name = database.engine.url.database
    admin = await asyncpg.connect(postgres_url)
    try:
        ended = await admin.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
    finally:
        await admin.close()
    await asyncio.sleep(0.05)  # the ends reach the sockets
    return len(ended)


def _count_checks(database: Database, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    dialect: Any = database.engine.sync_engine.dialect
    checks: list[int] = []
    ping = dialect.do_ping

    def counted(connection: Any) -> bool:
        checks.append(1)
        return bool(ping(connection))

    monkeypatch.setattr(dialect, "do_ping", counted)
    return checks


async def test_a_connection_used_a_moment_ago_is_not_checked_and_an_idle_one_is(
    caja: Caja, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, origin, destination = await ledger_pair(caja)
    checks = _count_checks(caja.database, monkeypatch)

    for _ in range(3):
        response = await caja.transfer(key, transfer_body(origin, destination, "1.00"))
        assert response.status_code == 201, response.text
    assert checks == []

    await asyncio.sleep(IDLE_BEFORE_CHECK + 0.2)
    response = await caja.transfer(key, transfer_body(origin, destination, "1.00"))
    assert response.status_code == 201, response.text
    assert len(checks) >= 1
    assert await caja.balance(key, origin) == "96.00"


async def test_a_write_on_a_connection_ended_a_moment_ago_runs_again_on_a_new_one(
    caja: Caja, postgres_url: str
) -> None:
    key, origin, destination = await ledger_pair(caja)
    assert (await caja.transfer(key, transfer_body(origin, destination, "1.00"))).status_code == 201

    assert await _end_connections(postgres_url, caja.database) >= 1
    body = transfer_body(origin, destination, "2.00")
    response = await caja.transfer(key, body)

    assert response.status_code == 201, response.text
    again = await caja.transfer(key, body)
    assert (again.status_code, again.json()["token"]) == (208, response.json()["token"])
    assert await caja.balance(key, origin) == "97.00"


async def test_a_read_after_the_connections_ended_while_idle_is_answered(
    caja: Caja, postgres_url: str
) -> None:
    key, origin, destination = await ledger_pair(caja)
    assert (await caja.transfer(key, transfer_body(origin, destination, "5.00"))).status_code == 201

    assert await _end_connections(postgres_url, caja.database) >= 1
    await asyncio.sleep(IDLE_BEFORE_CHECK + 0.2)

    assert await caja.balance(key, origin) == "95.00"
    assert (await caja.transfer(key, transfer_body(origin, destination, "5.00"))).status_code == 201
    assert await caja.balance(key, origin) == "90.00"
