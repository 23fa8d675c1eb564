"""Payment requests: a person asks for an amount of an asset, with a note; anyone logged
in who has the request's id may pay it, once.

Paying is a send to the requester, with two guards in the batch's transaction: the
request is still open (its row read for update), and it is marked paid beside the
transfer. The payers of one request take turns in a process (a lock per request), and
the requester's account row lock orders them across processes: the first pays, the
others are told it is paid. An underfunded payer moves nothing and the request stays open.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement

from caja.core.clock import utcnow
from caja.core.errors import AccountConflict, InvalidInput, NotFound
from caja.core.money import format_minor, parse_amount
from caja.core.tokens import new_token
from caja.db.engine import Database
from caja.ledger.batching import Batcher
from caja.ledger.queries import accounts_by_ids, asset_scales
from caja.wallet import keys
from caja.wallet.service import Contact, Guard, Profile, ledger_account_of, send
from caja.wallet.tables import wallet_payment_requests as requests
from caja.wallet.tables import wallet_profiles

__all__ = [
    "MAX_LISTED",
    "STATUSES",
    "PaymentRequest",
    "RequestClosed",
    "cancel",
    "create",
    "find",
    "own",
    "pay",
]

OPEN, PAID, CANCELLED = "open", "paid", "cancelled"
STATUSES = (OPEN, PAID, CANCELLED)
MAX_LISTED = 100


class RequestClosed(AccountConflict):
    """The request is paid or cancelled: nothing more can be done with it."""

    def __init__(self, status: str) -> None:
        super().__init__(
            f"The payment request is already {status}.", code=f"request_already_{status}"
        )


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    request_id: str
    status: str
    asset: str
    scale: int
    amount_minor: int
    notes: str
    requester: Contact
    created_at: datetime
    paid_by: Contact | None = None
    paid_at: datetime | None = None


def _contacts(connection: Connection, ids: set[int]) -> dict[int, Contact]:
    rows = connection.execute(
        select(
            wallet_profiles.c.id,
            wallet_profiles.c.token,
            wallet_profiles.c.first_name,
            wallet_profiles.c.last_name,
            wallet_profiles.c.phone_number,
        ).where(wallet_profiles.c.id.in_(sorted(ids)))
    )
    return {row.id: Contact(*row[1:]) for row in rows}


def _read(connection: Connection, *conditions: ColumnElement[bool]) -> list[PaymentRequest]:
    rows = connection.execute(
        select(requests).where(*conditions).order_by(requests.c.id.desc()).limit(MAX_LISTED)
    ).all()
    people = _contacts(connection, {row.requester_id for row in rows} | {
        row.paid_by for row in rows if row.paid_by is not None
    })  # fmt: skip
    scales = asset_scales(connection)
    return [
        PaymentRequest(
            request_id=row.token,
            status=row.status,
            asset=row.asset,
            scale=scales[row.asset],
            amount_minor=row.amount_minor,
            notes=row.notes,
            requester=people[row.requester_id],
            created_at=row.created_at,
            paid_by=people.get(row.paid_by) if row.paid_by is not None else None,
            paid_at=row.paid_at,
        )
        for row in rows
    ]


def _one(connection: Connection, token: str) -> PaymentRequest:
    found = _read(connection, requests.c.token == token)
    if not found:
        raise NotFound("record not found", code="record_not_found")
    return found[0]


async def create(
    database: Database, who: Profile, *, asset: str, amount: object, notes: str
) -> PaymentRequest:
    """A new open request of ``amount`` of an asset the caller's wallet holds."""

    def work(connection: Connection) -> PaymentRequest:
        account = ledger_account_of(connection, who.account_id, asset)
        if account is None:
            raise NotFound("the asset is not available", code="asset_not_available")
        scale = accounts_by_ids(connection, [account])[account].scale
        token = new_token("prq")
        connection.execute(
            requests.insert().values(
                token=token, requester_id=who.id, asset=asset,
                amount_minor=parse_amount(amount, scale), notes=notes, status=OPEN,
                created_at=utcnow(),
            )
        )  # fmt: skip
        return _one(connection, token)

    return await database.write(work)


async def find(database: Database, token: str) -> PaymentRequest:
    async with database.read() as connection:
        return await connection.run_sync(_one, token)


async def own(database: Database, who: Profile, status: str | None) -> list[PaymentRequest]:
    """The caller's requests, newest first, at most MAX_LISTED; of one status when given."""
    conditions: list[Any] = [requests.c.requester_id == who.id]
    if status is not None:
        conditions.append(requests.c.status == status)
    async with database.read() as connection:
        return await connection.run_sync(_read, *conditions)


async def cancel(database: Database, who: Profile, token: str) -> PaymentRequest:
    """Cancel an open request of the caller's own."""

    def work(connection: Connection) -> PaymentRequest:
        changed = connection.execute(
            update(requests)
            .where(
                requests.c.token == token,
                requests.c.requester_id == who.id,
                requests.c.status == OPEN,
            )
            .values(status=CANCELLED)
        ).rowcount
        found = _one(connection, token)
        if found.requester.profile_id != who.profile_id:
            raise NotFound("record not found", code="record_not_found")
        if not changed:
            raise RequestClosed(found.status)
        return found

    return await database.write(work)


def _still_open(token: str, connection: Connection) -> None:
    status = connection.execute(
        select(requests.c.status).where(requests.c.token == token).with_for_update()
    ).scalar_one()
    if status != OPEN:
        raise RequestClosed(status)


def _mark_paid(token: str, payer_id: int, connection: Connection, transfer: str) -> None:
    connection.execute(
        update(requests)
        .where(requests.c.token == token)
        .values(status=PAID, paid_by=payer_id, paid_at=utcnow(), transfer_token=transfer)
    )


async def _attempt(
    batcher: Batcher, who: Profile, token: str, from_account: str, guard: Guard
) -> bool:
    found = await find(batcher.database, token)
    if found.status != OPEN:
        raise RequestClosed(found.status)
    if found.requester.profile_id == who.profile_id:
        raise InvalidInput("request_id", "is your own request", code="own_request")
    guarded = replace(
        guard,
        checks=(*guard.checks, partial(_still_open, token)),
        records=(*guard.records, partial(_mark_paid, token, who.id)),
    )
    return await send(
        batcher,
        who,
        from_account=from_account,
        to_profile=found.requester.profile_id,
        asset=found.asset,
        amount=format_minor(found.amount_minor, found.scale),
        notes=found.notes,
        guard=guarded,
    )


async def pay(
    batcher: Batcher, who: Profile, token: str, from_account: str, key: str | None = None
) -> int:
    """Pay the request from the caller's account: keys.SENT, or keys.UNDERFUNDED (the
    request stays open); RequestClosed once it is paid or cancelled."""
    attempt = partial(_attempt, batcher, who, token, from_account)
    async with keys.serial.hold(f"request:{token}"):
        if key is None:
            return keys.SENT if await attempt(Guard()) else keys.UNDERFUNDED
        digest = keys.body_digest({"pay": token, "from_account_id": from_account})
        return await keys.once(batcher.database, who, key, digest, attempt)
