"""Payments as the wallet's payment listing answers them: the JSON of one payment, which is
also the data of a ``wallet.payment.sent`` event."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from caja.core.clock import iso_utc
from caja.core.money import format_minor

if TYPE_CHECKING:
    from caja.wallet.service import Contact, Payment

__all__ = ["payment_json", "person_json"]


def person_json(found: Contact) -> dict[str, str]:
    return {
        "profile_id": found.profile_id,
        "first_name": found.first_name,
        "last_name": found.last_name,
        "phone_number": found.phone_number,
    }


def payment_json(item: Payment) -> dict[str, Any]:
    return {
        "id": item.id,
        "type": 1,
        "status": "completed",
        "direction": item.direction,
        "asset_key": item.asset,
        "amount": format_minor(item.amount_minor, item.scale),
        "counterparty": None if item.counterparty is None else person_json(item.counterparty),
        "meta_data": {"notes": item.notes},
        "created_at": iso_utc(item.created_at),
    }
