"""The events surface, ``/api/events/v1``: webhook endpoints, the events list, deliveries
and balance monitors, with a client's key of any scope."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from caja.clients.service import authenticate
from caja.ledger import events
from caja.webhooks import service as webhooks
from tests.helpers import Caja, transfer_body

pytestmark = pytest.mark.anyio

EV = "/api/events/v1"
HOOK = "http://127.0.0.1:9/hook"


def key_of(key: str) -> dict[str, str]:
    return {"X-Account-api-key": key}


@pytest.fixture(autouse=True)
def allow_private(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAJA_WEBHOOKS_ALLOW_PRIVATE", "1")


async def client_id(caja: Caja, key: str) -> int:
    principal = await authenticate(caja.database, key)
    assert principal is not None
    return principal.client_id


async def append(caja: Caja, owner: int, count: int, kind: str = "topup.updated") -> None:
    new = [events.NewEvent(kind, owner, {"n": n}) for n in range(count)]
    await caja.database.write(lambda c: events.append(c, new))


async def test_an_endpoint_is_added_listed_rotated_enabled_and_removed(
    http: httpx.AsyncClient, caja: Caja
) -> None:
    key = await caja.client_key("topup")  # any scope will do
    made = await http.post(
        f"{EV}/endpoints",
        json={"url": HOOK, "events": ["balance.crossed", "ledger.transfer.created"]},
        headers=key_of(key),
    )
    assert made.status_code == 201, made.text
    body = made.json()
    endpoint = body["endpoint_id"]
    assert endpoint.startswith("we_")
    assert body["secret"].startswith("whsec_")
    assert body["events"] == ["ledger.transfer.created", "balance.crossed"]
    assert body["enabled"] is True
    assert body["disabled_reason"] is None

    listed = await http.get(f"{EV}/endpoints", headers=key_of(key))
    assert listed.status_code == 200
    assert [e["endpoint_id"] for e in listed.json()["endpoints"]] == [endpoint]
    assert body["secret"] not in listed.text
    one = await http.get(f"{EV}/endpoints/{endpoint}", headers=key_of(key))
    assert one.status_code == 200
    assert one.json() == {k: v for k, v in body.items() if k != "secret"}

    rotated = await http.post(f"{EV}/endpoints/{endpoint}/rotate", headers=key_of(key))
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["endpoint_id"] == endpoint
    assert rotated.json()["secret"].startswith("whsec_")
    assert rotated.json()["secret"] != body["secret"]
    assert rotated.json()["previous_secret_until"] is not None

    enabled = await http.post(f"{EV}/endpoints/{endpoint}/enable", headers=key_of(key))
    assert enabled.status_code == 200
    assert enabled.json()["enabled"] is True

    removed = await http.delete(f"{EV}/endpoints/{endpoint}", headers=key_of(key))
    assert removed.status_code == 204
    assert removed.content == b""
    for method, path in (
        ("GET", f"{EV}/endpoints/{endpoint}"),
        ("DELETE", f"{EV}/endpoints/{endpoint}"),
        ("POST", f"{EV}/endpoints/{endpoint}/rotate"),
        ("POST", f"{EV}/endpoints/{endpoint}/enable"),
    ):
        gone = await http.request(method, path, headers=key_of(key))
        assert gone.status_code == 404, (method, path)
        assert gone.json() == {
            "code": "EndpointNotFound",
            "message": "The endpoint does not exist.",
        }
    assert (await http.get(f"{EV}/endpoints", headers=key_of(key))).json() == {"endpoints": []}


async def test_an_endpoint_of_every_type_lists_events_as_null(
    http: httpx.AsyncClient, caja: Caja
) -> None:
    key = await caja.client_key("ledger")
    made = await http.post(f"{EV}/endpoints", json={"url": HOOK}, headers=key_of(key))
    assert made.status_code == 201, made.text
    assert made.json()["events"] is None


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({}, "InvalidData", "url: is required"),
        ({"url": "ftp://example.com/x"}, "InvalidUrl", "url: "),
        ({"url": "not a url"}, "InvalidUrl", "url: "),
        ({"url": "http://user:pw@example.com/"}, "InvalidUrl", "url: "),
        ({"url": HOOK, "events": ["ledger.nothing"]}, "UnknownEventType", "events: "),
        ({"url": HOOK, "events": "balance.crossed"}, "InvalidData", "events: "),
    ],
)
async def test_a_bad_endpoint_is_refused_naming_the_field(
    http: httpx.AsyncClient, caja: Caja, body: dict[str, Any], code: str, field: str
) -> None:
    key = await caja.client_key("ledger")
    refused = await http.post(f"{EV}/endpoints", json=body, headers=key_of(key))
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == code
    assert refused.json()["message"].startswith(field)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://10.1.2.3/hook",
        "https://[::1]/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest",
    ],
)
async def test_a_private_url_is_refused_unless_the_setting_allows_it(
    http: httpx.AsyncClient, caja: Caja, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    key = await caja.client_key("ledger")
    monkeypatch.delenv("CAJA_WEBHOOKS_ALLOW_PRIVATE")
    refused = await http.post(f"{EV}/endpoints", json={"url": url}, headers=key_of(key))
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "PrivateUrl"
    assert refused.json()["message"].startswith("url: ")

    monkeypatch.setenv("CAJA_WEBHOOKS_ALLOW_PRIVATE", "1")
    accepted = await http.post(f"{EV}/endpoints", json={"url": url}, headers=key_of(key))
    assert accepted.status_code == 201, accepted.text


async def test_the_key_is_required_and_a_legacy_account_key_is_refused(
    http: httpx.AsyncClient, caja: Caja
) -> None:
    for headers in ({}, key_of("nope"), key_of("")):
        refused = await http.get(f"{EV}/endpoints", headers=headers)
        assert refused.status_code == 401
        assert refused.json()["code"] == "Unauthorized"
    key = await caja.client_key("ledger:admin")
    legacy = await http.post(
        "/api/ledger/v0/account",
        json={
            "phone_number": "+573001112233",
            "owner_legal_id_type": "CC",
            "owner_legal_id_number": "80123456",
            "owner_full_name": "Ana",
            "owner_email": "ana@example.com",
        },
        headers={"Authorization": key},
    )
    assert legacy.status_code == 201, legacy.text
    account_key = legacy.json()["api_key"]
    refused = await http.get(f"{EV}/endpoints", headers=key_of(account_key))
    assert refused.status_code == 403
    for path in ("endpoints", "monitors"):
        plain = await http.post(f"{EV}/{path}", content=b"url=x", headers=key_of(key))
        assert plain.status_code == 415
        assert plain.json()["code"] == "UnsupportedMediaType"
        broken = await http.post(
            f"{EV}/{path}",
            content=b"{",
            headers={**key_of(key), "Content-Type": "application/json"},
        )
        assert broken.status_code == 422
        assert broken.json()["code"] == "InvalidJSON"
    missing = await http.get(f"{EV}/nothing", headers=key_of(key))
    assert missing.status_code == 404
    assert set(missing.json()) == {"code", "message"}


async def test_events_page_in_order_each_once_and_only_the_clients_own(
    http: httpx.AsyncClient, caja: Caja
) -> None:
    key, other = await caja.client_key("ledger"), await caja.client_key("ledger")
    mine, theirs = await client_id(caja, key), await client_id(caja, other)
    for _ in range(3):
        await append(caja, mine, 3)
        await append(caja, theirs, 2)
    await append(caja, mine, 1, "deposit.received")

    seen: list[dict[str, Any]] = []
    after: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 4} | ({"after": after} if after else {})
        page = await http.get(f"{EV}/events", params=params, headers=key_of(key))
        assert page.status_code == 200, page.text
        pages += 1
        seen.extend(page.json()["events"])
        after = page.json()["next_after"]
        if after is None:
            break
        assert after == seen[-1]["id"]
    assert pages == 3
    assert len(seen) == 10
    assert len({e["id"] for e in seen}) == 10
    assert [e["type"] for e in seen] == ["topup.updated"] * 9 + ["deposit.received"]
    assert [e["data"]["n"] for e in seen[:9]] == [0, 1, 2] * 3
    assert set(seen[0]) == {"id", "type", "created_at", "data"}

    # From the last one: nothing more, for now.
    caught_up = await http.get(
        f"{EV}/events", params={"after": seen[-1]["id"]}, headers=key_of(key)
    )
    assert caught_up.json() == {"events": [], "next_after": None}

    # A type filter, and one event as the list shows it, byte for byte.
    only = await http.get(f"{EV}/events", params={"type": "deposit.received"}, headers=key_of(key))
    assert [e["id"] for e in only.json()["events"]] == [seen[-1]["id"]]
    one = await http.get(f"{EV}/events/{seen[-1]['id']}", headers=key_of(key))
    assert one.status_code == 200
    assert one.json() == seen[-1]
    async with caja.database.read() as connection:
        row = await connection.run_sync(events.event_by_token, seen[-1]["id"])
    assert row is not None
    assert one.content == row.body()


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"after": "evt_nothing"}, 422, "EventNotFound"),
        ({"limit": 0}, 422, "InvalidData"),
        ({"limit": 501}, 422, "InvalidData"),
        ({"type": "nothing.happened"}, 422, "UnknownEventType"),
    ],
)
async def test_a_bad_events_query_is_refused(
    http: httpx.AsyncClient, caja: Caja, params: dict[str, Any], status: int, code: str
) -> None:
    key = await caja.client_key("ledger")
    refused = await http.get(f"{EV}/events", params=params, headers=key_of(key))
    assert refused.status_code == status, refused.text
    assert refused.json()["code"] == code
    field = "after" if "after" in params else "limit" if "limit" in params else "type"
    assert refused.json()["message"].startswith(f"{field}: ")


async def test_a_replayed_event_is_delivered_again_and_its_deliveries_are_listed(
    http: httpx.AsyncClient, caja: Caja
) -> None:
    key = await caja.client_key("ledger")
    mine = await client_id(caja, key)
    made = await http.post(
        f"{EV}/endpoints", json={"url": HOOK, "events": ["topup.updated"]}, headers=key_of(key)
    )
    endpoint = made.json()["endpoint_id"]
    await http.post(
        f"{EV}/endpoints",
        json={"url": HOOK + "2", "events": ["deposit.received"]},
        headers=key_of(key),
    )
    await append(caja, mine, 1)
    listed = await http.get(f"{EV}/events", headers=key_of(key))
    event = listed.json()["events"][0]["id"]

    replayed = await http.post(f"{EV}/events/{event}/replay", headers=key_of(key))
    assert replayed.status_code == 202, replayed.text
    assert replayed.json() == {"deliveries": 1}
    missing = await http.post(f"{EV}/events/evt_nothing/replay", headers=key_of(key))
    assert missing.status_code == 404
    assert missing.json()["code"] == "EventNotFound"

    page = await http.get(f"{EV}/deliveries", headers=key_of(key))
    assert page.status_code == 200, page.text
    [delivery] = page.json()["deliveries"]
    assert page.json()["next_before"] is None
    assert delivery["endpoint_id"] == endpoint
    assert delivery["event_id"] == event
    assert delivery["status"] == "pending"
    assert delivery["attempts"] == 0
    assert delivery["next_attempt_at"] is not None
    for params, count in (
        ({"endpoint_id": endpoint}, 1),
        ({"endpoint_id": "we_nothing"}, 0),
        ({"status": "pending"}, 1),
        ({"status": "delivered"}, 0),
        ({"before": delivery["delivery_id"]}, 0),
        ({"limit": 1}, 1),
    ):
        found = await http.get(f"{EV}/deliveries", params=params, headers=key_of(key))
        assert len(found.json()["deliveries"]) == count, params
    bad = await http.get(f"{EV}/deliveries", params={"status": "lost"}, headers=key_of(key))
    assert bad.status_code == 422
    assert bad.json()["message"].startswith("status: ")

    one = await http.get(f"{EV}/deliveries/{delivery['delivery_id']}", headers=key_of(key))
    assert one.status_code == 200, one.text
    assert one.json() == {**delivery, "attempts_made": []}
    for wrong in ("999999", "abc", str(delivery["delivery_id"] + 1)):
        gone = await http.get(f"{EV}/deliveries/{wrong}", headers=key_of(key))
        assert gone.status_code == 404
        assert gone.json()["code"] == "DeliveryNotFound"


async def test_deliveries_page_newest_first(http: httpx.AsyncClient, caja: Caja) -> None:
    key = await caja.client_key("ledger")
    mine = await client_id(caja, key)
    await http.post(f"{EV}/endpoints", json={"url": HOOK}, headers=key_of(key))
    await append(caja, mine, 3)
    async with caja.database.read() as connection:
        rows = await connection.run_sync(events.events_of_client, mine)
    for row in rows:
        await caja.database.write(lambda c, token=row.token: webhooks.replay(c, token, mine))
    first = (await http.get(f"{EV}/deliveries", params={"limit": 2}, headers=key_of(key))).json()
    assert first["next_before"] == first["deliveries"][-1]["delivery_id"]
    second = await http.get(
        f"{EV}/deliveries", params={"limit": 2, "before": first["next_before"]}, headers=key_of(key)
    )
    shown = [d["event_id"] for d in first["deliveries"] + second.json()["deliveries"]]
    assert shown == [row.token for row in reversed(rows)]
    assert second.json()["next_before"] is None


async def test_a_monitor_fires_twice_through_1500_900_800_1100_950(
    http: httpx.AsyncClient, caja: Caja
) -> None:
    key = await caja.client_key("ledger:admin")
    watched, other = await caja.account(key), await caja.account(key)
    await caja.fund(watched["token"], "1500.00")
    await caja.fund(other["token"], "10000.00")
    made = await http.post(
        f"{EV}/monitors",
        json={"account_token": watched["token"], "below": "1000.00"},
        headers=key_of(key),
    )
    assert made.status_code == 201, made.text
    monitor = made.json()
    assert monitor["account_token"] == watched["token"]
    assert monitor["direction"] == "below"
    assert monitor["threshold"] == "1000.00"
    assert monitor["monitor_id"].startswith("mon_")

    for source, target, amount in (
        (watched, other, "600.00"),  # 1,500 → 900: fires
        (watched, other, "100.00"),  # → 800: still below
        (other, watched, "300.00"),  # → 1,100: back above
        (watched, other, "150.00"),  # → 950: fires again
    ):
        posted = await caja.transfer(key, transfer_body(source["token"], target["token"], amount))
        assert posted.status_code == 201, posted.text

    crossed = await http.get(
        f"{EV}/events", params={"type": "balance.crossed"}, headers=key_of(key)
    )
    fired = [e["data"] for e in crossed.json()["events"]]
    assert [(f["balance_before"], f["balance_after"]) for f in fired] == [
        (1500.0, 900.0),
        (1100.0, 950.0),
    ]
    assert {f["monitor_id"] for f in fired} == {monitor["monitor_id"]}
    assert {f["threshold"] for f in fired} == {1000.0}


async def test_monitors_are_listed_removed_and_refused_when_wrong(
    http: httpx.AsyncClient, caja: Caja
) -> None:
    key, other = await caja.client_key("ledger:admin"), await caja.client_key("ledger:admin")
    account, theirs = await caja.account(key), await caja.account(other)
    token = account["token"]
    for body, status, code, field in (
        ({"account_token": token}, 422, "InvalidData", "below"),
        ({"account_token": token, "below": "1", "above": "2"}, 422, "InvalidData", "below"),
        ({"account_token": token, "below": "1.001"}, 422, "InvalidData", "below"),
        ({"account_token": token, "above": "abc"}, 422, "InvalidData", "above"),
        ({"account_token": token, "above": True}, 422, "InvalidData", "above"),
        ({"below": "1"}, 422, "InvalidData", "account_token"),
        ({"account_token": theirs["token"], "below": "1"}, 404, "AccountNotFound", ""),
        ({"account_token": "acc-nothing", "below": "1"}, 404, "AccountNotFound", ""),
    ):
        refused = await http.post(f"{EV}/monitors", json=body, headers=key_of(key))
        assert refused.status_code == status, (body, refused.text)
        assert refused.json()["code"] == code
        assert refused.json()["message"].startswith(field), refused.text

    below = await http.post(
        f"{EV}/monitors", json={"account_token": token, "below": -500}, headers=key_of(key)
    )
    assert below.status_code == 201, below.text
    assert below.json()["threshold"] == "-500.00"
    above = await http.post(
        f"{EV}/monitors", json={"account_token": token, "above": "0"}, headers=key_of(key)
    )
    assert above.json()["direction"] == "above"
    assert above.json()["threshold"] == "0.00"

    listed = await http.get(f"{EV}/monitors", headers=key_of(key))
    assert listed.json() == {"monitors": [below.json(), above.json()]}
    of_account = await http.get(
        f"{EV}/monitors", params={"account_token": theirs["token"]}, headers=key_of(key)
    )
    assert of_account.json() == {"monitors": []}

    removed = await http.delete(f"{EV}/monitors/{below.json()['monitor_id']}", headers=key_of(key))
    assert removed.status_code == 204
    again = await http.delete(f"{EV}/monitors/{below.json()['monitor_id']}", headers=key_of(key))
    assert again.status_code == 404
    assert again.json() == {"code": "MonitorNotFound", "message": "The monitor does not exist."}
    assert [
        m["monitor_id"]
        for m in (await http.get(f"{EV}/monitors", headers=key_of(key))).json()["monitors"]
    ] == [above.json()["monitor_id"]]
