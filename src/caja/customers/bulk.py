"""Many transfers of one caller in one request: applied in order, in one transaction.

Each item is answered exactly as its own transfer would be: a new transfer, a replay, or
its own refusal. The items are posted as one batch of their own (``batching.run_in_order``):
in the order given, each seeing the earlier ones' movements, never deferred, so A→B then
B→C works when B starts empty. All or none (``atomic``): when any item would be refused,
nothing is written and the others are :class:`NotApplied`. When the transaction fails as
a whole, nothing of the request was written and the error is raised.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn

from caja.clients.service import Principal
from caja.core.errors import CajaError, Forbidden, Unauthorized
from caja.customers.service import (
    AccountRef,
    Authorize,
    Rendered,
    Transferred,
    transfer_order,
    transferred,
)
from caja.ledger.batching import Batcher, Lookups, Order, run_in_order
from caja.ledger.model import Result

__all__ = [
    "MAX_ITEMS",
    "BatchRejected",
    "Item",
    "NotApplied",
    "Outcome",
    "Posted",
    "transfer_many",
]

# At most this many transfers in one request (the ledger's largest batch).
MAX_ITEMS = 1000


class NotApplied(CajaError):
    """An item of an all-or-none request that was not written because another was refused."""

    code = "NotApplied"
    message = "Not applied: another transaction of this atomic batch was refused."


class BatchRejected(CajaError):
    """An all-or-none request of which some item was refused: nothing was written."""

    code = "BatchRejected"
    message = "No transaction was applied: at least one of this atomic batch was refused."


@dataclass(frozen=True, slots=True)
class Item:
    """One transfer of a request, between two of the caller's accounts."""

    origin: AccountRef
    destination: AccountRef
    amount_minor: int
    description: str
    idempotency_key: str


# An item's outcome: its transfer (new or replayed), its refusal, or the fault of its own
# code (answered as an internal error).
Outcome = Transferred | CajaError | Exception


@dataclass(frozen=True, slots=True)
class Posted:
    outcomes: list[Outcome]
    # False for an all-or-none request that was refused: nothing was written.
    applied: bool


async def transfer_many(
    batcher: Batcher,
    *,
    key_digest: str,
    authorize: Authorize,
    surface: str | Callable[[Principal], str],
    items: Sequence[Item | CajaError],
    atomic: bool = False,
) -> Posted:
    """Post ``items`` (a :class:`CajaError` stands for an item refused before, such as an
    invalid body) in order, in one transaction; one outcome each, in the same order.

    The key is checked in the transaction, as for one transfer: when it is not valid (or
    lacks the scope) the whole request is refused with that error.
    """
    orders: list[Order] = []
    kept: list[Rendered] = []
    for item in items:
        if isinstance(item, CajaError):
            continue
        order, rendered = transfer_order(
            key_digest=key_digest,
            authorize=authorize,
            surface=surface,
            origin=item.origin,
            destination=item.destination,
            amount_minor=item.amount_minor,
            description=item.description,
            idempotency_key=item.idempotency_key,
        )
        orders.append(order)
        kept.append(rendered)
    if atomic and len(orders) < len(items):
        # Refused already: the others still run, to tell which would be refused too, and
        # this last order, refused, keeps the transaction from being committed.
        orders.append(Order(_refuse))
    results = await run_in_order(
        batcher.database, orders, principals=batcher.principals, all_or_none=atomic
    )
    found = iter(zip(results, kept, strict=False))
    outcomes: list[Outcome] = [
        item if isinstance(item, CajaError) else _outcome(*next(found)) for item in items
    ]
    _refuse_key(outcomes)
    failed = any(not isinstance(outcome, Transferred) for outcome in outcomes)
    if atomic and failed:
        return Posted([_not_applied(outcome) for outcome in outcomes], applied=False)
    return Posted(outcomes, applied=True)


def _outcome(result: Result | Exception, rendered: Rendered) -> Outcome:
    if isinstance(result, Exception):
        return result
    if result.error is not None:
        return result.error
    return transferred(result, rendered)


def _refuse(_lookups: Lookups) -> NoReturn:
    raise NotApplied()


def _refuse_key(outcomes: list[Outcome]) -> None:
    """A key that is not valid, or lacks the scope, refuses the whole request."""
    for outcome in outcomes:
        if isinstance(outcome, Unauthorized | Forbidden):
            raise outcome


def _not_applied(outcome: Outcome) -> Outcome:
    return NotApplied() if isinstance(outcome, Transferred) else outcome
