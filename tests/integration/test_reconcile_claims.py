"""Reconcilers running at once claim the open purchases they ask about: each purchase is
asked about by one of them and settled once, and a claim left by a reconciler that died
is taken up again once its lease ends."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from caja.app import create_app
from caja.core.clock import utcnow
from caja.db.engine import Database
from caja.ledger.tables import transfers
from caja.providers.operator import Answer, HttpOperator, OperatorGateway, PurchaseRequest
from caja.providers.sandbox_operator import SandboxOperator, create_sandbox_app
from caja.topups import service
from caja.topups.service import CLAIM_GROUP, CLAIM_LEASE, Reconciled, reconcile
from caja.topups.tables import purchases
from tests.gateway import GATEWAY, merchant, topup_body
from tests.helpers import Caja, Clock

pytestmark = pytest.mark.anyio

TIMEOUT = 0.2


class Counting:
    """An operator gateway that counts the status questions per purchase and fails the
    test when one purchase is asked about twice at the same time."""

    def __init__(self, inner: OperatorGateway, pause: float = 0.005) -> None:
        self.inner = inner
        self.pause = pause
        self.asked: Counter[str] = Counter()
        self.in_flight: set[str] = set()
        self.overlaps: list[str] = []
        self.hang = False
        self.started = asyncio.Event()

    async def send(self, request: PurchaseRequest) -> Answer:
        return await self.inner.send(request)

    async def status(self, reference: str) -> Answer:
        if reference in self.in_flight:
            self.overlaps.append(reference)
        self.in_flight.add(reference)
        self.asked[reference] += 1
        self.started.set()
        try:
            if self.hang:
                await asyncio.Event().wait()
            await asyncio.sleep(self.pause)  # let the other reconcilers run meanwhile
            return await self.inner.status(reference)
        finally:
            self.in_flight.discard(reference)

    async def close(self) -> None:
        await self.inner.close()


@pytest.fixture
def sandbox() -> SandboxOperator:
    return SandboxOperator()


@pytest.fixture
def operator(sandbox: SandboxOperator) -> HttpOperator:
    transport = httpx.ASGITransport(app=create_sandbox_app(sandbox))
    return HttpOperator("http://operator.test", timeout=TIMEOUT, transport=transport)


@pytest.fixture
def app(database: Database, operator: HttpOperator) -> FastAPI:
    return create_app(database, operator)


@pytest.fixture
async def databases(database_url: str) -> AsyncIterator[list[Database]]:
    """Three databases over the test's one, as three processes would have."""
    opened = [Database(database_url) for _ in range(3)]
    yield opened
    for database in opened:
        await database.dispose()


async def open_purchases(
    caja: Caja, http: httpx.AsyncClient, sandbox: SandboxOperator, count: int
) -> list[str]:
    """``count`` top-ups the operator performed but answered too late (left open); every
    third it rejects meanwhile. Their tokens."""
    who = await merchant(caja.database, funds=100_000)
    sandbox.delay_ms = int(TIMEOUT * 1000 * 3)
    answers = await asyncio.gather(
        *(
            http.post(f"{GATEWAY}/topup_account", json=topup_body(), headers=who.headers)
            for _ in range(count)
        )
    )
    sandbox.delay_ms = 0
    assert {answer.status_code for answer in answers} == {502}
    tokens = [answer.json()["token"] for answer in answers]
    for token in tokens[::3]:
        sandbox.records[token].status = "rejected"
    return tokens


async def nothing(*_args: object) -> None:
    pass


async def settled_holds(database: Database) -> Counter[str]:
    async with database.read() as connection:
        rows = await connection.execute(
            select(transfers.c.kind, func.count())
            .where(transfers.c.kind.in_(["post_pending", "void_pending"]))
            .group_by(transfers.c.kind)
        )
        return Counter({kind: count for kind, count in rows.all()})


async def open_count(database: Database) -> int:
    async with database.read() as connection:
        return (
            await connection.execute(
                select(func.count())
                .select_from(purchases)
                .where(purchases.c.status.in_(["created", "in_progress", "unknown"]))
            )
        ).scalar_one()


async def test_three_reconcilers_at_once_ask_about_and_settle_each_purchase_once(
    caja: Caja,
    http: httpx.AsyncClient,
    sandbox: SandboxOperator,
    operator: HttpOperator,
    databases: list[Database],
) -> None:
    tokens = await open_purchases(caja, http, sandbox, 30)
    gateway = Counting(operator)

    rounds = await asyncio.gather(*(reconcile(database, gateway) for database in databases))

    assert gateway.overlaps == []
    assert gateway.asked == Counter(dict.fromkeys(tokens, 1))
    assert sum(done.checked for done in rounds) == 30
    assert sum(done.authorized for done in rounds) == 20
    assert sum(done.rejected for done in rounds) == 10
    assert sum(done.still_open for done in rounds) == 0
    assert await settled_holds(caja.database) == {"post_pending": 20, "void_pending": 10}
    assert await open_count(caja.database) == 0
    async with caja.database.read() as connection:
        claims = await connection.execute(
            select(func.count()).where(purchases.c.reconcile_claimed_until.is_not(None))
        )
        assert claims.scalar_one() == 0
    assert (await caja.verify()).ok


async def test_a_claim_left_by_a_reconciler_that_died_is_taken_up_after_its_lease(
    caja: Caja,
    http: httpx.AsyncClient,
    sandbox: SandboxOperator,
    operator: HttpOperator,
    databases: list[Database],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tokens = await open_purchases(caja, http, sandbox, CLAIM_GROUP + 2)
    dying = Counting(operator)
    dying.hang = True
    with monkeypatch.context() as patch:
        # Dies while asking about its first claimed purchase, before it can release them.
        patch.setattr(service, "_release", nothing)
        first = asyncio.create_task(reconcile(databases[0], dying))
        await dying.started.wait()
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first

    gateway = Counting(operator)
    others = await reconcile(databases[1], gateway)
    again = await reconcile(databases[2], gateway)

    # The dead reconciler's group stays claimed until its lease ends.
    assert (others.checked, others.authorized + others.rejected) == (2, 2)
    assert again == Reconciled()
    assert await open_count(caja.database) == CLAIM_GROUP
    later_clock = Clock(utcnow() + CLAIM_LEASE + timedelta(seconds=1))
    monkeypatch.setattr(service, "database_now", lambda _connection: later_clock())

    later = await reconcile(databases[2], gateway)

    assert (later.checked, later.authorized + later.rejected) == (CLAIM_GROUP, CLAIM_GROUP)
    assert gateway.asked == Counter(dict.fromkeys(tokens, 1))
    assert await open_count(caja.database) == 0
    assert sum((await settled_holds(caja.database)).values()) == CLAIM_GROUP + 2
    assert (await caja.verify()).ok
