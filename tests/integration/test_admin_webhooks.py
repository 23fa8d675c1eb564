"""The webhooks in the ops console's API: every client's endpoints with their state and
counts, deliveries filtered and paged, one delivery with its attempts and its event;
enable and replay, recorded in the audit trail; the overview's figures."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Connection

from caja.clients.service import authenticate
from caja.ledger import events
from caja.ops.tables import admin_audit
from caja.webhooks import service
from tests import webhook_rows
from tests.helpers import Caja

pytestmark = pytest.mark.anyio

A = "/admin/api"


async def _client(caja: Caja, name: str) -> tuple[str, int]:
    key = await caja.client_key("ledger:admin", name=name)
    principal = await authenticate(caja.database, key)
    assert principal is not None
    return key, principal.client_id


def _setup(connection: Connection, acme: int, shop: int) -> dict[str, Any]:
    """Acme: a live endpoint and one that gave up; shop: one endpoint. Each event of each
    client delivered (replayed) to its endpoints; the first delivery of the live endpoint
    failed twice then went through, the dead one's last failed for good."""
    live = service.add_endpoint(connection, acme, "http://127.0.0.1:9/live", allow_private=True)
    dead = service.add_endpoint(
        connection, acme, "http://127.0.0.1:9/dead", ["ledger.transfer.created"], allow_private=True
    )
    other = service.add_endpoint(connection, shop, "http://127.0.0.1:9/shop", allow_private=True)
    made = {"live": live.endpoint.token, "dead": dead.endpoint.token, "shop": other.endpoint.token}
    events.append(
        connection,
        [
            events.NewEvent("ledger.transfer.created", client, {"token": f"tx-{n}", "amount": 10.0})
            for client, n in ((acme, 1), (acme, 2), (acme, 3), (shop, 4))
        ],
    )
    tokens = [
        row.token
        for client in (acme, shop)
        for row in events.events_of_client(connection, client, types=["ledger.transfer.created"])
    ]
    for token in tokens:
        service.replay(connection, token)
    first_live = service.deliveries(connection, endpoint_token=made["live"], limit=500)[-1]
    webhook_rows.attempt(connection, first_live.id, 503, response="Service Unavailable")
    webhook_rows.attempt(connection, first_live.id, None, error="timed out after 10 s")
    webhook_rows.attempt(connection, first_live.id, 200, response="ok", outcome="delivered")
    last_dead = service.deliveries(connection, endpoint_token=made["dead"], limit=1)[0]
    webhook_rows.attempt(connection, last_dead.id, 500, response="boom", outcome="failed")
    webhook_rows.disable(connection, made["dead"], "no 2XX answer for 24 hours")
    return {**made, "events": tokens, "first_live": first_live.id, "last_dead": last_dead.id}


@pytest.fixture
async def admin(caja: Caja) -> dict[str, str]:
    return {"X-Admin-Key": await caja.client_key("admin", name="ops")}


@pytest.fixture
async def hooks(caja: Caja) -> dict[str, Any]:
    acme_key, acme = await _client(caja, "Acme Pagos")
    _shop_key, shop = await _client(caja, "Tienda Sol")
    made = await caja.database.write(lambda connection: _setup(connection, acme, shop))
    return {**made, "acme_key": acme_key}


async def test_endpoints_are_listed_with_their_state_and_counts(
    http: httpx.AsyncClient, admin: dict[str, str], hooks: dict[str, Any]
) -> None:
    answer = await http.get(f"{A}/webhooks", headers=admin)

    assert answer.status_code == 200, answer.text
    listed = {row["id"]: row for row in answer.json()["data"]}
    assert set(listed) == {hooks["live"], hooks["dead"], hooks["shop"]}
    live, dead, shop = listed[hooks["live"]], listed[hooks["dead"]], listed[hooks["shop"]]
    assert live["client"]["name"] == "Acme Pagos"
    assert shop["client"]["name"] == "Tienda Sol"
    assert live["enabled"] is True
    assert live["disabled_reason"] is None
    assert live["event_types"] is None
    assert dead["event_types"] == ["ledger.transfer.created"]
    assert dead["enabled"] is False
    assert dead["disabled_reason"] == "no 2XX answer for 24 hours"
    assert dead["disabled_at"] is not None
    acme_events = len(hooks["events"]) - shop["deliveries"]["pending"]
    assert live["deliveries"] == {"pending": acme_events - 1, "failed": 0, "delivered": 1}
    assert dead["deliveries"] == {"pending": acme_events - 1, "failed": 1, "delivered": 0}
    assert live["last_attempt_at"] is not None
    assert shop["last_attempt_at"] is None

    summary = (await http.get(f"{A}/summary", headers=admin)).json()["webhooks"]
    assert summary["disabled_endpoints"] == 1
    assert summary["failed_deliveries"] == 1
    assert summary["pending_deliveries"] == 2 * (acme_events - 1) + shop["deliveries"]["pending"]
    assert [(row["id"], row["reason"]) for row in summary["disabled"]] == [
        (hooks["dead"], "no 2XX answer for 24 hours")
    ]
    assert summary["disabled"][0]["client"]["name"] == "Acme Pagos"


async def test_deliveries_are_filtered_and_paged_newest_first(
    http: httpx.AsyncClient, admin: dict[str, str], hooks: dict[str, Any]
) -> None:
    whole = (await http.get(f"{A}/webhooks/deliveries", headers=admin)).json()
    ids = [row["id"] for row in whole["data"]]
    assert ids == sorted(ids, reverse=True)
    assert whole["next_cursor"] is None

    paged: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await http.get(f"{A}/webhooks/deliveries", params=params, headers=admin)).json()
        paged += [row["id"] for row in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert paged == ids

    failed = await http.get(f"{A}/webhooks/deliveries?status=failed", headers=admin)
    assert [row["id"] for row in failed.json()["data"]] == [hooks["last_dead"]]
    row = failed.json()["data"][0]
    assert row["endpoint"] == hooks["dead"]
    assert row["event_type"] == "ledger.transfer.created"
    assert row["last_status_code"] == 500
    assert row["next_attempt_at"] is None
    shop = await http.get(
        f"{A}/webhooks/deliveries", params={"endpoint": hooks["shop"]}, headers=admin
    )
    assert {row["endpoint"] for row in shop.json()["data"]} == {hooks["shop"]}
    client = shop.json()["data"][0]["client"]["id"]
    by_client = await http.get(f"{A}/webhooks/deliveries", params={"client": client}, headers=admin)
    assert by_client.json()["data"] == shop.json()["data"]
    nobody = await http.get(f"{A}/webhooks/deliveries?client=cli-nobody", headers=admin)
    assert nobody.json() == {"data": [], "next_cursor": None}
    bad = await http.get(f"{A}/webhooks/deliveries?status=lost", headers=admin)
    assert bad.status_code == 400
    assert bad.json()["code"] == 400


async def test_a_delivery_in_full_with_its_attempts_and_event(
    http: httpx.AsyncClient, admin: dict[str, str], hooks: dict[str, Any]
) -> None:
    answer = await http.get(f"{A}/webhooks/deliveries/{hooks['first_live']}", headers=admin)

    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert found["status"] == "delivered"
    assert found["attempts"] == 3
    assert found["url"] == "http://127.0.0.1:9/live"
    assert [(a["status_code"], a["error"], a["response"]) for a in found["attempt_history"]] == [
        (503, None, "Service Unavailable"),
        (None, "timed out after 10 s", None),
        (200, None, "ok"),
    ]
    assert found["event"]["id"] == found["event_id"]
    assert found["event"]["type"] == found["event_type"]
    assert "data" in found["event"]
    missing = await http.get(f"{A}/webhooks/deliveries/999999", headers=admin)
    assert missing.status_code == 404
    assert missing.json() == {"code": 404, "msg": ["no such delivery"]}


async def _trail(caja: Caja) -> list[tuple[str, str]]:
    async with caja.database.read() as connection:
        rows = await connection.execute(
            select(admin_audit.c.action, admin_audit.c.parameters).order_by(admin_audit.c.id)
        )
        return [(row.action, row.parameters) for row in rows]


async def test_enable_and_replay_are_recorded(
    caja: Caja, http: httpx.AsyncClient, admin: dict[str, str], hooks: dict[str, Any]
) -> None:
    enabled = await http.post(f"{A}/webhooks/{hooks['dead']}/enable", headers=admin)
    assert enabled.status_code == 200, enabled.text
    assert enabled.json()["enabled"] is True
    assert enabled.json()["disabled_reason"] is None
    summary = (await http.get(f"{A}/summary", headers=admin)).json()["webhooks"]
    assert summary["disabled_endpoints"] == 0
    assert summary["disabled"] == []

    event = hooks["events"][0]
    before = (await http.get(f"{A}/webhooks/deliveries", headers=admin)).json()["data"]
    replayed = await http.post(f"{A}/events/{event}/replay", headers=admin)
    assert replayed.status_code == 200, replayed.text
    assert replayed.json() == {"event_id": event, "deliveries": 2}
    after = (await http.get(f"{A}/webhooks/deliveries", headers=admin)).json()["data"]
    assert len(after) == len(before) + 2
    assert {(row["event_id"], row["status"]) for row in after[:2]} == {(event, "pending")}
    assert {row["endpoint"] for row in after[:2]} == {hooks["live"], hooks["dead"]}

    assert (await http.post(f"{A}/webhooks/we_nothing/enable", headers=admin)).json() == {
        "code": 404,
        "msg": ["no such endpoint"],
    }
    assert (await http.post(f"{A}/events/evt_nothing/replay", headers=admin)).status_code == 404
    assert await _trail(caja) == [
        ("webhook_enable", f'{{"endpoint": "{hooks["dead"]}"}}'),
        ("event_replay", f'{{"deliveries": 2, "event": "{event}"}}'),
    ]


async def test_the_webhook_routes_need_an_admin_key(
    http: httpx.AsyncClient, hooks: dict[str, Any]
) -> None:
    other = {"X-Admin-Key": hooks["acme_key"]}
    for method, path in (
        ("GET", "/webhooks"),
        ("GET", "/webhooks/deliveries"),
        ("GET", "/webhooks/deliveries/1"),
        ("POST", f"/webhooks/{hooks['dead']}/enable"),
        ("POST", f"/events/{hooks['events'][0]}/replay"),
    ):
        assert (await http.request(method, f"{A}{path}")).status_code == 401, path
        refused = await http.request(method, f"{A}{path}", headers=other)
        assert refused.status_code == 403, path
        assert refused.json() == {"code": 403, "msg": ["the key has no admin scope"]}
