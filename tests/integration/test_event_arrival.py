"""Each event type, made by a real movement on its surface, arrives at a receiver that
verifies its signature with the ``standardwebhooks`` library, as the events list shows it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import orjson
import pytest

from caja.clients.service import authenticate, create_client
from caja.db.engine import Database
from caja.deposits import service as deposits
from caja.ledger import events
from caja.ledger.events import EVENT_TYPES, EventRow
from caja.ops.funding import fund
from caja.webhooks import runner, service
from tests.gateway import GATEWAY, merchant, package_body, topup_body
from tests.helpers import Caja, transfer_body
from tests.integration.test_event_producers import (  # noqa: F401 (the app fixture)
    COOP,
    V0,
    WALLET,
    _client_id,
    _deposit_account,
    _incoming,
    _person,
    _wallet_client_id,
    _wallet_send,
    app,
)
from tests.integration.test_webhook_runner import SETTINGS
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.anyio


async def _subscribe(database: Database, client_id: int, receiver: Receiver) -> None:
    def add(connection: Any) -> service.Created:
        return service.add_endpoint(connection, client_id, receiver.url, allow_private=True)

    created = await database.write(add)
    receiver.secrets.append(created.secret)


async def _ledger_movements(caja: Caja, receiver: Receiver) -> int:
    """A v1 transfer that takes a monitored balance below its threshold, and a legacy one."""
    key = await caja.client_key("ledger:admin")
    principal = await authenticate(caja.database, key)
    assert principal is not None
    await _subscribe(caja.database, principal.client_id, receiver)
    origin, destination = await caja.account(key), await caja.account(key)
    await caja.fund(origin["token"], "1500.00")
    monitor = await caja.http.post(
        "/api/events/v1/monitors",
        json={"account_token": origin["token"], "below": "1000.00"},
        headers={"X-Account-api-key": key},
    )
    assert monitor.status_code == 201, monitor.text
    moved = await caja.transfer(key, transfer_body(origin["token"], destination["token"], "600.00"))
    assert moved.status_code == 201, moved.text

    legacy = []
    for n in range(2):
        made = await caja.http.post(
            f"{V0}/account",
            json={
                "phone_number": f"+5731190000{n:02d}",
                "owner_legal_id_type": "CC",
                "owner_legal_id_number": f"3100000{n}",
                "owner_full_name": "Legacy Owner",
                "owner_email": "legacy@example.com",
            },
            headers={"Authorization": key},
        )
        assert made.status_code == 201, made.text
        legacy.append(made.json())
    await caja.fund(legacy[0]["token"], "50.00")
    sent = await caja.http.post(
        f"{V0}/my/transfer",
        json={
            "destination_phone_number": legacy[1]["phone_number"],
            "amount": "20.00",
            "description": "lunch",
            "unique_transfer_token": "arrival-legacy",
        },
        headers={"Authorization": legacy[0]["api_key"]},
    )
    assert sent.status_code == 201, sent.text
    return principal.client_id


async def _purchases(caja: Caja, http: httpx.AsyncClient, receiver: Receiver) -> int:
    who = await merchant(caja.database, funds=50_000)
    client_id = await _client_id(caja.database, who.client_id)
    await _subscribe(caja.database, client_id, receiver)
    for path, body in (("topup_account", topup_body()), ("package_buy", package_body())):
        bought = await http.post(f"{GATEWAY}/{path}", json=body, headers=who.headers)
        assert bought.status_code in (200, 201), bought.text
    return client_id


async def _deposits(caja: Caja, http: httpx.AsyncClient, receiver: Receiver) -> int:

    created = await create_client(caja.database, "coop arrival", ["deposit"])
    headers = {"Authorization": f"Token {created.api_key}"}
    client_id = await _client_id(caja.database, created.client_id)
    await _subscribe(caja.database, client_id, receiver)
    origin = await _deposit_account(http, headers)
    destination = await _deposit_account(http, headers)
    await deposits.receive(caja.database, await _incoming(caja.database, origin, "500.00"))
    body = {
        "origin_account": origin,
        "destination_account": destination,
        "unique_transfer_token": "utt-arrival",
        "amount": "100.00",
        "description": "Test transaction",
        "channel": "wallet",
    }
    posted = await http.post(f"{COOP}/transactions/create", json=body, headers=headers)
    assert posted.status_code == 201, posted.text
    token = {"idempotency_token": "utt-arrival"}
    reverted = await http.post(f"{COOP}/transactions/revert", json=token, headers=headers)
    assert reverted.status_code == 200, reverted.text
    return client_id


async def _wallet(caja: Caja, http: httpx.AsyncClient, receiver: Receiver) -> int:
    # The wallet's events belong to the client named "caja wallet": made beforehand, as
    # docs/events.md says, it can be subscribed before the first payment.
    made = await create_client(caja.database, "caja wallet", ["ledger"])
    client_id = await _client_id(caja.database, made.client_id)
    await _subscribe(caja.database, client_id, receiver)
    ana, luis = await _person(http), await _person(http)
    await fund(caja.database, ana["account_id"], "100.00", asset="COP")
    sent = await http.post(
        f"{WALLET}/profile/send-to-profile",
        json=_wallet_send(ana, luis, "30.00"),
        headers=ana["headers"],
    )
    assert sent.status_code == 200, sent.text
    assert await _wallet_client_id(caja.database) == client_id
    return client_id


async def _all_events(database: Database, client_ids: list[int]) -> list[EventRow]:
    async with database.read() as connection:
        found = [
            await connection.run_sync(events.events_of_client, client_id, limit=500)
            for client_id in client_ids
        ]
    return [row for rows in found for row in rows]


async def _deliver_all(database: Database, receiver: Receiver, count: int) -> None:
    deadline = time.monotonic() + 30
    while len(receiver.requests) < count:
        assert time.monotonic() < deadline, receiver.ids()
        await runner.run_once(database, SETTINGS)
        await asyncio.sleep(0.02)


async def test_every_event_type_arrives_signed(caja: Caja, http: httpx.AsyncClient) -> None:
    with Receiver() as receiver:
        clients = [
            await _ledger_movements(caja, receiver),
            await _purchases(caja, http, receiver),
            await _deposits(caja, http, receiver),
            await _wallet(caja, http, receiver),
        ]
        made = await _all_events(caja.database, clients)
        await _deliver_all(caja.database, receiver, len(made))
        arrived = list(receiver.requests)

    assert {row.type for row in made} == set(EVENT_TYPES)
    by_id = {received.webhook_id: received for received in arrived}
    assert sorted(by_id) == sorted(row.token for row in made)
    for row in made:
        received = by_id[row.token]
        assert len(received.verified_with) == 1, row.type  # its endpoint's secret
        assert received.body == row.body()
        assert orjson.loads(received.body)["type"] == row.type
