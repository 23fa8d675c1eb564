"""A commit whose answer is lost is resolved by asking the database, never guessed.

A real TCP proxy between caja and a real PostgreSQL cuts the connection that carries a
batch's COMMIT: after the server got it (the transfer is in; the client gets 201), or
before (nothing is in; 503 with Retry-After, and the retry with the same token is 201).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select

from caja.db.engine import Database
from caja.ledger.tables import transfers
from tests.faults.common import SHORT, ledger_pair, migrated, serving
from tests.faults.proxy import CommitCutter, Cut
from tests.helpers import V1, Caja, account_body, transfer_body

pytestmark = pytest.mark.anyio
_names = itertools.count()


@pytest.fixture
async def cut(postgres_url: str) -> AsyncIterator[tuple[Caja, CommitCutter]]:
    url = await migrated(postgres_url, f"caja_lost_commit_{next(_names)}")
    host_port = url.split("@", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    proxy = CommitCutter(host, int(port))
    proxy_port = await proxy.start()
    proxied = url.replace(host_port, f"127.0.0.1:{proxy_port}")
    try:
        async with serving(Database(proxied, settings=SHORT)) as caja:
            yield caja, proxy
    finally:
        await proxy.close()


async def _stored(database: Database, token: str) -> int:
    async with database.read() as connection:
        found = select(func.count()).where(transfers.c.idempotency_key == token)
        return int((await connection.execute(found)).scalar_one())


async def test_a_commit_that_reached_the_database_is_answered_201(
    cut: tuple[Caja, CommitCutter],
) -> None:
    caja, proxy = cut
    key, origin, destination = await ledger_pair(caja)
    body = transfer_body(origin, destination, "10.00")

    proxy.armed = "after"
    response = await caja.transfer(key, body)

    assert proxy.cuts == 1
    assert response.status_code == 201, response.text
    assert await _stored(caja.database, body["unique_transfer_token"]) == 1
    again = await caja.transfer(key, body)
    assert again.status_code in (201, 208)
    assert again.json()["token"] == response.json()["token"]
    assert await _stored(caja.database, body["unique_transfer_token"]) == 1
    assert await caja.balance(key, origin) == "90.00"


async def test_a_commit_that_never_arrived_is_503_and_the_retry_201(
    cut: tuple[Caja, CommitCutter],
) -> None:
    caja, proxy = cut
    key, origin, destination = await ledger_pair(caja)
    body = transfer_body(origin, destination, "10.00")

    proxy.armed = "before"
    response = await caja.transfer(key, body)

    assert proxy.cuts == 1
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"].isdigit()
    assert await _stored(caja.database, body["unique_transfer_token"]) == 0
    retried = await caja.transfer(key, body)
    assert retried.status_code == 201, retried.text
    assert await _stored(caja.database, body["unique_transfer_token"]) == 1
    assert await caja.balance(key, origin) == "90.00"


# Writes outside the batches carry no token of their own to look up: the witness each
# leaves (caja.db.witness) tells whether the lost commit is in.

MONITORS = "/api/events/v1/monitors"


async def _monitors(caja: Caja, key: str) -> list[dict[str, object]]:
    listed = await caja.http.get(MONITORS, headers={"X-Account-api-key": key})
    assert listed.status_code == 200, listed.text
    found: list[dict[str, object]] = listed.json()["monitors"]
    return found


async def _monitor_cut(
    cut: tuple[Caja, CommitCutter], when: Cut
) -> tuple[Caja, str, httpx.Response]:
    """A monitor added with its COMMIT cut ``when``: the client key and the answer."""
    caja, proxy = cut
    key, origin, _destination = await ledger_pair(caja)
    proxy.armed = when
    response = await caja.http.post(
        MONITORS,
        json={"account_token": origin, "below": "50.00"},
        headers={"X-Account-api-key": key},
    )
    assert proxy.cuts == 1
    return caja, key, response


async def test_a_monitor_whose_commit_reached_the_database_is_answered_201_once(
    cut: tuple[Caja, CommitCutter],
) -> None:
    caja, key, response = await _monitor_cut(cut, "after")

    assert response.status_code == 201, response.text
    assert [m["monitor_id"] for m in await _monitors(caja, key)] == [response.json()["monitor_id"]]


async def test_a_monitor_whose_commit_never_arrived_is_503_and_nothing(
    cut: tuple[Caja, CommitCutter],
) -> None:
    caja, key, response = await _monitor_cut(cut, "before")

    assert response.status_code == 503, response.text
    assert response.json()["code"] == "TemporarilyUnavailable"
    assert await _monitors(caja, key) == []


async def test_an_account_whose_commit_reached_the_database_is_answered_201(
    cut: tuple[Caja, CommitCutter],
) -> None:
    caja, proxy = cut
    key = await caja.client_key("ledger:admin")

    proxy.armed = "after"
    response = await caja.http.post(
        f"{V1}/account", json=account_body(), headers={"X-Account-api-key": key}
    )

    assert proxy.cuts == 1
    assert response.status_code == 201, response.text
    token = response.json()["token"]
    found = await caja.http.get(f"{V1}/account/{token}", headers={"X-Account-api-key": key})
    assert found.status_code == 200, found.text
