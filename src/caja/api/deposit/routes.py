"""Electronic deposit routes: accounts, balances, transfers, reverts and history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, Security
from fastapi.security import APIKeyHeader

from caja.api import statements
from caja.api.deposit import docs, parse
from caja.api.deposit.render import (
    history_item,
    new_account_json,
    state_json,
    statement_layout,
    transfer_json,
)
from caja.api.deps import BankDep, BatcherDep, DatabaseDep, refuse_nul
from caja.api.openapi import query_parameters
from caja.clients.service import Principal, authenticate, authorize
from caja.deposits import service as deposits
from caja.http.body import json_response, read_object

__all__ = ["PREFIX", "client", "router"]

PREFIX = "/api/coopcentral/v1"

router = APIRouter(prefix=PREFIX, tags=["Electronic deposit"], responses=docs.COMMON)

_token = APIKeyHeader(
    name="Authorization",
    scheme_name="DepositToken",
    description="`Token ` followed by the API key.",
    auto_error=False,
)


async def client(
    request: Request, database: DatabaseDep, header: Annotated[str | None, Security(_token)]
) -> Principal:
    scheme, _, key = (header or "").strip().partition(" ")
    principal = None
    if scheme.lower() == "token" and key.strip():
        principal = await authenticate(database, key.strip())
    authorized = authorize(principal, "deposit")
    refuse_nul(request, "Must not contain NUL characters.", code="invalid")
    return authorized


ClientDep = Annotated[Principal, Depends(client)]


# --- routes --------------------------------------------------------------------------------


@router.post(
    "/accounts/create",
    summary="Create account",
    status_code=201,
    openapi_extra=docs.ACCOUNT,
    responses=docs.CREATED,
)
async def create_account(
    request: Request, database: DatabaseDep, bank: BankDep, who: ClientDep
) -> Response:
    holder = parse.holder(await read_object(request))
    account, created = await deposits.open_deposit_account(database, bank, who.client_id, holder)
    return json_response(new_account_json(account), 201 if created else 208)


@router.get(
    "/accounts/balance",
    summary="Get account information",
    openapi_extra=docs.with_at(query_parameters(docs.QUERY, "account_token", required=True)),
    responses=docs.BALANCE,
)
async def account_balance(
    request: Request, database: DatabaseDep, bank: BankDep, who: ClientDep
) -> Response:
    token = parse.account_token(request.query_params)
    moment = parse.moment(request.query_params)
    if moment is not None:
        then = await deposits.account_state_at(database, who.client_id, token, moment)
        return json_response(state_json(then))
    state = await deposits.account_state(database, bank, who.client_id, token)
    return json_response(state_json(state))


@router.post(
    "/transactions/create",
    summary="Transfer funds",
    status_code=201,
    openapi_extra=docs.TRANSFER,
    responses=docs.TRANSFERRED,
)
async def create_transaction(request: Request, batcher: BatcherDep, who: ClientDep) -> Response:
    data = parse.transfer_data(await read_object(request))
    stored, replayed = await deposits.transfer(batcher, who.client_id, data)
    return json_response(transfer_json(stored), 208 if replayed else 201)


@router.post(
    "/transactions/revert",
    summary="Revert transaction",
    openapi_extra=docs.REVERT,
    responses=docs.REVERTED,
)
async def revert_transaction(request: Request, batcher: BatcherDep, who: ClientDep) -> Response:
    token = parse.revert_token(await read_object(request))
    reverted = await deposits.revert(batcher, who.client_id, token)
    return json_response(transfer_json(reverted))


@router.get(
    "/transactions",
    summary="Get transactions history",
    openapi_extra=query_parameters(
        docs.QUERY, "account_token", "initial_date", "final_date", required=True
    ),
    responses=docs.HISTORY,
)
async def transaction_history(request: Request, database: DatabaseDep, who: ClientDep) -> Response:
    token, first, last = parse.history_query(request.query_params)
    account, found = await deposits.history(database, who.client_id, token, first, last)
    return json_response({"transactions": [history_item(item, account.id) for item in found]})


@router.get(
    "/accounts/statement",
    summary="Get account statement",
    openapi_extra=docs.STATEMENT_QUERY,
    responses=docs.STATEMENT,
)
async def account_statement(request: Request, database: DatabaseDep, who: ClientDep) -> Response:
    """The account's entries of the Bogotá days from `initial_date` to `final_date`, both
    included, with the balance before and after them; streamed, as JSON or CSV."""
    token, first, last, chosen = parse.statement_query(
        request.query_params, request.headers.get("accept")
    )
    account, span = await deposits.statement(database, who.client_id, token, first, last)
    layout = statement_layout(account.token, span)
    name = f"statement-{account.token}-{first.isoformat()}-{last.isoformat()}"
    return statements.streamed(database, span, layout, chosen, name)
