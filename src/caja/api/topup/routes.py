"""Top-up and mobile package gateway routes, authenticated with ``Basic base64(<key>)``."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, Security
from fastapi.security import APIKeyHeader
from starlette.convertors import Convertor, register_url_convertor

from caja.api.deps import DatabaseDep, Services, ServicesDep, refuse_nul
from caja.api.openapi import query_parameters
from caja.api.topup import docs, fields
from caja.api.topup.render import history_item, package_json, purchase_status, topup_json
from caja.clients.service import authenticate, key_digest
from caja.core.errors import Unauthorized
from caja.db.engine import Database
from caja.http.body import body_schema, json_response
from caja.topups import catalog, rules
from caja.topups import service as topups
from caja.topups.service import Kind, Merchant, Status

__all__ = ["ALIAS", "PREFIX", "merchant", "router"]

PREFIX = "/api/gateway_topup/v1"
ALIAS = "/api/gateway_top-up/v1"  # the seed's other spelling

router = APIRouter(tags=["Top-ups and packages"], responses=docs.COMMON)


class AnyText(Convertor[str]):
    """The rest of the path, whatever it holds: Starlette's ``path`` stops at a newline,
    and a purchase's token may hold one (or a "/")."""

    regex = "(?s:.*)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("any_text", AnyText())

_authorization = APIKeyHeader(
    name="Authorization",
    scheme_name="GatewayBasic",
    description="`Basic ` followed by the API key encoded in base64.",
    auto_error=False,
)


def _api_key(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    # Basic credentials may come as "key:" (user and empty password).
    return decoded.split(":", 1)[0] or None


# The seed's words for a NUL character, as its framework says them.
NUL_PROBLEM = "No se permiten caracteres nulos."


async def merchant(
    request: Request,
    database: DatabaseDep,
    header: Annotated[str | None, Security(_authorization)],
) -> Merchant:
    key = _api_key(header)
    digest = key_digest(key)
    if digest is None:
        raise Unauthorized()
    found = await topups.merchant(database, await authenticate(database, key), digest)
    refuse_nul(request, NUL_PROBLEM)
    return found


MerchantDep = Annotated[Merchant, Depends(merchant)]


# --- merchant and catalog ------------------------------------------------------------------


@router.get(
    "/merchant/balance",
    summary="Get available balance",
    responses=docs.BALANCE,
)
async def merchant_balance(database: DatabaseDep, who: MerchantDep) -> Response:
    available, max_loan = await topups.balance(database, who)
    return json_response({"balance": available, "max_loan_amount": max_loan})


@router.get(
    "/service_providers",
    summary="Get top up providers",
    responses=docs.OPERATORS,
)
async def service_providers(database: DatabaseDep, who: MerchantDep) -> Response:
    rows = await catalog.list_operators(database)
    return json_response(
        {
            "service_providers": [
                {"slug": row.slug, "name": row.name, "icon_url": row.icon_url} for row in rows
            ]
        }
    )


@router.get(
    "/mobile_package_service_providers_list",
    summary="Get mobile package providers",
    responses=docs.PROVIDERS,
)
async def package_providers(database: DatabaseDep, who: MerchantDep) -> Response:
    rows = await catalog.list_providers(database)
    return json_response(
        {
            "service_providers": [
                {
                    "name": row.name,
                    "provider_code": row.provider_code,
                    "operator_logo_url": row.operator_logo_url,
                    "enabled": row.enabled,
                }
                for row in rows
            ]
        }
    )


@router.get(
    "/packages",
    summary="Get mobile packages",
    openapi_extra=query_parameters(docs.QUERY, "provider_identifier", "page", "per_page"),
    responses=docs.PACKAGES,
)
async def list_packages(request: Request, database: DatabaseDep, who: MerchantDep) -> Response:
    query = dict(request.query_params)
    code = query.get("provider_identifier") or None
    page, per_page = fields.pages(query)
    found = await catalog.list_packages(database, code, page, per_page)
    return json_response(
        {
            "packages": [
                {
                    "name": row.name,
                    "description": row.description,
                    "amount": row.amount,
                    "validity": row.validity,
                    "package_code": row.package_code,
                    "sku": row.sku,
                    "category_code": row.category_code,
                    "category_description": row.category_description,
                    "provider_code": row.provider_code,
                }
                for row in found.rows
            ]
        }
    )


# --- buying --------------------------------------------------------------------------------


async def _buy(request: Request, services: Services, who: Merchant, kind: Kind) -> Response:
    data = await fields.purchase(request, kind)
    bought = await rules.buy(services.database, services.batcher, services.operator, who, data)
    status_code = purchase_status(bought)
    render = topup_json if kind is Kind.TOPUP else package_json
    return json_response(render(bought.purchase, status_code), status_code)


@router.post(
    "/topup_account",
    summary="Make a mobile top up",
    openapi_extra=body_schema(docs.TopupIn, docs.TOPUP_REQUEST),
    responses=docs.TOPUP_RESPONSES,
)
async def topup_account(request: Request, services: ServicesDep, who: MerchantDep) -> Response:
    return await _buy(request, services, who, Kind.TOPUP)


@router.post(
    "/package_buy",
    summary="Purchase a mobile package",
    openapi_extra=body_schema(docs.PackageIn, docs.PACKAGE_REQUEST),
    responses=docs.PACKAGE_RESPONSES,
)
async def package_buy(request: Request, services: ServicesDep, who: MerchantDep) -> Response:
    return await _buy(request, services, who, Kind.PACKAGE)


# --- reading -------------------------------------------------------------------------------


async def _history(request: Request, database: Database, who: Merchant, kind: Kind) -> Response:
    query = fields.history_query(dict(request.query_params))
    count, found = await topups.history(
        database,
        who.client_id,
        kind,
        page=query.page,
        per_page=query.per_page,
        days=query.days,
    )
    return json_response({"count": count, "transactions": [history_item(p) for p in found]})


@router.get(
    "/topup_account/transactions",
    summary="Get history Top Up",
    openapi_extra=query_parameters(docs.QUERY, "page", "per_page", "start_date", "end_date"),
    responses=docs.TOPUP_HISTORY,
)
async def topup_history(request: Request, database: DatabaseDep, who: MerchantDep) -> Response:
    return await _history(request, database, who, Kind.TOPUP)


@router.get(
    "/package_buy/transactions",
    summary="Get history purchases",
    openapi_extra=query_parameters(docs.QUERY, "page", "per_page", "start_date", "end_date"),
    responses=docs.PACKAGE_HISTORY,
)
async def package_history(request: Request, database: DatabaseDep, who: MerchantDep) -> Response:
    return await _history(request, database, who, Kind.PACKAGE)


@router.get(
    "/topup_account/{idempotency_token:any_text}",
    summary="Get top up information",
    responses=docs.TOPUP_FOUND,
)
async def get_topup(idempotency_token: str, database: DatabaseDep, who: MerchantDep) -> Response:
    found = await rules.find(database, who, Kind.TOPUP, idempotency_token)
    return json_response(topup_json(found))


@router.get(
    "/package_buy/{idempotency_token:any_text}",
    summary="Get purchase information",
    description="Answers 503 for a purchase the provider rejected, 502 for one whose "
    "outcome is unknown, with the purchase in the body, as the API document says.",
    responses=docs.PACKAGE_FOUND,
)
async def get_package(idempotency_token: str, database: DatabaseDep, who: MerchantDep) -> Response:
    found = await rules.find(database, who, Kind.PACKAGE, idempotency_token)
    status_code = {Status.REJECTED: 503, Status.UNKNOWN: 502}.get(Status(found.status), 200)
    return json_response(package_json(found, status_code), status_code)
