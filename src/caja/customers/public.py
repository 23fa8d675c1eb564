"""Ledger transactions as the ledger surfaces answer them (v1 and legacy): the JSON of a
transaction's GET, of a transfer's answer, and of its ``ledger.transfer.created`` event."""

from __future__ import annotations

from typing import Any

import orjson

from caja.core.clock import iso_utc
from caja.core.money import format_minor
from caja.ledger.accounts import is_system_token
from caja.ledger.model import TransferView

__all__ = ["transaction_json"]


def transaction_json(transfer: TransferView) -> dict[str, Any]:
    balance = transfer.debit_balance_after_minor
    assert balance is not None, "ledger transactions are posted"
    # Money that came from a system account (funding): its balance is nobody's business.
    origin_balance = (
        None
        if is_system_token(transfer.debit_token)
        # An exact JSON number such as 9000.00, written from integers, never a float.
        else orjson.Fragment(format_minor(balance, transfer.scale).encode())
    )
    return {
        "token": transfer.token,
        "date_created": iso_utc(transfer.created_at),
        "origin_account": transfer.debit_token,
        "origin_account_balance": origin_balance,
        "destination_account": transfer.credit_token,
        "amount": format_minor(transfer.amount_minor, transfer.scale),
        "description": transfer.description,
        "unique_transfer_token": transfer.idempotency_key,
    }
