"""Money held, posted, returned: concurrency, timeouts, reconciliation and the tie-out
between a merchant's purchases and its ledger entries."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from caja.app import create_app
from caja.clients.service import authenticate, key_digest
from caja.db.engine import Database
from caja.ledger.tables import transfers
from caja.providers.operator import HttpOperator
from caja.providers.sandbox_operator import SandboxOperator, create_sandbox_app
from caja.topups.service import Merchant as MerchantAccount
from caja.topups.service import merchant as merchant_of
from caja.topups.service import reconcile, spent
from caja.topups.tables import purchases
from tests.gateway import GATEWAY, Merchant, merchant, package_body, topup_body
from tests.helpers import Caja

pytestmark = pytest.mark.anyio

TIMEOUT = 0.2


async def balance(http: httpx.AsyncClient, who: Merchant) -> dict[str, int]:
    response = await http.get(f"{GATEWAY}/merchant/balance", headers=who.headers)
    assert response.status_code == 200, response.text
    body: dict[str, int] = response.json()
    return body


async def ledger_view(database: Database, who: Merchant) -> MerchantAccount:
    principal = await authenticate(database, who.api_key)
    digest = key_digest(who.api_key)
    assert digest is not None
    return await merchant_of(database, principal, digest)


@pytest.fixture
def sandbox() -> SandboxOperator:
    return SandboxOperator()


@pytest.fixture
def operator(sandbox: SandboxOperator) -> HttpOperator:
    """The sandbox operator behind HTTP, with a short timeout."""
    transport = httpx.ASGITransport(app=create_sandbox_app(sandbox))
    return HttpOperator("http://operator.test", timeout=TIMEOUT, transport=transport)


@pytest.fixture
def app(database: Database, operator: HttpOperator) -> FastAPI:
    return create_app(database, operator)


@pytest.fixture
async def slow(sandbox: SandboxOperator) -> AsyncIterator[None]:
    """The operator takes longer than the timeout to answer (it still performs)."""
    sandbox.delay_ms = int(TIMEOUT * 1000 * 3)
    yield
    sandbox.delay_ms = 0


async def test_thirty_concurrent_topups_spend_exactly_balance_plus_max_loan(
    caja: Caja, http: httpx.AsyncClient
) -> None:
    who = await merchant(caja.database, funds=5000, max_loan=5000)

    answers = await asyncio.gather(
        *(
            http.post(f"{GATEWAY}/topup_account", json=topup_body(), headers=who.headers)
            for _ in range(30)
        )
    )

    assert Counter(r.status_code for r in answers) == {200: 10, 402: 20}
    assert {r.json()["status"] for r in answers if r.status_code == 200} == {"authorized"}
    assert await balance(http, who) == {"balance": -5000, "max_loan_amount": 5000}
    assert (await caja.verify()).ok


@pytest.mark.parametrize(
    ("path", "make"), [("topup_account", topup_body), ("package_buy", package_body)]
)
async def test_ten_concurrent_requests_with_one_token_make_one_purchase(
    caja: Caja, http: httpx.AsyncClient, path: str, make: object
) -> None:
    who = await merchant(caja.database, funds=100_000)
    assert callable(make)
    body = make()

    answers = await asyncio.gather(
        *(http.post(f"{GATEWAY}/{path}", json=body, headers=who.headers) for _ in range(10))
    )

    codes = Counter(r.status_code for r in answers)
    assert codes[200] == 1
    assert codes[409] + codes[422] == 9
    async with caja.database.read() as connection:
        count = (await connection.execute(select(func.count()).select_from(purchases))).scalar()
    assert count == 1
    assert (await balance(http, who))["balance"] == 100_000 - body["amount"]


async def test_a_timed_out_topup_is_unknown_holds_the_money_and_settles_authorized(
    caja: Caja, http: httpx.AsyncClient, operator: HttpOperator, slow: None
) -> None:
    who = await merchant(caja.database, funds=10_000)

    response = await http.post(f"{GATEWAY}/topup_account", json=topup_body(), headers=who.headers)

    assert response.status_code == 502
    assert response.json()["status"] == "unknown"
    assert (await balance(http, who))["balance"] == 9000
    done = await reconcile(caja.database, operator)
    assert (done.checked, done.authorized, done.rejected) == (1, 1, 0)
    token = response.json()["idempotency_token"]
    stored = await http.get(f"{GATEWAY}/topup_account/{token}", headers=who.headers)
    assert stored.json()["status"] == "authorized"
    assert stored.json()["external_gateway_auth_code"] is not None
    assert (await balance(http, who))["balance"] == 9000
    assert await spent(caja.database, await ledger_view(caja.database, who)) == (1000, 1000)
    assert (await caja.verify()).ok


async def test_a_timed_out_topup_the_operator_later_rejects_gives_the_money_back(
    caja: Caja,
    http: httpx.AsyncClient,
    operator: HttpOperator,
    sandbox: SandboxOperator,
    slow: None,
) -> None:
    who = await merchant(caja.database, funds=10_000)
    response = await http.post(f"{GATEWAY}/topup_account", json=topup_body(), headers=who.headers)
    assert response.status_code == 502
    sandbox.records[response.json()["token"]].status = "rejected"

    done = await reconcile(caja.database, operator)

    assert (done.authorized, done.rejected) == (0, 1)
    assert (await balance(http, who))["balance"] == 10_000
    token = response.json()["idempotency_token"]
    stored = await http.get(f"{GATEWAY}/topup_account/{token}", headers=who.headers)
    assert stored.json()["status"] == "rejected"
    assert await spent(caja.database, await ledger_view(caja.database, who)) == (0, 0)
    # Every step is in the ledger: the hold, then its void.
    async with caja.database.read() as connection:
        kinds = (await connection.execute(select(transfers.c.kind).order_by(transfers.c.id))).all()
    assert [kind for (kind,) in kinds][-2:] == ["pending", "void_pending"]
    assert (await caja.verify()).ok


async def test_reconciling_leaves_purchases_the_operator_still_processes(
    caja: Caja, http: httpx.AsyncClient, operator: HttpOperator, sandbox: SandboxOperator
) -> None:
    who = await merchant(caja.database, funds=10_000)
    response = await http.post(
        f"{GATEWAY}/package_buy", json=package_body("3110007777"), headers=who.headers
    )
    assert response.json()["status"] == "IN_PROGRESS"
    sandbox.records[response.json()["token"]].status = "pending"

    done = await reconcile(caja.database, operator)

    assert (done.checked, done.still_open) == (1, 1)
    assert (await balance(http, who))["balance"] == 2500


async def test_a_purchase_the_operator_never_received_is_rejected_only_after_the_grace(
    caja: Caja, http: httpx.AsyncClient, operator: HttpOperator, sandbox: SandboxOperator
) -> None:
    who = await merchant(caja.database, funds=10_000)
    sandbox.fail_status = 503  # down: answers an error without recording anything
    response = await http.post(f"{GATEWAY}/topup_account", json=topup_body(), headers=who.headers)
    sandbox.fail_status = None
    assert response.status_code == 500
    assert response.json()["status"] == "in_progress"

    waiting = await reconcile(caja.database, operator, not_found_after=timedelta(hours=1))
    assert (waiting.checked, waiting.still_open) == (1, 1)
    assert (await balance(http, who))["balance"] == 9000

    done = await reconcile(caja.database, operator, not_found_after=timedelta(0))
    assert done.rejected == 1
    assert (await balance(http, who))["balance"] == 10_000
    assert (await caja.verify()).ok


async def test_reconciling_twice_settles_once(
    caja: Caja, http: httpx.AsyncClient, operator: HttpOperator
) -> None:
    who = await merchant(caja.database, funds=10_000)
    for number in ("3110002222", "3110003333", "3110004444"):
        await http.post(f"{GATEWAY}/topup_account", json=topup_body(number), headers=who.headers)
    assert (await balance(http, who))["balance"] == 7000

    first, second = await asyncio.gather(
        reconcile(caja.database, operator), reconcile(caja.database, operator)
    )

    # The sandbox settles 2222 and 4444 as authorized, 3333 as rejected.
    assert first.authorized + second.authorized == 2
    assert first.rejected + second.rejected == 1
    assert (await balance(http, who))["balance"] == 8000
    assert await spent(caja.database, await ledger_view(caja.database, who)) == (2000, 2000)
    assert (await caja.verify()).ok


async def test_merchant_ledger_ties_out_with_its_authorized_purchases(
    caja: Caja, http: httpx.AsyncClient
) -> None:
    who = await merchant(caja.database, funds=50_000, max_loan=1000)
    numbers = ["3110001111", "3110005555", "3110002222", "3110001111", "3110009999"]
    for number in numbers:
        await http.post(f"{GATEWAY}/topup_account", json=topup_body(number), headers=who.headers)
    for number in ("3110001111", "3110000000", "3110007777"):
        await http.post(f"{GATEWAY}/package_buy", json=package_body(number), headers=who.headers)

    moved, authorized = await spent(caja.database, await ledger_view(caja.database, who))

    assert moved == authorized == 3 * 1000 + 7500
    # Held: one unknown top-up and one package in progress.
    assert (await balance(http, who))["balance"] == 50_000 - moved - 1000 - 7500


async def test_verify_names_a_purchase_whose_status_disagrees_with_its_hold(
    caja: Caja, http: httpx.AsyncClient
) -> None:
    who = await merchant(caja.database, funds=10_000)
    response = await http.post(
        f"{GATEWAY}/topup_account", json=topup_body("3110005555"), headers=who.headers
    )
    assert response.status_code == 503
    assert (await caja.verify()).ok

    def tamper(connection: Connection) -> None:
        connection.execute(
            update(purchases)
            .where(purchases.c.token == response.json()["token"])
            .values(status="authorized")
        )

    await caja.database.write(tamper)

    report = await caja.verify()
    [failed] = [check for check in report.checks if check.violations]
    assert failed.name == "every purchase's hold matches its status and amount"
    assert response.json()["token"] in failed.examples[0]
