"""What ``caja verify`` checks of top-ups: every purchase agrees with its hold."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, case, select

from caja.ledger.model import TransferKind, TransferStatus
from caja.ledger.queries import transfer_states
from caja.ledger.verify import Invariant, by_query
from caja.topups.service import PESO, Status
from caja.topups.tables import purchases

__all__ = ["CHECKS"]

# A purchase holds the merchant's money in one pending transfer: posted once authorized,
# voided once rejected, pending while open.
_HOLD_STATUS = {
    Status.AUTHORIZED.value: TransferStatus.POSTED.value,
    Status.REJECTED.value: TransferStatus.VOIDED.value,
}


def _holds_unlike_purchases() -> Select[Any]:
    """Purchases whose hold is not a pending transfer of their amount in the status their
    own status calls for; one statement, so a purchase and its hold are seen together."""
    holds = transfer_states()
    expected_status = case(
        *((purchases.c.status == status, value) for status, value in _HOLD_STATUS.items()),
        else_=TransferStatus.PENDING.value,
    )
    return (
        select(purchases.c.token, purchases.c.status, holds.c.status)
        .select_from(purchases.join(holds, holds.c.id == purchases.c.hold_transfer_id))
        .where(
            (holds.c.status != expected_status)
            | (holds.c.kind != TransferKind.PENDING.value)
            | (holds.c.amount_minor != purchases.c.amount * PESO)
        )
    )


CHECKS: tuple[Invariant, ...] = (
    by_query("every purchase's hold matches its status and amount", _holds_unlike_purchases),
)
