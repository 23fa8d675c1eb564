"""Payment history in pages, and payment requests: create, read, list, pay once (even
with concurrent payers), cancel, and their QR code."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from caja.db.engine import Database
from caja.ledger.tables import transfers
from caja.ops.funding import fund
from tests.helpers import Caja
from tests.integration.test_wallet import (  # noqa: F401
    API,
    Person,
    app,
    balances,
    fast_hashing,
    person,
    send,
    send_body,
    wallet_env,
)

pytestmark = pytest.mark.anyio


# --- paging --------------------------------------------------------------------------------


async def page(http: httpx.AsyncClient, who: Person, **params: Any) -> httpx.Response:
    return await http.get(
        f"{API}/profile/payment_transaction", params={"type": 1, **params}, headers=who.headers
    )


async def test_payments_come_in_pages_newest_first_until_next_cursor_is_null(
    http: httpx.AsyncClient, caja: Caja
) -> None:
    ana = await person(http)
    beto = await person(http)
    await fund(caja.database, ana.account_id, "100.00")
    for n in range(1, 8):
        assert (await send(http, ana, send_body(ana, beto, f"{n}.00"))).json()["code"] == 200
    assert (await send(http, beto, send_body(beto, ana, "0.50"))).json()["code"] == 200

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        answer = await page(http, ana, limit=3, **({"cursor": cursor} if cursor else {}))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert set(body) == {"data", "next_cursor"}
        seen += [f"{item['direction']} {item['amount']}" for item in body["data"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert pages == 3
    assert seen == ["received 0.50"] + [f"sent {n}.00" for n in range(7, 0, -1)]
    whole = (await page(http, ana)).json()
    assert whole["next_cursor"] is None
    assert [f"{i['direction']} {i['amount']}" for i in whole["data"]] == seen


async def test_without_a_limit_the_first_page_holds_fifty(
    http: httpx.AsyncClient, caja: Caja
) -> None:
    ana = await person(http)
    beto = await person(http)
    await fund(caja.database, ana.account_id, "100.00")
    answers = await asyncio.gather(
        *(send(http, ana, send_body(ana, beto, "1.00")) for _ in range(51))
    )
    assert {a.json()["code"] for a in answers} == {200}

    first = (await page(http, beto)).json()
    rest = (await page(http, beto, cursor=first["next_cursor"])).json()

    assert len(first["data"]) == 50
    assert len(rest["data"]) == 1
    assert rest["next_cursor"] is None
    assert len({item["id"] for item in first["data"] + rest["data"]}) == 51


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": 0}, "limit: must be a whole number from 1 to 200"),
        ({"limit": 201}, "limit: must be a whole number from 1 to 200"),
        ({"limit": "ten"}, "limit: must be a whole number from 1 to 200"),
        ({"cursor": "nope"}, "cursor: must be a next_cursor this list gave"),
        ({"cursor": ""}, "cursor: must be a next_cursor this list gave"),
    ],
)
async def test_a_bad_limit_or_cursor_is_400(
    http: httpx.AsyncClient, params: dict[str, Any], message: str
) -> None:
    ana = await person(http)

    answer = await page(http, ana, **params)

    assert answer.status_code == 400
    assert answer.json() == {"code": 400, "msg": [message]}


# --- payment requests ----------------------------------------------------------------------

REQUEST = f"{API}/profile/payment_request"


async def ask(
    http: httpx.AsyncClient, who: Person, amount: Any = "25000.00", notes: str = "almuerzo"
) -> dict[str, Any]:
    answer = await http.post(
        REQUEST,
        json={"asset_key": "COP", "amount": amount, "meta_data": {"notes": notes}},
        headers=who.headers,
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def pay(
    http: httpx.AsyncClient, who: Person, request_id: str, key: str | None = None
) -> httpx.Response:
    headers = {**who.headers, **({"Idempotency-Key": key} if key else {})}
    return await http.post(
        f"{REQUEST}/{request_id}/pay", json={"from_account_id": who.account_id}, headers=headers
    )


async def read(http: httpx.AsyncClient, who: Person, request_id: str) -> dict[str, Any]:
    answer = await http.get(f"{REQUEST}/{request_id}", headers=who.headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def wallet_transfers(database: Database) -> int:
    async with database.read() as connection:
        found = await connection.execute(
            select(func.count()).select_from(transfers).where(transfers.c.surface == "wallet")
        )
        return int(found.scalar_one())


async def test_a_request_is_created_read_by_another_and_paid_once(
    http: httpx.AsyncClient, caja: Caja
) -> None:
    ana = await person(http, "Ana", "Paz")
    luis = await person(http, "Luis", "Gil")
    await fund(caja.database, luis.account_id, "30000.00")

    created = await ask(http, ana)
    request_id = created["request_id"]
    assert request_id.startswith("prq-")
    assert created == {
        "request_id": request_id,
        "status": "open",
        "amount": "25000.00",
        "asset_key": "COP",
        "notes": "almuerzo",
        "requester": ana.card,
        "created_at": created["created_at"],
        "link": f"/app#pay={request_id}",
        "paid_by": None,
        "paid_at": None,
    }
    assert await read(http, luis, request_id) == created

    paid = await pay(http, luis, request_id)
    assert (paid.status_code, paid.json()) == (200, {"code": 200, "msg": []})

    after = await read(http, ana, request_id)
    assert after["status"] == "paid"
    assert after["paid_by"] == luis.card
    assert after["paid_at"] is not None
    assert await balances(http, ana) == {"COP": "25000.00", "USD": "0.00"}
    again = await pay(http, luis, request_id)
    assert (again.status_code, again.json()) == (
        409,
        {"code": 409, "msg": ["request_already_paid"]},
    )
    listed = await http.get(REQUEST, params={"status": "paid"}, headers=ana.headers)
    assert [item["request_id"] for item in listed.json()["data"]] == [request_id]
    none_open = await http.get(REQUEST, params={"status": "open"}, headers=ana.headers)
    assert none_open.json() == {"data": []}


async def test_concurrent_payers_make_one_payment_and_the_others_hear_it_is_paid(
    http: httpx.AsyncClient, caja: Caja
) -> None:
    ana = await person(http)
    payers = [await person(http) for _ in range(5)]
    for payer in payers:
        await fund(caja.database, payer.account_id, "100.00")
    request_id = (await ask(http, ana, "40.00"))["request_id"]

    answers = await asyncio.wait_for(
        asyncio.gather(*(pay(http, payer, request_id) for payer in payers for _ in range(2))),
        60,
    )

    assert sorted(a.status_code for a in answers) == [200] + [409] * 9
    assert await wallet_transfers(caja.database) == 1
    assert await balances(http, ana) == {"COP": "40.00", "USD": "0.00"}
    report = await caja.verify()
    assert report.ok, [check for check in report.checks if check.violations]


async def test_a_keyed_payment_replays_and_an_underfunded_one_leaves_it_open(
    http: httpx.AsyncClient, caja: Caja
) -> None:
    ana = await person(http)
    luis = await person(http)
    request_id = (await ask(http, ana, "10.00"))["request_id"]

    short = await pay(http, luis, request_id, key="pay-1")
    assert short.json() == {"code": 601, "msg": ["op_underfunded"]}
    assert (await read(http, ana, request_id))["status"] == "open"

    await fund(caja.database, luis.account_id, "50.00")
    answers = await asyncio.gather(*(pay(http, luis, request_id, key="pay-2") for _ in range(5)))
    assert {(a.status_code, a.content) for a in answers} == {(200, b'{"code":200,"msg":[]}')}
    assert (await pay(http, luis, request_id, key="pay-1")).json()["code"] == 601
    assert await balances(http, luis) == {"COP": "40.00", "USD": "0.00"}


async def test_own_requests_cannot_be_paid_and_only_the_requester_cancels(
    http: httpx.AsyncClient, caja: Caja
) -> None:
    ana = await person(http)
    luis = await person(http)
    await fund(caja.database, ana.account_id, "50.00")
    await fund(caja.database, luis.account_id, "50.00")
    request_id = (await ask(http, ana, "10.00"))["request_id"]

    own = await pay(http, ana, request_id)
    assert (own.status_code, own.json()) == (
        400,
        {"code": 400, "msg": ["request_id: is your own request"]},
    )
    foreign = await http.delete(f"{REQUEST}/{request_id}", headers=luis.headers)
    assert (foreign.status_code, foreign.json()["msg"]) == (400, ["record_not_found"])

    cancelled = await http.delete(f"{REQUEST}/{request_id}", headers=ana.headers)
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    late = await pay(http, luis, request_id)
    assert (late.status_code, late.json()["msg"]) == (409, ["request_already_cancelled"])
    twice = await http.delete(f"{REQUEST}/{request_id}", headers=ana.headers)
    assert twice.status_code == 409
    assert await wallet_transfers(caja.database) == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"asset_key": "COP", "amount": "0"}, "amount: must be greater than zero"),
        ({"asset_key": "COP"}, "amount: is required"),
        ({"amount": "1.00"}, "asset_key: is required"),
        ({"asset_key": "EUR", "amount": "1.00"}, "asset_not_available"),
        ({"asset_key": "COP", "amount": "1.001"}, None),
    ],
)
async def test_a_bad_request_is_400_as_for_sends(
    http: httpx.AsyncClient, body: dict[str, Any], message: str | None
) -> None:
    ana = await person(http)

    answer = await http.post(REQUEST, json=body, headers=ana.headers)

    assert answer.status_code == 400, answer.text
    if message is not None:
        assert answer.json()["msg"] == [message]


async def test_unknown_requests_and_statuses_are_400(http: httpx.AsyncClient) -> None:
    ana = await person(http)

    missing = await http.get(f"{REQUEST}/prq-nothing", headers=ana.headers)
    status = await http.get(REQUEST, params={"status": "done"}, headers=ana.headers)

    assert (missing.status_code, missing.json()["msg"]) == (400, ["record_not_found"])
    assert (status.status_code, status.json()["msg"]) == (
        400,
        ["status: must be open, paid or cancelled"],
    )


async def test_the_qr_code_is_an_svg_of_the_absolute_link(http: httpx.AsyncClient) -> None:
    ana = await person(http)
    luis = await person(http)
    request_id = (await ask(http, ana))["request_id"]

    answer = await http.get(f"{REQUEST}/{request_id}/qr.svg", headers=luis.headers)

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("image/svg+xml")
    assert answer.text.startswith("<svg")
    assert answer.text.rstrip().endswith("</svg>")
    assert "<path" in answer.text
    unauthenticated = await http.get(f"{REQUEST}/{request_id}/qr.svg")
    assert unauthenticated.status_code == 401
