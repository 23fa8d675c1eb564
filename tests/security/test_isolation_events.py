"""Tenant isolation on the events surface: client B naming client A's endpoints, events,
deliveries, monitors and accounts is answered exactly as if they did not exist, and
nothing changes."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from caja.clients.service import authenticate
from caja.core.tokens import new_token
from caja.ledger import events
from tests.helpers import Caja
from tests.security.tenants import answer, covers, every_row

pytestmark = pytest.mark.anyio

EV = "/api/events/v1"
ENDPOINT = f"{EV}/endpoints/{{endpoint_id}}"
EVENT = f"{EV}/events/{{event_id}}"
DELIVERY = f"{EV}/deliveries/{{delivery_id}}"
MONITOR = f"{EV}/monitors/{{monitor_id}}"


def key_of(key: str) -> dict[str, str]:
    return {"X-Account-api-key": key}


@dataclass(frozen=True)
class Tenants:
    """Client A with an endpoint, an event sent to it, the delivery, an account watched by
    a monitor; client B with an account, its own event and endpoint."""

    a_key: str
    endpoint: str
    event: str
    delivery: int
    account: str
    monitor: str
    b_key: str
    b_account: str
    b_event: str


async def _event(caja: Caja, key: str) -> str:
    principal = await authenticate(caja.database, key)
    assert principal is not None
    made = [events.NewEvent("topup.updated", principal.client_id, {"token": "tp-1"})]
    await caja.database.write(lambda c: events.append(c, made))
    async with caja.database.read() as connection:
        rows = await connection.run_sync(events.events_of_client, principal.client_id)
    return rows[-1].token


@pytest.fixture
async def tenants(http: httpx.AsyncClient, caja: Caja, monkeypatch: pytest.MonkeyPatch) -> Tenants:
    monkeypatch.setenv("CAJA_WEBHOOKS_ALLOW_PRIVATE", "1")
    a_key = await caja.client_key("ledger:admin", name="alpha")
    b_key = await caja.client_key("ledger:admin", name="beta")
    endpoint = await http.post(
        f"{EV}/endpoints", json={"url": "http://127.0.0.1:9/a"}, headers=key_of(a_key)
    )
    await http.post(f"{EV}/endpoints", json={"url": "http://127.0.0.1:9/b"}, headers=key_of(b_key))
    event = await _event(caja, a_key)
    await http.post(f"{EV}/events/{event}/replay", headers=key_of(a_key))
    delivery = (await http.get(f"{EV}/deliveries", headers=key_of(a_key))).json()["deliveries"][0]
    account = await caja.account(a_key)
    monitor = await http.post(
        f"{EV}/monitors",
        json={"account_token": account["token"], "below": "5.00"},
        headers=key_of(a_key),
    )
    assert monitor.status_code == 201, monitor.text
    return Tenants(
        a_key,
        endpoint.json()["endpoint_id"],
        event,
        delivery["delivery_id"],
        account["token"],
        monitor.json()["monitor_id"],
        b_key,
        (await caja.account(b_key))["token"],
        await _event(caja, b_key),
    )


@covers("GET", ENDPOINT, "endpoint_id")
@covers("DELETE", ENDPOINT, "endpoint_id")
@covers("POST", f"{ENDPOINT}/rotate", "endpoint_id")
@covers("POST", f"{ENDPOINT}/enable", "endpoint_id")
@pytest.mark.parametrize(
    ("method", "tail"), [("GET", ""), ("DELETE", ""), ("POST", "/rotate"), ("POST", "/enable")]
)
async def test_another_clients_endpoint_answers_as_a_missing_one(
    http: httpx.AsyncClient, caja: Caja, tenants: Tenants, method: str, tail: str
) -> None:
    theirs, missing = tenants.endpoint, "we_" + new_token("we").removeprefix("we-")
    before = await every_row(caja.database)

    taken = await http.request(
        method, f"{EV}/endpoints/{theirs}{tail}", headers=key_of(tenants.b_key)
    )
    absent = await http.request(
        method, f"{EV}/endpoints/{missing}{tail}", headers=key_of(tenants.b_key)
    )

    assert taken.status_code == 404, taken.text
    assert answer(taken, theirs) == answer(absent, missing)
    assert await every_row(caja.database) == before
    listed = await http.get(f"{EV}/endpoints", headers=key_of(tenants.b_key))
    assert theirs not in listed.text


@covers("GET", EVENT, "event_id")
@covers("POST", f"{EVENT}/replay", "event_id")
@pytest.mark.parametrize(("method", "tail"), [("GET", ""), ("POST", "/replay")])
async def test_another_clients_event_answers_as_a_missing_one(
    http: httpx.AsyncClient, caja: Caja, tenants: Tenants, method: str, tail: str
) -> None:
    theirs, missing = tenants.event, "evt_" + new_token("evt").removeprefix("evt-")
    before = await every_row(caja.database)

    taken = await http.request(method, f"{EV}/events/{theirs}{tail}", headers=key_of(tenants.b_key))
    absent = await http.request(
        method, f"{EV}/events/{missing}{tail}", headers=key_of(tenants.b_key)
    )

    assert taken.status_code == 404, taken.text
    assert taken.json()["code"] == "EventNotFound"
    assert answer(taken, theirs) == answer(absent, missing)
    assert await every_row(caja.database) == before


@covers("GET", f"{EV}/events", "after")
async def test_paging_after_another_clients_event_answers_as_after_a_missing_one(
    http: httpx.AsyncClient, tenants: Tenants
) -> None:
    theirs, missing = tenants.event, "evt_" + new_token("evt").removeprefix("evt-")

    mine = await http.get(f"{EV}/events", headers=key_of(tenants.b_key))
    taken = await http.get(f"{EV}/events", params={"after": theirs}, headers=key_of(tenants.b_key))
    absent = await http.get(
        f"{EV}/events", params={"after": missing}, headers=key_of(tenants.b_key)
    )

    assert [e["id"] for e in mine.json()["events"]] == [tenants.b_event]
    assert taken.status_code == 422, taken.text
    assert answer(taken, theirs) == answer(absent, missing)


@covers("GET", DELIVERY, "delivery_id")
async def test_another_clients_delivery_answers_as_a_missing_one(
    http: httpx.AsyncClient, tenants: Tenants
) -> None:
    theirs, missing = str(tenants.delivery), str(tenants.delivery + 1000)

    taken = await http.get(f"{EV}/deliveries/{theirs}", headers=key_of(tenants.b_key))
    absent = await http.get(f"{EV}/deliveries/{missing}", headers=key_of(tenants.b_key))

    assert taken.status_code == 404, taken.text
    assert answer(taken, theirs) == answer(absent, missing)


@covers("GET", f"{EV}/deliveries", "endpoint_id")
async def test_deliveries_of_another_clients_endpoint_list_as_a_missing_ones(
    http: httpx.AsyncClient, tenants: Tenants
) -> None:
    theirs, missing = tenants.endpoint, "we_" + new_token("we").removeprefix("we-")
    path = f"{EV}/deliveries"

    every = await http.get(path, headers=key_of(tenants.b_key))
    taken = await http.get(path, params={"endpoint_id": theirs}, headers=key_of(tenants.b_key))
    absent = await http.get(path, params={"endpoint_id": missing}, headers=key_of(tenants.b_key))

    assert every.json()["deliveries"] == []
    assert taken.status_code == 200
    assert answer(taken, theirs) == answer(absent, missing)


@covers("DELETE", MONITOR, "monitor_id")
async def test_another_clients_monitor_answers_as_a_missing_one(
    http: httpx.AsyncClient, caja: Caja, tenants: Tenants
) -> None:
    theirs, missing = tenants.monitor, "mon_" + new_token("mon").removeprefix("mon-")
    before = await every_row(caja.database)

    taken = await http.delete(f"{EV}/monitors/{theirs}", headers=key_of(tenants.b_key))
    absent = await http.delete(f"{EV}/monitors/{missing}", headers=key_of(tenants.b_key))

    assert taken.status_code == 404, taken.text
    assert answer(taken, theirs) == answer(absent, missing)
    assert await every_row(caja.database) == before


@covers("POST", f"{EV}/monitors", "account_token")
@covers("GET", f"{EV}/monitors", "account_token")
async def test_a_monitor_on_another_clients_account_answers_as_on_a_missing_one(
    http: httpx.AsyncClient, caja: Caja, tenants: Tenants
) -> None:
    theirs, missing = tenants.account, new_token("acc")
    before = await every_row(caja.database)

    taken = await http.post(
        f"{EV}/monitors",
        json={"account_token": theirs, "below": "1"},
        headers=key_of(tenants.b_key),
    )
    absent = await http.post(
        f"{EV}/monitors",
        json={"account_token": missing, "below": "1"},
        headers=key_of(tenants.b_key),
    )
    assert taken.status_code == 404, taken.text
    assert answer(taken, theirs) == answer(absent, missing)
    assert await every_row(caja.database) == before

    listed = await http.get(
        f"{EV}/monitors", params={"account_token": theirs}, headers=key_of(tenants.b_key)
    )
    nothing = await http.get(
        f"{EV}/monitors", params={"account_token": missing}, headers=key_of(tenants.b_key)
    )
    assert listed.json() == {"monitors": []}
    assert answer(listed, theirs) == answer(nothing, missing)
    every = await http.get(f"{EV}/monitors", headers=key_of(tenants.b_key))
    assert tenants.monitor not in every.text
