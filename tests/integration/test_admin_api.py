"""The ops console's API: every endpoint behind an admin key, lists paged newest first
with their filters, one transfer and one account in full, CSV downloads, the OpenAPI."""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, func, select

from caja.core.clock import BOGOTA, utcnow
from caja.ledger import batching
from caja.ledger.model import NewTransfer
from caja.ledger.queries import account_by
from caja.ledger.tables import transfers
from caja.ops.tables import admin_audit
from tests.helpers import Caja, transfer_body

pytestmark = pytest.mark.anyio

A = "/admin/api"
ENDPOINTS = [
    ("GET", "/summary"),
    ("GET", "/search?q=x"),
    ("GET", "/transfers"),
    ("GET", "/transfers/tx-none"),
    ("GET", "/accounts/acc-none"),
    ("GET", "/accounts/acc-none/entries"),
    ("GET", "/purchases"),
    ("POST", "/purchases/reconcile"),
    ("POST", "/verify"),
    ("GET", "/verify"),
    ("GET", "/audit"),
    ("GET", "/webhooks"),
    ("GET", "/webhooks/deliveries"),
    ("GET", "/webhooks/deliveries/9"),
    ("POST", "/webhooks/we-none/enable"),
    ("POST", "/events/evt-none/replay"),
]
# The path parameters of ENDPOINTS, as the OpenAPI names them.
PARAMETERS = {
    "tx-none": "{token}",
    "acc-none": "{token}",
    "deliveries/9": "deliveries/{delivery_id}",
    "we-none": "{endpoint_id}",
    "evt-none": "{event_id}",
}


def documented_path(path: str) -> str:
    path = path.split("?")[0]
    for given, name in PARAMETERS.items():
        path = path.replace(given, name)
    return A + path


@pytest.fixture
async def admin(caja: Caja) -> dict[str, str]:
    return {"X-Admin-Key": await caja.client_key("admin", name="ops")}


class Moved:
    def __init__(self, key: str, first: str, second: str, tokens: list[str]) -> None:
        self.key, self.first, self.second, self.tokens = key, first, second, tokens


async def moved(caja: Caja, count: int) -> Moved:
    """Two accounts of a ledger client, the first funded with 1000.00, and ``count``
    transfers of 1.00 to 1.0n from it to the second (their tokens, oldest first)."""
    key = await caja.client_key("ledger:admin", name="Acme Pagos")
    first, second = await caja.account(key), await caja.account(key)
    await caja.fund(first["token"], "1000.00")
    tokens = []
    for n in range(count):
        body = transfer_body(first["token"], second["token"], f"1.0{n}", description=f"pago {n}")
        response = await caja.transfer(key, body)
        assert response.status_code == 201, response.text
        tokens.append(response.json()["token"])
    return Moved(key, first["token"], second["token"], tokens)


async def funded_by_the_peso(caja: Caja, token: str, count: int) -> None:
    """``count`` funding transfers of 1.00 COP to the account, in one batch."""
    async with caja.database.read() as connection:
        target = await connection.run_sync(lambda c: account_by(c, token=token))
        funding = await connection.run_sync(lambda c: account_by(c, token="sys-funding-cop"))
    assert target is not None
    assert funding is not None
    one = NewTransfer(
        surface="funding",
        description="funding",
        debit_account_id=funding.id,
        credit_account_id=target.id,
        amount_minor=100,
    )
    results = await batching.post(caja.database, [one] * count)
    assert all(result.error is None for result in results)


async def get(caja: Caja, admin: dict[str, str], path: str, **params: Any) -> Any:
    response = await caja.http.get(A + path, headers=admin, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_every_endpoint_needs_a_key_with_the_admin_scope(caja: Caja) -> None:
    other = {"X-Admin-Key": await caja.client_key("ledger:admin", "topup")}
    for method, path in ENDPOINTS:
        for headers, status in (({}, 401), ({"X-Admin-Key": "nope"}, 401), (other, 403)):
            response = await caja.http.request(method, A + path, headers=headers)
            assert response.status_code == status, (method, path)
            assert response.json()["code"] == status
            assert isinstance(response.json()["msg"], list)


async def test_transfers_are_paged_newest_first_to_the_last_page(
    caja: Caja, admin: dict[str, str]
) -> None:
    done = await moved(caja, 7)

    seen: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 3, "surface": "ledger_v1"} | ({"cursor": cursor} if cursor else {})
        page = await get(caja, admin, "/transfers", **params)
        pages += 1
        assert len(page["data"]) <= 3
        seen += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert pages == 3
    assert [row["token"] for row in seen] == list(reversed(done.tokens))
    newest = seen[0]
    assert newest["amount"] == "1.06"
    assert newest["amount_minor"] == 106
    assert (newest["from_account"], newest["to_account"]) == (done.first, done.second)
    assert (newest["asset"], newest["status"], newest["description"]) == ("COP", "posted", "pago 6")
    assert newest["created_at"].endswith("Z")


async def test_transfers_are_filtered_by_surface_status_days_client_and_account(
    caja: Caja, admin: dict[str, str]
) -> None:
    done = await moved(caja, 2)
    today = utcnow().astimezone(BOGOTA).date()
    client = (await get(caja, admin, f"/transfers/{done.tokens[0]}"))["client"]["id"]

    def tokens(page: dict[str, Any]) -> list[str]:
        return [row["token"] for row in page["data"]]

    everything = await get(caja, admin, "/transfers")
    assert {row["surface"] for row in everything["data"]} == {"ledger_v1", "funding"}
    assert len(tokens(await get(caja, admin, "/transfers", surface="funding"))) == 1
    assert tokens(await get(caja, admin, "/transfers", status="pending")) == []
    assert len(tokens(await get(caja, admin, "/transfers", status="posted"))) == 3
    days = {"from": today.isoformat(), "to": today.isoformat()}
    assert len(tokens(await get(caja, admin, "/transfers", **days))) == 3
    before = {"to": (today - timedelta(days=1)).isoformat()}
    assert tokens(await get(caja, admin, "/transfers", **before)) == []
    after = {"from": (today + timedelta(days=1)).isoformat()}
    assert tokens(await get(caja, admin, "/transfers", **after)) == []
    by_client = await get(caja, admin, "/transfers", client=client)
    assert tokens(by_client) == list(reversed(done.tokens))
    assert tokens(await get(caja, admin, "/transfers", client="cli-unknown")) == []
    by_account = await get(caja, admin, "/transfers", account=done.second, limit=1)
    assert tokens(by_account) == [done.tokens[1]]
    assert by_account["next_cursor"] is not None
    rest = await get(
        caja, admin, "/transfers", account=done.second, cursor=by_account["next_cursor"]
    )
    assert tokens(rest) == [done.tokens[0]]
    assert rest["next_cursor"] is None


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "501"},
        {"limit": "many"},
        {"cursor": "abc"},
        {"from": "2026-13-01"},
        {"status": "lost"},
        {"format": "xml"},
    ],
)
async def test_a_bad_parameter_is_a_400_in_the_surface_body(
    caja: Caja, admin: dict[str, str], params: dict[str, str]
) -> None:
    response = await caja.http.get(f"{A}/transfers", headers=admin, params=params)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 400
    assert len(body["msg"]) == 1
    assert body["msg"][0]


async def test_a_transfer_shows_its_entries_running_balances_and_journal_hash(
    caja: Caja, admin: dict[str, str]
) -> None:
    done = await moved(caja, 2)

    found = await get(caja, admin, f"/transfers/{done.tokens[1]}")

    assert found["token"] == done.tokens[1]
    assert found["client"]["name"] == "Acme Pagos"
    assert found["entries"] == [
        {
            "account": done.first,
            "side": "debit",
            "amount": "-1.01",
            "amount_minor": -101,
            "balance": "997.99",
            "balance_minor": 99799,
        },
        {
            "account": done.second,
            "side": "credit",
            "amount": "1.01",
            "amount_minor": 101,
            "balance": "2.01",
            "balance_minor": 201,
        },
    ]
    assert found["hold"] is None
    assert found["purchase"] is None
    assert found["deposit"] is None
    assert found["reversal"] == {"reverses": None, "reversed_by": None}
    async with caja.database.read() as connection:
        stored = (
            await connection.execute(
                select(transfers.c.hash, transfers.c.prev_hash).where(
                    transfers.c.token == done.tokens[1]
                )
            )
        ).one()
    assert found["journal"] == {"hash": stored.hash, "prev_hash": stored.prev_hash}
    missing = await caja.http.get(f"{A}/transfers/tx-unknown", headers=admin)
    assert missing.status_code == 404
    assert missing.json() == {"code": 404, "msg": ["no such transfer"]}


async def test_an_account_shows_its_balance_history_and_paged_statement(
    caja: Caja, admin: dict[str, str]
) -> None:
    done = await moved(caja, 5)

    found = await get(caja, admin, f"/accounts/{done.first}")
    assert (found["balance"], found["balance_minor"], found["asset"]) == ("994.90", 99490, "COP")
    assert found["client"]["name"] == "Acme Pagos"
    balances = [point["balance"] for point in found["history"]]
    assert balances[0] == "1000.00"
    assert balances[-1] == "994.90"
    assert len(balances) == 6

    first = await get(caja, admin, f"/accounts/{done.first}/entries", limit=4)
    assert [line["transfer"] for line in first["data"]] == list(reversed(done.tokens))[:4]
    assert first["data"][0]["balance"] == "994.90"
    assert first["data"][0]["amount"] == "-1.04"
    second = await get(
        caja, admin, f"/accounts/{done.first}/entries", limit=4, cursor=first["next_cursor"]
    )
    assert second["data"][0]["transfer"] == done.tokens[0]
    assert len(second["data"]) == 2
    assert second["next_cursor"] is None
    assert second["data"][-1]["kind"] == "standard"
    assert second["data"][-1]["surface"] == "funding"
    for path in ("/accounts/acc-unknown", "/accounts/acc-unknown/entries"):
        missing = await caja.http.get(A + path, headers=admin)
        assert missing.status_code == 404
        assert missing.json() == {"code": 404, "msg": ["no such account"]}


async def test_the_balance_history_is_downsampled_to_about_two_hundred_points(
    caja: Caja, admin: dict[str, str]
) -> None:
    key = await caja.client_key("ledger:admin")
    account = (await caja.account(key))["token"]
    await funded_by_the_peso(caja, account, 450)

    history = (await get(caja, admin, f"/accounts/{account}"))["history"]

    assert 150 <= len(history) <= 201
    assert history[0]["balance"] == "1.00"
    assert history[-1]["balance"] == "450.00"
    assert [point["at"] for point in history] == sorted(point["at"] for point in history)


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


async def audit_count(caja: Caja) -> int:
    async with caja.database.read() as connection:
        return int(
            (await connection.execute(select(func.count()).select_from(admin_audit))).scalar_one()
        )


async def test_lists_download_as_csv_and_each_download_is_recorded(
    caja: Caja, admin: dict[str, str]
) -> None:
    done = await moved(caja, 3)

    response = await caja.http.get(
        f"{A}/transfers", headers=admin, params={"format": "csv", "surface": "ledger_v1"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment; filename=")
    assert ".csv" in disposition
    table = rows(response.text)
    assert table[0][:3] == ["token", "surface", "kind"]
    assert [row[0] for row in table[1:]] == list(reversed(done.tokens))

    by_accept = await caja.http.get(
        f"{A}/accounts/{done.first}/entries", headers=admin | {"Accept": "text/csv"}
    )
    assert by_accept.headers["content-type"].startswith("text/csv")
    assert len(rows(by_accept.text)) == 1 + 4
    purchases = await caja.http.get(f"{A}/purchases", headers=admin, params={"format": "csv"})
    assert rows(purchases.text)[0][0] == "token"
    assert len(rows(purchases.text)) == 1
    found = await caja.http.get(
        f"{A}/search", headers=admin, params={"q": done.tokens[0], "format": "csv"}
    )
    assert [row[:2] for row in rows(found.text)] == [["kind", "id"], ["transfer", done.tokens[0]]]

    assert await audit_count(caja) == 4
    trail = await get(caja, admin, "/audit")
    assert [entry["action"] for entry in trail["data"]] == ["export"] * 4
    assert trail["data"][-1]["parameters"] == {"list": "transfers", "surface": "ledger_v1"}
    assert trail["data"][0]["parameters"] == {"list": "search", "q": done.tokens[0]}
    assert trail["data"][0]["client_name"] == "ops"
    assert await audit_count(caja) == 4  # reading the trail records nothing


async def test_a_csv_export_streams_every_page(caja: Caja, admin: dict[str, str]) -> None:
    key = await caja.client_key("ledger:admin")
    account = (await caja.account(key))["token"]
    await funded_by_the_peso(caja, account, 520)

    response = await caja.http.get(f"{A}/transfers", headers=admin, params={"format": "csv"})

    table = rows(response.text)
    assert len(table) == 1 + 520
    assert len({row[0] for row in table[1:]}) == 520


async def test_the_admin_api_is_documented_with_examples_and_its_key(caja: Caja) -> None:
    spec = (await caja.http.get("/openapi.json")).json()

    operations = {
        (method.upper(), path): operation
        for path, methods in spec["paths"].items()
        if path.startswith(A)
        for method, operation in methods.items()
    }
    expected = {(method, documented_path(path)) for method, path in ENDPOINTS}
    assert set(operations) == expected
    assert len(operations) == len(ENDPOINTS)
    assert spec["components"]["securitySchemes"]["AdminKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-Admin-Key",
        "description": "The API key of a client with the `admin` scope.",
    }
    for operation in operations.values():
        assert operation["tags"] == ["Admin"]
        assert operation["security"] == [{"AdminKey": []}]
        ok = operation["responses"]["200"]["content"]["application/json"]
        assert ok["schema"]
        assert ok["example"] is not None
        assert {"401", "403"} <= set(operation["responses"])


async def test_every_list_page_and_lookup_reads_through_an_index(
    caja: Caja, admin: dict[str, str]
) -> None:
    """The database's plan of each statement the console's reads run: none scans a whole
    table of the ledger or the purchases (a scan of a few rows, such as assets, is fine).
    On PostgreSQL sequential scans are priced out first, so a scan left in the plan is one
    no index can replace (on a few rows the planner would choose a scan anyway)."""
    done = await moved(caja, 2)
    statements: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    engine = caja.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        for path, params in [
            ("/transfers", {"cursor": "3"}),
            ("/transfers", {"surface": "ledger_v1", "cursor": "3"}),
            ("/transfers", {"status": "voided"}),
            ("/transfers", {"client": "cli-x"}),
            ("/transfers", {"account": done.second, "cursor": "3"}),
            ("/transfers", {"from": "2026-01-01", "to": "2026-01-31"}),
            (f"/transfers/{done.tokens[0]}", {}),
            (f"/accounts/{done.first}", {}),
            (f"/accounts/{done.first}/entries", {"cursor": "3"}),
            ("/purchases", {"status": "unknown", "cursor": "3"}),
            ("/purchases", {"kind": "package"}),
            ("/search", {"q": "3001234567"}),
            ("/audit", {}),
        ]:
            await get(caja, admin, path, **params)
    finally:
        event.remove(engine, "before_cursor_execute", seen)

    if caja.database.is_sqlite:
        plans = _sqlite_plans(caja.database.url, statements)
    else:
        plans = await _postgres_plans(caja.database.url, statements)
    scans = [(line, statement) for statement, plan in plans for line in plan if _SCAN.search(line)]
    assert len(statements) > 20
    assert scans == []


_TABLES = r"(transfers|entries|purchases|accounts|wallet_\w+|deposit_\w+)\b"
# SQLite says "SCAN transfers"; PostgreSQL "Seq Scan on transfers".
_SCAN = re.compile(rf"^\s*(->\s*)?(SCAN {_TABLES}|Seq Scan on {_TABLES})")


def _sqlite_plans(url: str, statements: list[tuple[str, Any]]) -> list[tuple[str, list[str]]]:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
        return [
            (
                statement,
                [
                    row[-1]
                    for row in connection.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)
                ],
            )
            for statement, parameters in statements
        ]


async def _postgres_plans(
    url: str, statements: list[tuple[str, Any]]
) -> list[tuple[str, list[str]]]:
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await connection.execute("SET enable_seqscan = off")
        return [
            (
                statement,
                [row[0] for row in await connection.fetch(f"EXPLAIN {statement}", *parameters)],
            )
            for statement, parameters in statements
        ]
    finally:
        await connection.close()
