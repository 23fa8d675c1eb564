"""Top-up figures for the ops dashboard, and purchases as the ops console lists them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.engine import Connection

from caja.topups.tables import purchases

__all__ = [
    "PurchaseFilter",
    "PurchaseRow",
    "PurchaseTotal",
    "find_purchases",
    "purchase_of_hold",
    "purchase_page",
    "purchases_by_status",
]


@dataclass(frozen=True, slots=True)
class PurchaseTotal:
    kind: str
    status: str
    count: int
    amount: int  # whole pesos


def purchases_by_status(connection: Connection) -> list[PurchaseTotal]:
    """How many purchases, and how many pesos, of each kind and status."""
    rows = connection.execute(
        select(
            purchases.c.kind,
            purchases.c.status,
            func.count().label("count"),
            func.sum(purchases.c.amount).label("total"),
        )
        .group_by(purchases.c.kind, purchases.c.status)
        .order_by(purchases.c.kind, purchases.c.status)
    )
    return [PurchaseTotal(kind, status, count, int(total)) for kind, status, count, total in rows]


# --- for the ops console --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PurchaseRow:
    """A purchase as the ops console lists it."""

    id: int
    token: str
    kind: str
    status: str
    client_id: int
    reference: str  # the client's idempotency_token
    destination_number: str
    operator: str | None  # service_provider of a top-up, provider_code of a package
    package_code: str | None
    amount: int  # whole pesos
    hold_transfer_id: int
    created_at: datetime
    updated_at: datetime


_ROW: tuple[Any, ...] = (
    purchases.c.id,
    purchases.c.token,
    purchases.c.kind,
    purchases.c.status,
    purchases.c.client_id,
    purchases.c.idempotency_token,
    purchases.c.destination_number,
    func.coalesce(purchases.c.service_provider, purchases.c.provider_code),
    purchases.c.package_code,
    purchases.c.amount,
    purchases.c.hold_transfer_id,
    purchases.c.created_at,
    purchases.c.updated_at,
)


@dataclass(frozen=True, slots=True)
class PurchaseFilter:
    kind: str | None = None
    status: str | None = None
    start: datetime | None = None  # from this instant on
    end: datetime | None = None  # before this instant


def purchase_page(
    connection: Connection, wanted: PurchaseFilter, *, before_id: int | None, limit: int
) -> list[PurchaseRow]:
    """Purchases that match ``wanted``, newest first, with an id below ``before_id``."""
    query = select(*_ROW)
    if wanted.kind is not None:
        query = query.where(purchases.c.kind == wanted.kind)
    if wanted.status is not None:
        query = query.where(purchases.c.status == wanted.status)
    if wanted.start is not None:
        query = query.where(purchases.c.created_at >= wanted.start)
    if wanted.end is not None:
        query = query.where(purchases.c.created_at < wanted.end)
    if before_id is not None:
        query = query.where(purchases.c.id < before_id)
    rows = connection.execute(query.order_by(purchases.c.id.desc()).limit(limit))
    return [PurchaseRow(*row) for row in rows]


def find_purchases(connection: Connection, term: str, limit: int) -> list[PurchaseRow]:
    """Purchases whose token, client reference or destination number is ``term`` (each
    indexed), newest first."""
    query = (
        select(*_ROW)
        .where(
            or_(
                purchases.c.token == term,
                purchases.c.idempotency_token == term,
                purchases.c.destination_number == term,
            )
        )
        .order_by(purchases.c.id.desc())
        .limit(limit)
    )
    return [PurchaseRow(*row) for row in connection.execute(query)]


def purchase_of_hold(connection: Connection, transfer_ids: list[int]) -> PurchaseRow | None:
    """The purchase whose hold is one of these transfers."""
    row = connection.execute(
        select(*_ROW).where(purchases.c.hold_transfer_id.in_(transfer_ids))
    ).first()
    return None if row is None else PurchaseRow(*row)
