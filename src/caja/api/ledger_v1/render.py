"""Accounts and transactions as the ledger surfaces write them."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from caja.core.clock import iso_utc
from caja.core.money import format_minor
from caja.customers.service import CustomerAccount
from caja.http.body import json_response, money_number
from caja.ledger.accounts import is_system_token
from caja.ledger.model import Result, TransferView

__all__ = ["account_json", "transaction_json", "transfer_response"]


def account_json(customer: CustomerAccount) -> dict[str, Any]:
    account, owner = customer.account, customer.owner
    return {
        "token": account.token,
        "phone_number": account.phone_number,
        "balance": format_minor(account.balance_minor, account.scale),
        "owner": {
            "token": customer.owner_token,
            "legal_id_type": owner.legal_id_type,
            "legal_id_number": owner.legal_id_number,
            "full_name": owner.full_name,
            "email": owner.email,
        },
    }


def transaction_json(transfer: TransferView) -> dict[str, Any]:
    balance = transfer.debit_balance_after_minor
    assert balance is not None, "ledger transactions are posted"
    # Money that came from a system account (funding): its balance is nobody's business.
    origin_balance = (
        None if is_system_token(transfer.debit_token) else money_number(balance, transfer.scale)
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


def transfer_response(result: Result) -> Response:
    """A transfer just posted (201) or replayed (208)."""
    assert result.transfer is not None
    return json_response(transaction_json(result.transfer), 208 if result.replayed else 201)
