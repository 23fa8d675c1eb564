"""Legacy ledger routes.

Admins (a client key with ``ledger:admin``) create accounts; each new account gets its
own key, which alone can read that account's balance and send money from it to another
account of the same client, found by phone number.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, Security
from fastapi.security import APIKeyHeader
from pydantic import Field
from starlette.routing import Route

from caja.api.deps import DatabaseDep, keyed_body, services_of
from caja.api.errors import code_message_body, ledger_status
from caja.api.ledger_v1.render import account_json, transfer_response
from caja.api.ledger_v1.schemas import (
    ACCOUNT_EXAMPLE,
    ERROR_EXAMPLE,
    TRANSACTION_EXAMPLE,
    AccountIn,
    AccountOut,
    Amount,
    Body,
    Description,
    Phone,
    TransactionOut,
    UniqueTransferToken,
    ledger_error,
)
from caja.api.openapi import Responses
from caja.api.surface import Renderer
from caja.clients.service import Principal, authenticate, authorize
from caja.core.errors import AccountConflict, CajaError, Forbidden, Unauthorized
from caja.customers import service as ledger_accounts
from caja.customers.service import AccountRef
from caja.http.body import body_schema, json_response, read_json

__all__ = ["ERRORS", "FAST_ROUTES", "PREFIX", "account_holder", "admin", "router"]

PREFIX = "/api/ledger/v0"


def legacy_status(error: CajaError) -> int:
    """As v1, except that an owner who already has another account is a 406."""
    if isinstance(error, AccountConflict) and error.code == "OwnerHasAnotherAccount":
        return 406
    return ledger_status(error)


ERRORS = Renderer(legacy_status, code_message_body)

KEY_HEADER = "Authorization"
_api_key = APIKeyHeader(
    name=KEY_HEADER,
    scheme_name="LegacyLedgerKey",
    description="An admin client key for /account; an account's own key for /my/….",
    auto_error=False,
)


async def admin(database: DatabaseDep, key: Annotated[str | None, Security(_api_key)]) -> Principal:
    return authorize(await authenticate(database, key), "ledger:admin")


async def account_holder(
    database: DatabaseDep, key: Annotated[str | None, Security(_api_key)]
) -> Principal:
    return _holder(await authenticate(database, key))


Admin = Annotated[Principal, Depends(admin)]
Holder = Annotated[Principal, Depends(account_holder)]


class LegacyAccountOut(AccountOut):
    api_key: str | None = Field(
        description="The account's own key for /my/balance and /my/transfer: returned once, "
        "when the account is created (null when it already existed)"
    )


class LegacyTransferIn(Body):
    destination_phone_number: Phone
    amount: Amount
    description: Description
    unique_transfer_token: UniqueTransferToken


_COMMON: Responses = {
    401: ledger_error("Missing or wrong API key"),
    403: ledger_error("The key lacks the permission for this action"),
    422: ledger_error("Invalid data or a missing field"),
    500: ledger_error("Unexpected server error; it is safe to retry with the same token"),
    503: ledger_error("Temporary failure; nothing changed, it is safe to retry"),
}
_TOO_LARGE: Responses = {
    413: ledger_error("The body is over 64 KiB"),
    415: ledger_error("The body is not sent as application/json"),
}

router = APIRouter(prefix=PREFIX, tags=["Ledger (legacy)"])


@router.post(
    "/account",
    summary="Create or retrieve an account (admins)",
    status_code=201,
    openapi_extra=body_schema(
        AccountIn,
        {
            "phone_number": "+573334444666",
            "owner_legal_id_type": "CC",
            "owner_legal_id_number": "12333215",
            "owner_full_name": "test name",
            "owner_email": "test2@name.com",
        },
    ),
    responses={
        201: {
            "model": LegacyAccountOut,
            "description": "Created; the response carries the account's own API key, once",
            "content": {"application/json": {"example": {**ACCOUNT_EXAMPLE, "api_key": "ak-…"}}},
        },
        200: {
            "model": LegacyAccountOut,
            "description": "This owner already has this account (api_key is null)",
            "content": {"application/json": {"example": {**ACCOUNT_EXAMPLE, "api_key": None}}},
        },
        406: ledger_error(
            "Account not created; the owner already has an account with a different phone",
            {
                "code": "OwnerHasAnotherAccount",
                "message": "Account not created; the owner already has an account with a "
                "different phone number.",
            },
        ),
        409: ledger_error(
            "Account not created; the phone number belongs to another owner",
            {
                "code": "PhoneNumberTaken",
                "message": "Account not created; the phone number belongs to another "
                "owner's account.",
            },
        ),
        **_TOO_LARGE,
        **_COMMON,
    },
)
async def create_account(request: Request, database: DatabaseDep, principal: Admin) -> Response:
    body = await read_json(request, AccountIn)
    opened = await ledger_accounts.open_customer_account(
        database,
        principal.client_id,
        body.phone_number,
        body.owner_data(),
        issue_key=True,
    )
    payload = {**account_json(opened.customer), "api_key": opened.api_key}
    return json_response(payload, 201 if opened.created else 200)


@router.get(
    "/my/balance",
    summary="My account and its balance",
    responses={
        200: {
            "model": AccountOut,
            "description": "The account the key belongs to",
            "content": {"application/json": {"example": ACCOUNT_EXAMPLE}},
        },
        **{code: _COMMON[code] for code in (401, 403, 500, 503)},
    },
)
async def my_balance(database: DatabaseDep, principal: Holder) -> Response:
    assert principal.account_id is not None
    customer = await ledger_accounts.account_for_key(database, principal.account_id)
    return json_response(account_json(customer))


@router.post(
    "/my/transfer",
    summary="Transfer from my account to another account, by phone number",
    status_code=201,
    openapi_extra=body_schema(
        LegacyTransferIn,
        {
            "destination_phone_number": "+573334444777",
            "amount": "1000.00",
            "description": "lunch",
            "unique_transfer_token": "order-1234",
        },
    ),
    responses={
        201: {
            "model": TransactionOut,
            "description": "Transferred",
            "content": {"application/json": {"example": TRANSACTION_EXAMPLE}},
        },
        208: {
            "model": TransactionOut,
            "description": "Already transferred with this unique_transfer_token; returned as "
            "stored, nothing moved again",
            "content": {"application/json": {"example": TRANSACTION_EXAMPLE}},
        },
        402: ledger_error("Not enough funds in the origin_account", ERROR_EXAMPLE),
        **_TOO_LARGE,
        **_COMMON,
    },
)
async def my_transfer(
    request: Request, _key: Annotated[str | None, Security(_api_key)]
) -> Response:
    return await post_my_transfer(request)


def _holder(principal: Principal | None) -> Principal:
    if principal is None:
        raise Unauthorized()
    if principal.account_id is None:
        raise Forbidden()
    return principal


def _holder_surface(principal: Principal) -> str:
    # Keys are per account here: each account key is its own caller.
    return f"ledger_v0:{principal.account_id}"


async def post_my_transfer(request: Request) -> Response:
    """The transfer endpoint as a plain route; the key is checked inside the batch."""
    digest, body = await keyed_body(request, KEY_HEADER, LegacyTransferIn, _holder)
    result = await ledger_accounts.transfer(
        services_of(request.app).batcher,
        key_digest=digest,
        authorize=_holder,
        surface=_holder_surface,
        origin=AccountRef("origin_account"),
        destination=AccountRef("destination_account", phone_number=body.destination_phone_number),
        amount_minor=body.amount,
        description=body.description,
        idempotency_key=body.unique_transfer_token,
    )
    return transfer_response(result)


# Served ahead of the FastAPI route of the same path, which documents it in OpenAPI.
FAST_ROUTES = [Route(f"{PREFIX}/my/transfer", post_my_transfer, methods=["POST"])]
