"""Every check ``caja verify`` runs, in the order its report lists them.

The ledger's own checks come first and its journal's chain last; each product that keeps
rows tied to the ledger adds its own in between.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncConnection

from caja.ledger import verify as ledger
from caja.ledger.verify import Invariant, Report
from caja.topups import checks as topups

__all__ = ["INVARIANTS", "verify"]

INVARIANTS: tuple[Invariant, ...] = (*ledger.CHECKS, *topups.CHECKS, ledger.JOURNAL)


async def verify(
    connection: AsyncConnection, progress: Callable[[int, int], None] | None = None
) -> Report:
    """Every registered check on one read connection; ``progress(done, total)`` is told
    after each check."""
    if progress is None:
        return await ledger.verify(connection, INVARIANTS)
    return await ledger.verify(
        connection, [_told(step, progress) for step in enumerate(INVARIANTS)]
    )


def _told(step: tuple[int, Invariant], progress: Callable[[int, int], None]) -> Invariant:
    """The invariant of ``step``, telling ``progress`` once it has been checked."""
    index, invariant = step

    async def find(connection: AsyncConnection) -> tuple[int, list[str]]:
        found = await invariant.find(connection)
        progress(index + 1, len(INVARIANTS))
        return found

    return Invariant(invariant.name, find)
