"""Electronic deposit routes: accounts, balances, transfers, reverts and history."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request, Response, Security
from fastapi.security import APIKeyHeader

from caja.api.body import UnsupportedMediaType, json_response, read_object
from caja.api.deposit import docs
from caja.api.deps import DatabaseDep, refuse_nul
from caja.api.errors import Surface, status_table
from caja.api.openapi import query_parameters
from caja.clients.service import Principal, authenticate, authorize
from caja.core.clock import BOGOTA, bogota_iso, utcnow
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
from caja.core.money import format_minor, parse_amount
from caja.deposits import service as deposits
from caja.deposits.service import (
    AccountState,
    DepositAccount,
    DepositTransfer,
    LimitExceeded,
    NotRevertible,
    TransferData,
)
from caja.providers.bank import BankCore, Holder

__all__ = ["PREFIX", "SURFACE", "router"]

PREFIX = "/api/coopcentral/v1"

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


SURFACE = Surface(PREFIX, deposit_status, error_body)

router = APIRouter(prefix=PREFIX, tags=["Electronic deposit"], responses=docs.COMMON)

_token = APIKeyHeader(
    name="Authorization",
    scheme_name="DepositToken",
    description="`Token ` followed by the API key.",
    auto_error=False,
)


async def _client(
    request: Request, database: DatabaseDep, header: Annotated[str | None, Security(_token)]
) -> Principal:
    scheme, _, key = (header or "").strip().partition(" ")
    principal = None
    if scheme.lower() == "token" and key.strip():
        principal = await authenticate(database, key.strip())
    authorized = authorize(principal, "deposit")
    refuse_nul(request, "Must not contain NUL characters.", code="invalid")
    return authorized


ClientDep = Annotated[Principal, Depends(_client)]


def _bank(request: Request) -> BankCore:
    bank = request.app.state.bank
    return bank  # type: ignore[no-any-return]


# --- reading fields ------------------------------------------------------------------------


def _text(body: dict[str, Any], name: str, max_length: int, *, required: bool = True) -> str:
    value = body.get(name)
    if value is None:
        if not required:
            return ""
        raise InvalidInput(name, "This field is required.", code="required")
    if not isinstance(value, str):
        raise InvalidInput(name, "Must be a string.", code="invalid", value=_echo(value))
    value = value.strip()
    if not value and required:
        raise InvalidInput(name, "This field may not be blank.", code="blank", value=value)
    if len(value) > max_length:
        raise InvalidInput(
            name, f"Must have at most {max_length} characters.", code="max_length", value=value
        )
    return value


def _echo(value: Any) -> Any:
    return value if isinstance(value, str | int | bool) else str(value)


def _matching(body: dict[str, Any], name: str, max_length: int, pattern: str, what: str) -> str:
    value = _text(body, name, max_length)
    if not re.fullmatch(pattern, value):
        raise InvalidInput(name, f"Must be {what}.", code="invalid", value=value)
    return value


def _day(raw: Any, name: str) -> date:
    if raw is None or raw == "":
        raise InvalidInput(name, "This field is required.", code="required")
    if not isinstance(raw, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw):
        raise InvalidInput(
            name, "Must be a date as YYYY-MM-DD.", code="invalid_date", value=_echo(raw)
        )
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(
            name, "Must be a date as YYYY-MM-DD.", code="invalid_date", value=raw
        ) from None


def _amount(body: dict[str, Any], name: str, *, required: bool = True) -> int:
    value = body.get(name)
    if value is None and not required:
        return 0
    if value is None:
        raise InvalidInput(name, "This field is required.", code="required")
    if isinstance(value, Decimal) and value.is_signed():  # -0 and -0.00 included
        raise InvalidInput(name, "Must not be negative.", code="invalid_amount", value=_echo(value))
    try:
        return parse_amount(value, 2, name, allow_zero=not required)
    except InvalidInput as error:
        raise InvalidInput(
            name, error.problem[0].upper() + error.problem[1:] + ".", code="invalid_amount",
            value=_echo(value),
        ) from None  # fmt: skip


def _holder(body: dict[str, Any]) -> Holder:
    today = utcnow().astimezone(BOGOTA).date()
    number = _matching(
        body, "identification_number", 20, r"[0-9A-Za-z]{3,20}", "3 to 20 letters or digits"
    )
    id_type = _text(body, "identification_type", 4)
    if id_type not in ("CC", "CE"):
        raise InvalidInput(
            "identification_type", "Must be CC or CE.", code="invalid_choice", value=id_type
        )
    issued = _day(body.get("identification_issued_at"), "identification_issued_at")
    if issued > today:
        raise InvalidInput(
            "identification_issued_at", "Must not be in the future.", code="invalid_date",
            value=issued.isoformat(),
        )  # fmt: skip
    phone = _matching(body, "mobile_phone_number", 10, r"3[0-9]{9}", "10 digits starting with 3")
    email = _matching(body, "email", 254, r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+", "a valid email address")
    names = _text(body, "names", 100)
    last = _text(body, "first_last_name", 100)
    others = _text(body, "second_last_names", 100, required=False) or None
    sex = _text(body, "sex", 1)
    if sex not in ("M", "F"):
        raise InvalidInput("sex", "Must be M or F.", code="invalid_choice", value=sex)
    born = _day(body.get("date_of_birth"), "date_of_birth")
    if born >= today:
        raise InvalidInput(
            "date_of_birth", "Must be in the past.", code="invalid_date", value=born.isoformat()
        )
    return Holder(id_type, number, issued, phone, email, names, last, others, sex, born)


# --- answers -------------------------------------------------------------------------------


def _money(minor: int) -> str:
    return format_minor(minor, 2)


def _account_json(account: DepositAccount) -> dict[str, Any]:
    return {
        "token": account.token,
        "account_type": "deposito_electronico",
        "number": account.number,
        "balance": _money(account.balance_minor),
        "expected_balance": _money(account.balance_minor),
    }


def _state_json(state: AccountState) -> dict[str, Any]:
    return {
        **_account_json(state.account),
        "awaited_amount": "0.00",
        "overdraft_amount": "0.00",
        "deposited_this_month": _money(state.deposited_this_month),
        "withdrawn_this_month": _money(state.withdrawn_this_month),
        "account_status": state.account.status,
        "updated_at": bogota_iso(state.updated_at),
        "updated_from_source": state.updated_from_source,
    }


def _transfer_json(item: DepositTransfer) -> dict[str, Any]:
    view = item.transfer
    return {
        "token": f"coop{view.token}",
        "status": "reverted" if item.reverted else "approved",
        "idempotency_token": view.idempotency_key,
        "origin_account": view.debit_token,
        "destination_account": view.credit_token,
        "amount": _money(view.amount_minor),
        "fee_amount": _money(item.fee_minor),
        "description": view.description,
        "created_at": bogota_iso(view.created_at),
        "result_message": "Proceso Exitoso",
        "error_code": None,
        "channel": item.channel,
    }


def _history_item(item: DepositTransfer, account_id: int) -> dict[str, Any]:
    body = _transfer_json(item)
    shown: dict[str, Any] = {
        "token": body["token"],
        "status": body["status"],
        "direction": deposits.direction_of(item, account_id),
        "idempotency_token": body["idempotency_token"],
        "channel": body["channel"],
        "coopcentral_id": item.coopcentral_id,
        "amount": body["amount"],
        "description": body["description"],
        "created_at": body["created_at"],
        "origin_bank": None,
    }
    if item.origin_bank is not None and item.sender is not None:
        shown["origin_bank"] = {"name": item.origin_bank[0], "slug": item.origin_bank[1]}
        shown["sender_data"] = {
            "customer_name": item.sender[0],
            "customer_id_number": item.sender[1],
        }
    return shown


# --- routes --------------------------------------------------------------------------------


@router.post(
    "/accounts/create",
    summary="Create account",
    status_code=201,
    openapi_extra=docs.ACCOUNT,
    responses={
        208: {"description": "The holder already has an account: it is returned"},
        **docs.CREATE_ERRORS,
    },
)
async def create_account(request: Request, database: DatabaseDep, who: ClientDep) -> Response:
    holder = _holder(await read_object(request))
    account, created = await deposits.open_deposit_account(
        database, _bank(request), who.client_id, holder
    )
    body = {
        **_account_json(account),
        "awaited_amount": None,
        "overdraft_amount": "0.00",
        "deposited_this_month": None,
        "withdrawn_this_month": None,
    }
    return json_response(body, 201 if created else 208)


@router.get(
    "/accounts/balance",
    summary="Get account information",
    openapi_extra=query_parameters(docs.QUERY, "account_token", required=True),
    responses=docs.QUERY_ERRORS,
)
async def account_balance(request: Request, database: DatabaseDep, who: ClientDep) -> Response:
    token = request.query_params.get("account_token", "").strip()
    if not token:
        raise InvalidInput("account_token", "This field is required.", code="required")
    state = await deposits.account_state(database, _bank(request), who.client_id, token)
    return json_response(_state_json(state))


@router.post(
    "/transactions/create",
    summary="Transfer funds",
    status_code=201,
    openapi_extra=docs.TRANSFER,
    responses={
        208: {"description": "The token was used: the stored transfer, nothing moved"},
        **docs.TRANSFER_ERRORS,
    },
)
async def create_transaction(request: Request, database: DatabaseDep, who: ClientDep) -> Response:
    body = await read_object(request)
    data = TransferData(
        unique_transfer_token=_matching(
            body,
            "unique_transfer_token",
            64,
            r"[A-Za-z0-9._:~-]{1,64}",
            "1 to 64 letters, digits or ._:~-",
        ),
        origin_account=_text(body, "origin_account", 40),
        destination_account=_text(body, "destination_account", 40),
        channel=_text(body, "channel", 40),
        amount_minor=_amount(body, "amount"),
        description=_text(body, "description", 255),
        fee_minor=_amount(body, "fee_amount", required=False),
    )
    stored, replayed = await deposits.transfer(request.app.state.batcher, who.client_id, data)
    return json_response(_transfer_json(stored), 208 if replayed else 201)


@router.post(
    "/transactions/revert",
    summary="Revert transaction",
    openapi_extra=docs.REVERT,
    responses=docs.REVERT_ERRORS,
)
async def revert_transaction(request: Request, database: DatabaseDep, who: ClientDep) -> Response:
    body = await read_object(request)
    token = _text(body, "idempotency_token", 64)
    reverted = await deposits.revert(request.app.state.batcher, who.client_id, token)
    return json_response(_transfer_json(reverted))


@router.get(
    "/transactions",
    summary="Get transactions history",
    openapi_extra=query_parameters(
        docs.QUERY, "account_token", "initial_date", "final_date", required=True
    ),
    responses=docs.QUERY_ERRORS,
)
async def transaction_history(request: Request, database: DatabaseDep, who: ClientDep) -> Response:
    query = request.query_params
    token = query.get("account_token", "").strip()
    if not token:
        raise InvalidInput("account_token", "This field is required.", code="required")
    first = _day(query.get("initial_date"), "initial_date")
    last = _day(query.get("final_date"), "final_date")
    if first > last:
        raise InvalidInput(
            "initial_date", "Must not be after final_date.", code="invalid_range",
            value=first.isoformat(),
        )  # fmt: skip
    account, found = await deposits.history(database, who.client_id, token, first, last)
    return json_response({"transactions": [_history_item(item, account.id) for item in found]})
