"""What the ops console runs: reconcile now, run verify; each recorded in the audit trail,
and purchases listed by kind and status."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from caja.app import create_app
from caja.core.clock import BOGOTA, utcnow
from caja.db.engine import Database
from caja.ops.tables import admin_audit, verify_runs
from caja.providers.operator import HttpOperator
from caja.providers.sandbox_operator import SandboxOperator, create_sandbox_app
from tests.gateway import GATEWAY, merchant, package_body, topup_body
from tests.helpers import Caja

pytestmark = pytest.mark.anyio

A = "/admin/api"
TIMEOUT = 0.2


@pytest.fixture
def sandbox() -> SandboxOperator:
    return SandboxOperator()


@pytest.fixture
def app(database: Database, sandbox: SandboxOperator) -> FastAPI:
    """The app with the sandbox operator behind HTTP and a short timeout."""
    transport = httpx.ASGITransport(app=create_sandbox_app(sandbox))
    operator = HttpOperator("http://operator.test", timeout=TIMEOUT, transport=transport)
    return create_app(database, operator)


@pytest.fixture
async def admin(caja: Caja) -> dict[str, str]:
    return {"X-Admin-Key": await caja.client_key("admin", name="ops")}


@pytest.fixture
async def slow(sandbox: SandboxOperator) -> AsyncIterator[None]:
    """The operator answers after the timeout (it still performs)."""
    sandbox.delay_ms = int(TIMEOUT * 1000 * 3)
    yield
    sandbox.delay_ms = 0


async def trail(database: Database) -> list[Any]:
    async with database.read() as connection:
        return list(
            (await connection.execute(select(admin_audit).order_by(admin_audit.c.id))).all()
        )


async def test_reconcile_now_settles_an_unknown_topup_and_is_recorded(
    caja: Caja, http: httpx.AsyncClient, admin: dict[str, str], sandbox: SandboxOperator, slow: None
) -> None:
    who = await merchant(caja.database, funds=10_000)
    bought = await http.post(f"{GATEWAY}/topup_account", json=topup_body(), headers=who.headers)
    assert bought.json()["status"] == "unknown"
    unknown = await http.get(f"{A}/purchases", params={"status": "unknown"}, headers=admin)
    assert len(unknown.json()["data"]) == 1
    sandbox.delay_ms = 0

    response = await http.post(f"{A}/purchases/reconcile", headers=admin)

    assert response.status_code == 200, response.text
    assert response.json() == {"checked": 1, "authorized": 1, "rejected": 0, "still_open": 0}
    after = await http.get(f"{A}/purchases", params={"status": "unknown"}, headers=admin)
    assert after.json()["data"] == []
    settled = await http.get(f"{A}/purchases", params={"status": "authorized"}, headers=admin)
    assert [row["reference"] for row in settled.json()["data"]] == [
        bought.json()["idempotency_token"]
    ]
    rows = await trail(caja.database)
    assert [(row.action, row.parameters) for row in rows] == [
        ("reconcile", '{"authorized": 1, "checked": 1, "rejected": 0, "still_open": 0}')
    ]
    assert (utcnow() - rows[0].at).total_seconds() < 60
    listed = (await http.get(f"{A}/audit", headers=admin)).json()
    assert listed["data"][0]["client_name"] == "ops"
    assert listed["data"][0]["parameters"]["authorized"] == 1


async def test_purchases_are_listed_by_kind_status_and_day_a_page_at_a_time(
    caja: Caja, http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    who = await merchant(caja.database, funds=100_000)
    for _ in range(3):
        done = await http.post(f"{GATEWAY}/topup_account", json=topup_body(), headers=who.headers)
        assert done.status_code == 200, done.text
    done = await http.post(f"{GATEWAY}/package_buy", json=package_body(), headers=who.headers)
    assert done.status_code == 200, done.text
    today = utcnow().astimezone(BOGOTA).date().isoformat()

    async def listed(**params: Any) -> dict[str, Any]:
        response = await http.get(f"{A}/purchases", params=params, headers=admin)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    everything = await listed()
    assert [row["kind"] for row in everything["data"]] == ["package", "topup", "topup", "topup"]
    assert everything["data"][0]["amount"] == 7500
    first = await listed(kind="topup", limit=2)
    assert len(first["data"]) == 2
    second = await listed(kind="topup", limit=2, cursor=first["next_cursor"])
    assert len(second["data"]) == 1
    assert second["next_cursor"] is None
    tokens = {row["token"] for row in first["data"] + second["data"]}
    assert len(tokens) == 3
    assert (await listed(status="authorized", **{"from": today, "to": today}))["data"] != []
    assert (await listed(status="rejected"))["data"] == []
    assert (await listed(to="2020-01-01"))["data"] == []
    bad = await http.get(f"{A}/purchases", params={"kind": "gift"}, headers=admin)
    assert bad.status_code == 400


async def test_run_verify_answers_the_report_records_it_and_shows_it_last(
    caja: Caja, http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    assert (await http.get(f"{A}/verify", headers=admin)).json() is None
    key = await caja.client_key("ledger:admin")
    await caja.fund((await caja.account(key))["token"], "10.00")

    response = await http.post(f"{A}/verify", headers=admin)

    assert response.status_code == 200, response.text
    report = response.json()
    assert report["ok"] is True
    assert report["violations"] == 0
    assert report["transfers"] == 1
    names = [check["name"] for check in report["checks"]]
    assert names[0] == "every balance equals the sum of its entries"
    assert names[-1] == "the journal's hash chain is unbroken"
    assert all(check["violations"] == 0 and check["detail"] == [] for check in report["checks"])
    async with caja.database.read() as connection:
        runs = (await connection.execute(select(verify_runs))).all()
    assert [(run.ok, run.violations, run.transfers) for run in runs] == [(True, 0, 1)]
    assert (await http.get(f"{A}/verify", headers=admin)).json() == report
    summary = (await http.get(f"{A}/summary", headers=admin)).json()
    assert summary["last_verify"]["ok"] is True
    assert [(row.action, row.parameters) for row in await trail(caja.database)] == [
        ("verify", '{"ok": true}')
    ]


async def test_the_audit_trail_is_paged_newest_first(
    caja: Caja, http: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    for _ in range(3):
        assert (await http.post(f"{A}/verify", headers=admin)).status_code == 200

    first = (await http.get(f"{A}/audit", params={"limit": 2}, headers=admin)).json()
    rest = (
        await http.get(f"{A}/audit", params={"cursor": first["next_cursor"]}, headers=admin)
    ).json()

    ids = [row["id"] for row in first["data"] + rest["data"]]
    assert ids == sorted(ids, reverse=True)
    assert len(ids) == 3
    assert rest["next_cursor"] is None
