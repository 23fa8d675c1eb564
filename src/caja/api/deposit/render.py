"""Deposit accounts and transfers as the surface writes them, and its error answers."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Response

from caja.api.statements import Layout
from caja.api.surface import Renderer, status_table
from caja.core.clock import bogota_iso
from caja.core.errors import (
    NO_VALUE,
    AccountConflict,
    AlreadyResolved,
    CajaError,
    Forbidden,
    InvalidInput,
    NoFunds,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unavailable,
)
from caja.deposits.public import history_item, money, transfer_json
from caja.deposits.service import (
    AccountState,
    DepositAccount,
    LimitExceeded,
    NotRevertible,
)
from caja.http.body import UnsupportedMediaType, json_response
from caja.ledger.statements import Span, StatementLine

__all__ = [
    "ERRORS",
    "account_json",
    "deposit_status",
    "error_body",
    "history_item",
    "new_account_json",
    "state_json",
    "statement_layout",
    "transfer_json",
]

_STATUS: list[tuple[type[CajaError], int]] = [
    (InvalidInput, 422),
    (NotFound, 422),
    (AccountConflict, 409),
    (LimitExceeded, 409),
    (NotRevertible, 409),
    (NoFunds, 409),
    (AlreadyResolved, 409),
    (Unauthorized, 401),
    (Forbidden, 403),
    (PayloadTooLarge, 413),
    (UnsupportedMediaType, 415),
    (Unavailable, 503),
]


deposit_status = status_table(_STATUS)


_INT64 = range(-(2**63), 2**64)  # what orjson writes as an integer


def error_body(error: CajaError, status_code: int) -> Response:
    body: dict[str, Any] = {"error_code": error.code, "error_message": error.message}
    if isinstance(error, InvalidInput):
        body["error_message"] = error.problem
        body["field"] = error.field or "non_field_errors"
        value = error.value
        if isinstance(value, int) and not isinstance(value, bool) and value not in _INT64:
            body["value"] = orjson.Fragment(str(value).encode())  # as the client wrote it
        elif value is not NO_VALUE and isinstance(value, str | int | bool | None):
            body["value"] = value
    return json_response(body, status_code)


ERRORS = Renderer(deposit_status, error_body)


def account_json(account: DepositAccount) -> dict[str, Any]:
    return {
        "token": account.token,
        "account_type": "deposito_electronico",
        "number": account.number,
        "balance": money(account.balance_minor),
        "expected_balance": money(account.balance_minor),
    }


def state_json(state: AccountState) -> dict[str, Any]:
    return {
        **account_json(state.account),
        "awaited_amount": "0.00",
        "overdraft_amount": "0.00",
        "deposited_this_month": money(state.deposited_this_month),
        "withdrawn_this_month": money(state.withdrawn_this_month),
        "account_status": state.account.status,
        "updated_at": bogota_iso(state.updated_at),
        "updated_from_source": state.updated_from_source,
    }


def new_account_json(account: DepositAccount) -> dict[str, Any]:
    """An account just opened (or found again): no movements to tell yet."""
    return {
        **account_json(account),
        "awaited_amount": None,
        "overdraft_amount": "0.00",
        "deposited_this_month": None,
        "withdrawn_this_month": None,
    }


STATEMENT_COLUMNS = (
    "created_at",
    "transaction_token",
    "description",
    "counterparty",
    "amount",
    "balance",
)


def _statement_entry(line: StatementLine) -> tuple[str, ...]:
    return (
        bogota_iso(line.created_at),
        f"coop{line.transaction_token}",
        line.description,
        line.counterparty,
        money(line.amount_minor),
        money(line.balance_after_minor),
    )


def statement_layout(account_token: str, span: Span) -> Layout:
    """A statement as the deposit surface writes it: Bogotá times, its transaction tokens."""
    head = {
        "account_token": account_token,
        "initial_date": span.first.isoformat(),
        "final_date": span.last.isoformat(),
        "opening_balance": money(span.opening_minor),
        "closing_balance": money(span.closing_minor),
    }
    return Layout(head, STATEMENT_COLUMNS, _statement_entry)
