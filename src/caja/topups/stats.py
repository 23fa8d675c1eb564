"""Top-up figures for the ops dashboard."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from caja.topups.tables import purchases

__all__ = ["PurchaseTotal", "purchases_by_status"]


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
