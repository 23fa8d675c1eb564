"""Accounts and transactions as the ledger surfaces write them."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from caja.api.statements import Layout
from caja.core.clock import iso_utc
from caja.core.money import format_minor
from caja.customers.service import CustomerAccount
from caja.http.body import json_response, money_number
from caja.ledger.accounts import is_system_token
from caja.ledger.model import Result, TransferView
from caja.ledger.statements import Span, StatementLine

__all__ = [
    "STATEMENT_COLUMNS",
    "account_json",
    "statement_layout",
    "transaction_json",
    "transfer_response",
]


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


STATEMENT_COLUMNS = (
    "created_at",
    "transaction_token",
    "description",
    "counterparty",
    "amount",
    "balance",
)


def statement_layout(token: str, scale: int, span: Span) -> Layout:
    """A statement as ledger v1 writes it: UTC times, amounts as strings."""

    def entry(line: StatementLine) -> tuple[str, ...]:
        return (
            iso_utc(line.created_at),
            line.transaction_token,
            line.description,
            line.counterparty,
            format_minor(line.amount_minor, scale),
            format_minor(line.balance_after_minor, scale),
        )

    head = {
        "account_token": token,
        "from": span.first.isoformat(),
        "to": span.last.isoformat(),
        "opening_balance": format_minor(span.opening_minor, scale),
        "closing_balance": format_minor(span.closing_minor, scale),
    }
    return Layout(head, STATEMENT_COLUMNS, entry)
