"""Every check ``caja verify`` runs, in the order its report lists them.

The ledger's own checks come first and its journal's chain last; each product that keeps
rows tied to the ledger adds its own in between.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from caja.ledger import verify as ledger
from caja.ledger.verify import Invariant, Report
from caja.topups import checks as topups

__all__ = ["INVARIANTS", "verify"]

INVARIANTS: tuple[Invariant, ...] = (*ledger.CHECKS, *topups.CHECKS, ledger.JOURNAL)


async def verify(connection: AsyncConnection) -> Report:
    """Every registered check on one read connection."""
    return await ledger.verify(connection, INVARIANTS)
