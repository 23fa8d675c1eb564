"""Ledger v1 routes."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, Security
from fastapi.security import APIKeyHeader
from starlette.routing import Route

from caja.api import statements
from caja.api.deps import DatabaseDep, keyed_body, refuse_nul, services_of
from caja.api.ledger_v1.batch import post_transaction_batch
from caja.api.ledger_v1.render import (
    account_json,
    statement_layout,
    transaction_json,
    transfer_response,
)
from caja.api.ledger_v1.schemas import (
    ACCOUNT_EXAMPLE,
    BATCH_EXAMPLE,
    BATCH_REJECTED_EXAMPLE,
    ERROR_EXAMPLE,
    STATEMENT_CSV_EXAMPLE,
    STATEMENT_EXAMPLE,
    TRANSACTION_EXAMPLE,
    TRANSFER_TOKEN_PATTERN,
    AccountIn,
    AccountOut,
    BatchRejectedOut,
    StatementOut,
    TransactionBatchIn,
    TransactionBatchOut,
    TransactionIn,
    TransactionOut,
    TransactionsOut,
    ledger_error,
)
from caja.api.openapi import Responses, documented
from caja.clients.service import Principal, authenticate, authorize
from caja.core.errors import Forbidden, InvalidInput
from caja.customers import service as ledger_accounts
from caja.customers.service import AccountRef
from caja.db.engine import Database
from caja.http.body import body_schema, json_response, read_json
from caja.ledger.statements import Span, balance_at, statement_span

__all__ = ["FAST_ROUTES", "NAME", "PREFIX", "ledger_client", "router"]

PREFIX = "/api/ledger/v1/public"
NAME = "ledger_v1"

KEY_HEADER = "X-Account-api-key"
_api_key = APIKeyHeader(
    name=KEY_HEADER,
    scheme_name="LedgerV1ApiKey",
    description="The client's API key (`caja clients create --scope ledger`).",
    auto_error=False,
)


async def ledger_client(
    request: Request, database: DatabaseDep, key: Annotated[str | None, Security(_api_key)]
) -> Principal:
    principal = _authorize_client(await authenticate(database, key))
    refuse_nul(request)
    return principal


async def ledger_admin(
    database: DatabaseDep, key: Annotated[str | None, Security(_api_key)]
) -> Principal:
    principal = _authorize_client(await authenticate(database, key))
    if not principal.has("ledger:admin"):
        raise Forbidden()
    return principal


Client = Annotated[Principal, Depends(ledger_client)]
Admin = Annotated[Principal, Depends(ledger_admin)]
AccountToken = Annotated[str, Path(max_length=40, description="The account's token (acc-…)")]


_COMMON: Responses = {
    401: ledger_error("Invalid authorization token was provided"),
    403: ledger_error("The key lacks the permission for this action"),
    500: ledger_error("Unexpected server error; it is safe to retry with the same token"),
    503: ledger_error("Temporary failure; nothing changed, it is safe to retry"),
}
_TOO_LARGE: Responses = {
    413: ledger_error("The body is over 64 KiB"),
    415: ledger_error("The body is not sent as application/json"),
}

router = APIRouter(prefix=PREFIX, tags=["Ledger v1"])


@router.post(
    "/account",
    summary="Create account",
    status_code=201,
    openapi_extra=body_schema(
        AccountIn,
        {
            "phone_number": "+573334444666",
            "owner_legal_id_type": "NIT",
            "owner_legal_id_number": "12333215",
            "owner_full_name": "test name",
            "owner_email": "test2@name.com",
        },
    ),
    responses={
        200: documented(
            AccountOut, "The account already exists (same owner, same phone)", ACCOUNT_EXAMPLE
        ),
        201: documented(AccountOut, "The account was created", ACCOUNT_EXAMPLE),
        409: ledger_error(
            "The owner has an account with another phone, or the phone belongs to another owner",
            {
                "code": "PhoneNumberTaken",
                "message": "Account not created; the phone number belongs to another "
                "owner's account.",
            },
        ),
        422: ledger_error("Invalid data"),
        **_TOO_LARGE,
        **_COMMON,
    },
)
async def create_account(request: Request, database: DatabaseDep, principal: Admin) -> Response:
    """Open an account for an owner (needs the `ledger:admin` scope)."""
    body = await read_json(request, AccountIn)
    opened = await ledger_accounts.open_customer_account(
        database,
        principal.client_id,
        body.phone_number,
        body.owner_data(),
    )
    return json_response(account_json(opened.customer), 201 if opened.created else 200)


@router.get(
    "/account/{account_token}",
    summary="Get account information",
    responses={
        200: documented(
            AccountOut,
            "The account; with `at`, its balance as it stood then",
            ACCOUNT_EXAMPLE,
        ),
        422: ledger_error(
            "The token does not exist, or `at` is not a time with an offset",
            {"code": "AccountNotFound", "message": "The account does not exist."},
        ),
        **_COMMON,
    },
)
async def get_account(
    account_token: AccountToken,
    database: DatabaseDep,
    principal: Client,
    at: Annotated[
        str | None,
        Query(
            max_length=64,
            description="ISO 8601 with an offset (`2026-03-31T23:59:59.999999-05:00`, or `Z`): "
            "answer with the balance as it stood then",
        ),
    ] = None,
) -> Response:
    moment = None if at is None else _moment(at)
    customer = await ledger_accounts.get_account(database, principal.client_id, account_token)
    if moment is not None:
        async with database.read() as connection:
            balance = await connection.run_sync(balance_at, customer.account.id, moment)
        customer = replace(customer, account=replace(customer.account, balance_minor=balance))
    return json_response(account_json(customer))


def _moment(raw: str) -> datetime:
    found = statements.moment(raw)
    if found is None:
        raise InvalidInput(
            "at", "must be an ISO 8601 time with an offset, such as 2026-03-31T23:59:59-05:00"
        )
    return found


def _day(raw: str, name: str) -> date:
    found = statements.day(raw)
    if found is None:
        raise InvalidInput(name, "must be a date as YYYY-MM-DD")
    return found


def _days(first_raw: str, last_raw: str) -> tuple[date, date]:
    first, last = _day(first_raw, "from"), _day(last_raw, "to")
    if first > last:
        raise InvalidInput("from", "must not be after to")
    if (last - first).days >= statements.MAX_DAYS:
        raise InvalidInput("to", f"must be less than {statements.MAX_DAYS} days after from")
    return first, last


_FIRST = "YYYY-MM-DD: the first Bogotá day, included"
_LAST = (
    f"YYYY-MM-DD: the last Bogotá day, included; fewer than {statements.MAX_DAYS} days after `from`"
)
_FORMAT = "`json` (the default) or `csv`; without it, `Accept: text/csv` asks for CSV"


@router.get(
    "/account/{account_token}/statement",
    summary="Get account statement",
    responses={
        200: {
            **documented(StatementOut, "The statement, oldest first", STATEMENT_EXAMPLE),
            "content": {
                "application/json": {"example": STATEMENT_EXAMPLE},
                "text/csv": {"schema": {"type": "string"}, "example": STATEMENT_CSV_EXAMPLE},
            },
        },
        422: ledger_error(
            "The token does not exist, or a parameter is missing or invalid",
            {"code": "InvalidData", "message": "from: must not be after to"},
        ),
        **_COMMON,
    },
)
async def get_statement(
    request: Request,
    account_token: AccountToken,
    database: DatabaseDep,
    principal: Client,
    first: Annotated[str, Query(alias="from", max_length=10, description=_FIRST)],
    last: Annotated[str, Query(alias="to", max_length=10, description=_LAST)],
    format: Annotated[str | None, Query(max_length=8, description=_FORMAT)] = None,
) -> Response:
    """The account's entries of the Bogotá days from `from` to `to`, both included, with
    the balance before and after them; streamed, as JSON or CSV."""
    days = _days(first, last)
    chosen = statements.format_of(format, request.headers.get("accept"))
    if chosen is None:
        raise InvalidInput("format", "must be json or csv")
    account = (
        await ledger_accounts.get_account(database, principal.client_id, account_token)
    ).account
    span = await _span(database, account.id, *days)
    layout = statement_layout(account.token, account.scale, span)
    name = f"statement-{account.token}-{first}-{last}"
    return statements.streamed(database, span, layout, chosen, name)


async def _span(database: Database, account_id: int, first: date, last: date) -> Span:
    async with database.read() as connection:
        return await connection.run_sync(statement_span, account_id, first, last)


@router.post(
    "/transaction",
    summary="Create transaction",
    status_code=201,
    openapi_extra=body_schema(
        TransactionIn,
        {
            "origin_account": "acc-sen2h7an42w2smdtpqhpscr6bwlh",
            "destination_account": "acc-ttwhmsaaw9in276w37ev04t66ho5",
            "amount": "1000",
            "description": "test tx",
            "unique_transfer_token": "unique_transfer_token",
        },
    ),
    responses={
        201: documented(TransactionOut, "The transaction was processed", TRANSACTION_EXAMPLE),
        208: documented(
            TransactionOut,
            "A transaction with this unique_transfer_token already exists: it is returned "
            "as stored, nothing moved again",
            TRANSACTION_EXAMPLE,
        ),
        402: ledger_error("Not enough funds", ERROR_EXAMPLE),
        422: ledger_error(
            "Invalid data, an unknown account, or a unique_transfer_token already used for "
            "a different transaction",
            {
                "code": "UniqueTransferTokenReused",
                "message": "The unique_transfer_token was already used for a different "
                "transaction; use a new token for a new transaction.",
            },
        ),
        **_TOO_LARGE,
        **_COMMON,
    },
)
async def create_transaction(
    request: Request, _key: Annotated[str | None, Security(_api_key)]
) -> Response:
    """Move money between two of your accounts. Retry with the same unique_transfer_token."""
    return await post_transaction(request)


def _authorize_client(principal: Principal | None) -> Principal:
    return authorize(principal, "ledger")


async def post_transaction(request: Request) -> Response:
    """The transfer endpoint, served as a plain route (see ``FAST_ROUTES``).

    The key is checked and the accounts found inside the batch that posts the transfer;
    a body that fails validation is answered after checking the key, so a caller without
    a valid key learns nothing but 401 or 403.
    """
    digest, body = await keyed_body(request, KEY_HEADER, TransactionIn, _authorize_client)
    result = await ledger_accounts.transfer(
        services_of(request.app).batcher,
        key_digest=digest,
        authorize=_authorize_client,
        surface=NAME,
        origin=AccountRef("origin_account", token=body.origin_account),
        destination=AccountRef("destination_account", token=body.destination_account),
        amount_minor=body.amount,
        description=body.description,
        idempotency_key=body.unique_transfer_token,
    )
    return transfer_response(result)


@router.post(
    "/transaction/batch",
    summary="Create transactions in bulk",
    status_code=200,
    openapi_extra=body_schema(
        TransactionBatchIn,
        {
            "transactions": [
                {
                    "origin_account": "acc-sen2h7an42w2smdtpqhpscr6bwlh",
                    "destination_account": "acc-ttwhmsaaw9in276w37ev04t66ho5",
                    "amount": "1000",
                    "description": "test tx",
                    "unique_transfer_token": "unique_transfer_token",
                },
                {
                    "origin_account": "acc-ttwhmsaaw9in276w37ev04t66ho5",
                    "destination_account": "acc-sen2h7an42w2smdtpqhpscr6bwlh",
                    "amount": "500",
                    "description": "change",
                    "unique_transfer_token": "unique_transfer_token_2",
                },
            ],
            "atomic": False,
        },
    ),
    responses={
        200: documented(
            TransactionBatchOut,
            "Each transaction's own answer, in request order (some may be refused)",
            BATCH_EXAMPLE,
        ),
        409: documented(
            BatchRejectedOut,
            "An atomic batch of which some transaction would be refused: nothing was written",
            BATCH_REJECTED_EXAMPLE,
        ),
        422: ledger_error(
            "The envelope is invalid: no list, an empty one, or over 1,000 transactions",
            {
                "code": "InvalidData",
                "message": "transactions: must hold from 1 to 1,000 transactions",
            },
        ),
        413: ledger_error("The body is over 1 MiB"),
        415: _TOO_LARGE[415],
        **_COMMON,
    },
)
async def create_transaction_batch(
    request: Request, _key: Annotated[str | None, Security(_api_key)]
) -> Response:
    """Up to 1,000 transactions in one request, applied in order in one database
    transaction. Retry a whole batch after a 5XX: nothing of it was written."""
    return await post_batch(request)


async def post_batch(request: Request) -> Response:
    """The bulk transfer endpoint, served as a plain route (see ``FAST_ROUTES``)."""
    return await post_transaction_batch(request, KEY_HEADER, _authorize_client, NAME)


# Served ahead of the FastAPI routes of the same path, which document them in OpenAPI.
FAST_ROUTES = [
    Route(f"{PREFIX}/transaction", post_transaction, methods=["POST"]),
    Route(f"{PREFIX}/transaction/batch", post_batch, methods=["POST"]),
]


@router.get(
    "/transaction/{unique_transfer_token}",
    summary="Get transaction information",
    responses={
        200: documented(TransactionOut, "The transaction", TRANSACTION_EXAMPLE),
        422: ledger_error(
            "No transaction with this unique_transfer_token",
            {"code": "TransactionNotFound", "message": "The transaction does not exist."},
        ),
        **_COMMON,
    },
)
async def get_transaction(
    unique_transfer_token: Annotated[str, Path(pattern=TRANSFER_TOKEN_PATTERN)],
    database: DatabaseDep,
    principal: Client,
) -> Response:
    transfer = await ledger_accounts.get_transfer(
        database, principal.client_id, NAME, unique_transfer_token
    )
    return json_response(transaction_json(transfer))


@router.get(
    "/account/{account_token}/transactions",
    summary="Get transactions history",
    responses={
        200: documented(
            TransactionsOut,
            "The account's transactions, newest first",
            {"transactions": [TRANSACTION_EXAMPLE], "next_cursor": None},
        ),
        422: ledger_error(
            "The token does not exist",
            {"code": "AccountNotFound", "message": "The account does not exist."},
        ),
        **_COMMON,
    },
)
async def get_history(
    account_token: AccountToken,
    database: DatabaseDep,
    principal: Client,
    limit: Annotated[int, Query(ge=1, le=500, description="Page size")] = 100,
    cursor: Annotated[
        str | None,
        Query(max_length=40, description="`next_cursor` of the previous page"),
    ] = None,
) -> Response:
    page, next_cursor = await ledger_accounts.history(
        database, principal.client_id, account_token, limit=limit, cursor=cursor
    )
    return json_response(
        {"transactions": [transaction_json(item) for item in page], "next_cursor": next_cursor}
    )
