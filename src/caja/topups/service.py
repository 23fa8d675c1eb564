"""Mobile top-ups and data packages that merchants buy from the operators.

A purchase moves money in two steps, never around a call to the operator:

1. One transaction holds the merchant's money (a pending transfer to the operators'
   system account, through the batcher like every ledger write) and records the purchase
   as ``created``. The hold carries the purchase's idempotency token, so two requests with
   one token make one purchase; the second learns whether the first is still in flight.
2. The operator is asked. A second transaction records its answer: authorized posts the
   hold, rejected voids it (the merchant has the money back), anything else leaves it
   held, ``in_progress`` or ``unknown``, for :func:`reconcile` to settle later by asking
   the operator again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.engine import Connection

from caja.clients.service import MERCHANT_ASSET, Principal, authorize, max_loan
from caja.core.clock import bogota_days, database_now
from caja.core.errors import AlreadyResolved, DuplicateRequest, Forbidden, NotFound, Unauthorized
from caja.core.tokens import digest_key, new_token
from caja.db.engine import Database
from caja.ledger import events
from caja.ledger.accounts import AccountKind, system_account_id
from caja.ledger.batching import Batcher, Lookups, NewEvent, Order
from caja.ledger.model import NewTransfer, ResolvePending, Result
from caja.ledger.queries import account_by, net_between
from caja.providers.operator import Answer, OperatorGateway, Outcome, PurchaseRequest
from caja.topups.public import purchase_json
from caja.topups.tables import purchases

__all__ = [
    "OPEN",
    "Bought",
    "Kind",
    "Merchant",
    "Purchase",
    "PurchaseData",
    "Reconciled",
    "Status",
    "balance",
    "buy",
    "get_purchase",
    "history",
    "merchant",
    "reconcile",
    "reconcile_forever",
    "spent",
]

log = logging.getLogger("caja.topups")

PESO = 100  # minor units of a peso in the ledger


class Kind(StrEnum):
    TOPUP = "topup"
    PACKAGE = "package"


class Status(StrEnum):
    CREATED = "created"  # money held, the operator not answered yet
    IN_PROGRESS = "in_progress"
    UNKNOWN = "unknown"
    AUTHORIZED = "authorized"
    REJECTED = "rejected"


OPEN = (Status.CREATED, Status.IN_PROGRESS, Status.UNKNOWN)
_STATUS_OF = {
    Outcome.AUTHORIZED: Status.AUTHORIZED,
    Outcome.REJECTED: Status.REJECTED,
    Outcome.PENDING: Status.IN_PROGRESS,
    Outcome.DUPLICATE: Status.IN_PROGRESS,
    Outcome.FAILED: Status.IN_PROGRESS,
    Outcome.NO_ANSWER: Status.UNKNOWN,
}
# Any body reuses a token: the first request's purchase answers for it.
_ANY_BODY = "purchase"


@dataclass(frozen=True, slots=True)
class Merchant:
    client_id: int
    key_digest: str
    account_id: int
    account_token: str
    operators_account_id: int


@dataclass(frozen=True, slots=True)
class PurchaseData:
    """A validated purchase request; amounts in whole pesos."""

    kind: Kind
    idempotency_token: str
    destination_number: str
    amount: int
    payment_token: str
    payment_origin: str | None
    route: str
    service_provider: str | None = None
    provider_code: str | None = None
    package_code: str | None = None


@dataclass(frozen=True, slots=True)
class Purchase:
    """A stored purchase (one row of ``purchases``)."""

    id: int
    token: str
    client_id: int
    kind: str
    idempotency_token: str
    destination_number: str
    service_provider: str | None
    provider_code: str | None
    package_code: str | None
    amount: int
    payment_token: str
    payment_origin: str | None
    route: str
    status: str
    result_code: int | None
    external_gateway_auth_code: str | None
    gateway_topup_token: str | None
    hold_transfer_id: int
    created_at: datetime
    updated_at: datetime


_COLUMNS = [purchases.c[f.name] for f in fields(Purchase)]


def _purchase(row: Any) -> Purchase:
    return Purchase(*row)


def _updated(purchase: Purchase, transfer_id: int) -> NewEvent:
    """The event of a purchase's status change (its creation included): the purchase as
    its GET answers it, with the status after the change."""
    kind = "topup" if purchase.kind == Kind.TOPUP.value else "package"
    return NewEvent(f"{kind}.updated", purchase.client_id, purchase_json(purchase), transfer_id)


def _events_of(stored: list[Purchase]) -> Callable[[Result], tuple[NewEvent]]:
    """The ``events`` of an order whose ``record`` stored the purchase as it now stands."""

    def made(result: Result) -> tuple[NewEvent]:
        assert result.transfer is not None
        return (_updated(stored[-1], result.transfer.id),)

    return made


@dataclass(frozen=True, slots=True)
class Bought:
    """A purchase as it stands after this request, and how the operator answered it."""

    purchase: Purchase
    answer: Outcome


async def merchant(database: Database, principal: Principal | None, key_digest: str) -> Merchant:
    """The merchant a key stands for; 401 without a valid key, 403 without the scope."""
    principal = authorize(principal, "topup")

    def find(connection: Connection) -> Merchant:
        account = account_by(connection, client_id=principal.client_id, kind=AccountKind.MERCHANT)
        if account is None:
            raise Forbidden()
        operators = system_account_id(connection, MERCHANT_ASSET, "operators")
        return Merchant(principal.client_id, key_digest, account.id, account.token, operators)

    async with database.read() as connection:
        return await connection.run_sync(find)


async def balance(database: Database, who: Merchant) -> tuple[int, int]:
    """What the merchant can spend (its balance less held money) and its max loan, in
    whole pesos."""

    def read(connection: Connection) -> tuple[int, int]:
        account = account_by(connection, account_id=who.account_id)
        assert account is not None
        return account.available_minor, max_loan(connection, who.client_id)

    async with database.read() as connection:
        available, loan = await connection.run_sync(read)
    return available // PESO, loan // PESO


def _hold_order(who: Merchant, data: PurchaseData, token: str, stored: list[Purchase]) -> Order:
    def build(lookups: Lookups) -> NewTransfer:
        if lookups.principal(who.key_digest) is None:  # revoked since it was checked
            raise Unauthorized()
        return NewTransfer(
            client_id=who.client_id,
            surface=data.kind.value,
            # Tokens may be longer than the ledger's keys: the key is the token's digest.
            idempotency_key=digest_key(data.idempotency_token),
            request=(_ANY_BODY,),
            any_body=True,
            description=f"{data.kind.value} {token}",
            debit_account_id=who.account_id,
            credit_account_id=who.operators_account_id,
            amount_minor=data.amount * PESO,
            pending=True,
        )

    def record(connection: Connection, result: Result) -> None:
        assert result.transfer is not None
        now = result.transfer.created_at
        values: dict[str, Any] = {
            **asdict(data),
            "kind": data.kind.value,
            "token": token,
            "client_id": who.client_id,
            "status": Status.CREATED.value,
            "result_code": None,
            "external_gateway_auth_code": None,
            "gateway_topup_token": None,
            "hold_transfer_id": result.transfer.id,
            "created_at": now,
            "updated_at": now,
        }
        purchase_id = connection.execute(
            insert(purchases).values(values).returning(purchases.c.id)
        ).scalar_one()
        # A transaction run again after a conflict records again: keep the last.
        stored[:] = [Purchase(id=purchase_id, **values)]

    return Order(
        build,
        key_digests=(who.key_digest,),
        account_tokens=(who.account_token,),
        record=record,
        events=_events_of(stored),
    )


async def buy(
    batcher: Batcher, gateway: OperatorGateway, who: Merchant, data: PurchaseData
) -> Bought:
    """Hold the money, ask the operator, record its answer.

    Raises NoFunds (402) when balance plus max loan does not cover the amount, and
    DuplicateRequest when the idempotency token was already used.
    """
    token = new_token("topup" if data.kind is Kind.TOPUP else "pkg")
    stored: list[Purchase] = []
    result = await batcher.submit(_hold_order(who, data, token, stored))
    if result.error is not None:
        raise result.error
    if result.replayed:
        earlier = await get_purchase(
            batcher.database, who.client_id, data.kind, data.idempotency_token
        )
        raise DuplicateRequest(in_flight=earlier.status == Status.CREATED)
    [held] = stored
    answer = await gateway.send(
        PurchaseRequest(
            reference=token,
            kind=data.kind.value,
            destination_number=data.destination_number,
            amount=data.amount,
            operator=data.service_provider,
            provider_code=data.provider_code,
            package_code=data.package_code,
        )
    )
    try:
        purchase, _ = await _record_answer(batcher, held, answer)
    except Exception:
        # The hold stands and the purchase stays "created": reconciliation settles it.
        log.exception("recording the operator's answer for %s failed", token)
        return Bought(replace(held, status=Status.UNKNOWN.value), Outcome.NO_ANSWER)
    return Bought(purchase, answer.outcome)


async def _read(database: Database, purchase_id: int) -> Purchase:
    async with database.read() as connection:
        row = (
            await connection.execute(select(*_COLUMNS).where(purchases.c.id == purchase_id))
        ).one()
    return _purchase(row)


def _changes(answer: Answer, status: Status) -> dict[str, Any]:
    changes: dict[str, Any] = {"status": status.value}
    if answer.result_code is not None:
        changes["result_code"] = answer.result_code
    if answer.auth_code is not None:
        changes["external_gateway_auth_code"] = answer.auth_code
    if answer.operator_reference is not None:
        changes["gateway_topup_token"] = answer.operator_reference
    return changes


def _resolve_order(purchase: Purchase, changes: dict[str, Any], post: bool) -> Order:
    """Post or void the purchase's hold and record its final status, and its event, in one
    transaction: the status of a purchase and the state of its hold never disagree."""
    stored: list[Purchase] = []

    def build(_lookups: Lookups) -> ResolvePending:
        return ResolvePending(
            client_id=purchase.client_id,
            surface=purchase.kind,
            description=f"{purchase.kind} {purchase.token} {changes['status']}",
            pending_transfer_id=purchase.hold_transfer_id,
            post=post,
        )

    def record(connection: Connection, result: Result) -> None:
        assert result.transfer is not None
        changes["updated_at"] = result.transfer.created_at  # the database's clock
        row = connection.execute(
            update(purchases)
            .where(purchases.c.id == purchase.id)
            .values(changes)
            .returning(*_COLUMNS)
        ).one()
        stored[:] = [_purchase(row)]

    return Order(build, record=record, events=_events_of(stored))


async def _record_answer(
    batcher: Batcher, purchase: Purchase, answer: Answer
) -> tuple[Purchase, bool]:
    """Record the operator's answer for an open purchase: a final one posts or voids the
    hold (in a batch, like every ledger write), any other only updates the status. A
    purchase already settled is left as it is.

    Returns the purchase as it stands, and whether this call changed it.
    """
    status = _STATUS_OF.get(answer.outcome)
    if purchase.status not in OPEN or status is None:
        return purchase, False
    changes = _changes(answer, status)
    if answer.final:
        result = await batcher.submit(
            _resolve_order(purchase, changes, post=answer.outcome is Outcome.AUTHORIZED)
        )
        if result.error is None:
            return replace(purchase, **changes), True
        if not isinstance(result.error, AlreadyResolved):
            raise result.error
        # Settled meanwhile by another request or reconciliation.
        return await _read(batcher.database, purchase.id), False

    def work(connection: Connection) -> Purchase | None:
        row = connection.execute(
            update(purchases)
            .where(purchases.c.id == purchase.id, purchases.c.status.in_([s.value for s in OPEN]))
            .values({**changes, "updated_at": database_now(connection)})
            .returning(*_COLUMNS)
        ).first()
        if row is None:
            return None
        changed = _purchase(row)
        events.append(connection, [_updated(changed, changed.hold_transfer_id)])
        return changed

    changed = await batcher.database.write(work)
    if changed is None:
        return await _read(batcher.database, purchase.id), False
    return changed, True


async def get_purchase(
    database: Database, client_id: int, kind: Kind, idempotency_token: str
) -> Purchase:
    async with database.read() as connection:
        row = (
            await connection.execute(
                select(*_COLUMNS).where(
                    purchases.c.client_id == client_id,
                    purchases.c.kind == kind.value,
                    purchases.c.idempotency_token == idempotency_token,
                )
            )
        ).first()
    if row is None:
        raise NotFound(
            f"Objeto con idempotency_token={idempotency_token} no existe.",
            code="PurchaseNotFound",
        )
    return _purchase(row)


async def history(
    database: Database,
    client_id: int,
    kind: Kind,
    *,
    page: int,
    per_page: int,
    days: tuple[date, date] | None,
) -> tuple[int, list[Purchase]]:
    """How many purchases match, and one page of them, oldest first; ``days`` is a range of
    Bogotá dates, both included."""
    conditions = [purchases.c.client_id == client_id, purchases.c.kind == kind.value]
    if days is not None:
        start, end = bogota_days(*days)
        conditions += [purchases.c.created_at >= start, purchases.c.created_at < end]
    async with database.read() as connection:
        count = (
            await connection.execute(select(func.count()).select_from(purchases).where(*conditions))
        ).scalar_one()
        rows = (
            await connection.execute(
                select(*_COLUMNS)
                .where(*conditions)
                .order_by(purchases.c.id)
                .limit(per_page)
                .offset((page - 1) * per_page)
            )
        ).all()
    return count, [_purchase(row) for row in rows]


async def spent(database: Database, who: Merchant) -> tuple[int, int]:
    """Pesos the ledger moved out of the merchant account to the operators, and the sum of
    the merchant's authorized purchases: the two always tie out."""
    async with database.read() as connection:
        moved = await connection.run_sync(net_between, who.operators_account_id, who.account_id)
        authorized = (
            await connection.execute(
                select(func.coalesce(func.sum(purchases.c.amount), 0)).where(
                    purchases.c.client_id == who.client_id,
                    purchases.c.status == Status.AUTHORIZED.value,
                )
            )
        ).scalar_one()
    return int(moved) // PESO, int(authorized)


@dataclass(frozen=True, slots=True)
class Reconciled:
    checked: int = 0
    authorized: int = 0
    rejected: int = 0
    still_open: int = 0


# Reconciliation claims open purchases a group at a time, each for a lease: another
# process skips them until the lease ends. A group's purchases are asked about one after
# another, and a question is only started while half the lease is left, so a call to the
# operator (CAJA_OPERATOR_TIMEOUT_MS, 10 s by default: 100 s for a whole group) cannot
# outlast the claim unless it takes longer than 150 s.
CLAIM_GROUP = 10
CLAIM_LEASE = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class _Claim:
    """Open purchases this process claimed, oldest first, and the end of its lease (by
    the database's clock); ``ask_by`` is this process's monotonic time when half of the
    lease is gone."""

    until: datetime
    purchases: list[Purchase]
    ask_by: float


def _claim_statement(
    now: datetime, cutoff: datetime, after: int, size: int, until: datetime
) -> Any:
    """Claim up to ``size`` open purchases created by ``cutoff``, after id ``after``, that
    no lease holds at ``now``; PostgreSQL skips rows another claim is locking (SQLite has
    one writer and renders no FOR UPDATE)."""
    open_ids = (
        select(purchases.c.id)
        .where(
            purchases.c.status.in_([s.value for s in OPEN]),
            purchases.c.created_at <= cutoff,
            purchases.c.id > after,
            or_(
                purchases.c.reconcile_claimed_until.is_(None),
                purchases.c.reconcile_claimed_until <= now,
            ),
        )
        .order_by(purchases.c.id)
        .limit(size)
        .with_for_update(skip_locked=True)
    )
    return (
        update(purchases)
        .where(purchases.c.id.in_(open_ids.scalar_subquery()))
        .values(reconcile_claimed_until=until)
        .returning(*_COLUMNS)
    )


async def _claim(database: Database, cutoff: datetime, after: int, size: int) -> _Claim:
    """Claim a group; the lease is counted on the database's clock, which every host
    reading it agrees on, whatever their own clocks say."""
    ask_by = time.monotonic() + CLAIM_LEASE.total_seconds() / 2

    def work(connection: Connection) -> tuple[datetime, list[Any]]:
        now = database_now(connection)
        until = now + CLAIM_LEASE
        statement = _claim_statement(now, cutoff, after, size, until)
        return until, list(connection.execute(statement).all())

    until, rows = await database.write(work)
    claimed = sorted(map(_purchase, rows), key=lambda purchase: purchase.id)
    return _Claim(until, claimed, ask_by)


async def _release(database: Database, claim: _Claim) -> None:
    """End this claim on its purchases (those another claim took over stay as they are)."""

    def work(connection: Connection) -> None:
        connection.execute(
            update(purchases)
            .where(
                purchases.c.id.in_([purchase.id for purchase in claim.purchases]),
                purchases.c.reconcile_claimed_until == claim.until,
            )
            .values(reconcile_claimed_until=None)
        )

    await database.write(work)


async def _ask(
    gateway: OperatorGateway, claim: _Claim, now: datetime, not_found_after: timedelta
) -> tuple[int, list[tuple[Purchase, Answer]]]:
    """Ask the operator about the claimed purchases while half the lease is left: how many
    were asked, and the final answers."""
    asked = 0
    final: list[tuple[Purchase, Answer]] = []
    for purchase in claim.purchases:
        if time.monotonic() > claim.ask_by:
            break
        asked += 1
        answer = await gateway.status(purchase.token)
        if answer.outcome is Outcome.NOT_FOUND and purchase.created_at <= now - not_found_after:
            answer = Answer(Outcome.REJECTED)
        if answer.final:
            final.append((purchase, answer))
    return asked, final


async def _reconcile_group(
    batcher: Batcher,
    gateway: OperatorGateway,
    claim: _Claim,
    now: datetime,
    not_found_after: timedelta,
) -> Reconciled:
    """Ask about and settle one claimed group, then release it; a failure releases it
    too (a process that dies leaves it to its lease)."""
    try:
        asked, final = await _ask(gateway, claim, now, not_found_after)
        settled = await asyncio.gather(
            *(_record_answer(batcher, purchase, answer) for purchase, answer in final)
        )
    finally:
        await _release(batcher.database, claim)
    counts = Counter(purchase.status for purchase, changed in settled if changed)
    return Reconciled(
        asked,
        counts[Status.AUTHORIZED.value],
        counts[Status.REJECTED.value],
        asked - len(final),
    )


def _add(one: Reconciled, other: Reconciled) -> Reconciled:
    return Reconciled(*(getattr(one, f.name) + getattr(other, f.name) for f in fields(Reconciled)))


async def reconcile(
    database: Database,
    gateway: OperatorGateway,
    *,
    batcher: Batcher | None = None,
    min_age: timedelta = timedelta(0),
    not_found_after: timedelta = timedelta(minutes=2),
    limit: int = 1000,
    progress: Callable[[int, int], None] | None = None,
) -> Reconciled:
    """Ask the operator again about open purchases at least ``min_age`` old, oldest first,
    at most ``limit``.

    The purchases are claimed ``CLAIM_GROUP`` at a time (a lease, ``CLAIM_LEASE``), so
    that processes reconciling at once never ask about one purchase together. Authorized
    posts the hold, rejected voids it, through ``batcher`` (one of its own when none is
    given). A purchase the operator says it never received is rejected once it is
    ``not_found_after`` old (its request died before the operator was asked); younger,
    its request may still be on the way, so it waits. ``progress(checked, 0)`` is told
    after each group.
    """
    async with database.read() as connection:
        now = await connection.run_sync(database_now)
    own = batcher is None
    settling = batcher if batcher is not None else Batcher(database)
    done, after = Reconciled(), 0
    try:
        while done.checked < limit:
            claim = await _claim(
                database, now - min_age, after, min(CLAIM_GROUP, limit - done.checked)
            )
            if not claim.purchases:
                break
            after = claim.purchases[-1].id
            done = _add(
                done, await _reconcile_group(settling, gateway, claim, now, not_found_after)
            )
            if progress is not None:  # how many are open is not known: total 0
                progress(done.checked, 0)
    finally:
        if own:
            await settling.close()
    return done


async def reconcile_forever(
    batcher: Batcher,
    gateway: OperatorGateway,
    *,
    interval: float,
    min_age: timedelta,
    not_found_after: timedelta,
) -> None:
    """Reconcile every ``interval`` seconds until cancelled; a failed round is logged."""
    while True:
        await asyncio.sleep(interval)
        try:
            done = await reconcile(
                batcher.database,
                gateway,
                batcher=batcher,
                min_age=min_age,
                not_found_after=not_found_after,
            )
        except Exception:
            log.exception("reconciliation round failed")
            continue
        if done.checked:
            log.info(
                "reconciled %d open purchases: %d authorized, %d rejected, %d still open",
                done.checked,
                done.authorized,
                done.rejected,
                done.still_open,
            )
