"""Accounts and transactions as the ledger surfaces write them."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from caja.api.statements import Layout
from caja.core.clock import iso_utc
from caja.core.money import format_minor
from caja.customers.public import transaction_json
from caja.customers.service import CustomerAccount, Transferred
from caja.http.body import json_response
from caja.ledger.model import Result
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


def transfer_response(result: Result) -> Response:
    """A transfer just posted (201), answered with the JSON its event was written with, or
    replayed (208)."""
    assert result.transfer is not None
    status_code = 208 if result.replayed else 201
    if isinstance(result, Transferred) and result.body is not None:
        return Response(result.body, status_code=status_code, media_type="application/json")
    return json_response(transaction_json(result.transfer), status_code)


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
