"""Top-up and mobile package gateway routes, authenticated with ``Basic base64(<key>)``."""

from __future__ import annotations

import base64
import binascii
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, Security
from fastapi.security import APIKeyHeader
from sqlalchemy.engine import Connection
from starlette.convertors import Convertor, register_url_convertor

from caja.api.body import body_schema, json_response, read_object
from caja.api.deps import DatabaseDep, refuse_nul
from caja.api.errors import Surface
from caja.api.openapi import query_parameters
from caja.api.topup import docs, fields
from caja.api.topup.render import (
    SIMULTANEOUS,
    error_body,
    gateway_status,
    history_item,
    package_json,
    purchase_status,
    topup_json,
)
from caja.clients.service import authenticate, key_digest
from caja.core.errors import DuplicateRequest, InvalidInput, NotFound, Unauthorized
from caja.db.engine import Database
from caja.ledger.batching import Batcher
from caja.providers.operator import OperatorGateway
from caja.topups import catalog
from caja.topups import service as topups
from caja.topups.service import Kind, Merchant, PurchaseData, Status

__all__ = ["ALIAS", "PREFIX", "SURFACES", "router"]

PREFIX = "/api/gateway_topup/v1"
ALIAS = "/api/gateway_top-up/v1"  # the seed's other spelling
SURFACES = [Surface(prefix, gateway_status, error_body) for prefix in (PREFIX, ALIAS)]

TOPUP_MIN, TOPUP_MAX, TOPUP_STEP = 1_000, 100_000, 100
MAX_PER_PAGE = 1000

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


async def _merchant(
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


MerchantDep = Annotated[Merchant, Depends(_merchant)]


def _services(request: Request) -> tuple[Batcher, OperatorGateway]:
    return request.app.state.batcher, request.app.state.operator


# --- merchant and catalog ------------------------------------------------------------------


@router.get(
    "/merchant/balance",
    summary="Get available balance",
    responses={200: docs.example(docs.BALANCE_EXAMPLE)},
)
async def merchant_balance(database: DatabaseDep, who: MerchantDep) -> Response:
    available, max_loan = await topups.balance(database, who)
    return json_response({"balance": available, "max_loan_amount": max_loan})


@router.get(
    "/service_providers",
    summary="Get top up providers",
    responses={200: docs.example(docs.OPERATORS_EXAMPLE)},
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
    responses={200: docs.example(docs.PROVIDERS_EXAMPLE)},
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
    responses={200: docs.example(docs.PACKAGES_EXAMPLE)},
)
async def list_packages(request: Request, database: DatabaseDep, who: MerchantDep) -> Response:
    query = dict(request.query_params)
    code = query.get("provider_identifier") or None
    page = fields.page_number(query, "page", 1, 1_000_000)
    per_page = fields.page_number(query, "per_page", 200, MAX_PER_PAGE)
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


def _bounded(body: dict[str, Any], what: str) -> int:
    """``amount`` within the gateway's bounds, refused in the seed's words for ``what``
    ("de la recarga", "del paquete")."""
    amount = fields.integer(body, "amount")
    for breaks, side, bound in (
        (amount < TOPUP_MIN, "menor", TOPUP_MIN),
        (amount > TOPUP_MAX, "mayor", TOPUP_MAX),
    ):
        if breaks:
            raise InvalidInput(
                "amount", f"El monto {what} no puede ser {side} a {bound}.00.", value=amount
            )
    return amount


def _topup_data(body: dict[str, Any]) -> PurchaseData:
    destination = fields.phone(body, r"[0-9]{10}|[0-9]{12}")
    slug = fields.text(body, "service_provider", 40)
    amount = _bounded(body, "de la recarga")
    if amount % TOPUP_STEP:
        raise InvalidInput(
            "amount", f"Ensure the given value ({amount}) is divisible by 100.", value=amount
        )
    token = fields.text(body, "idempotency_token", 128)
    origin = fields.text(body, "payment_origin", 255)
    payment = fields.text(body, "payment_token", 64)
    return PurchaseData(
        kind=Kind.TOPUP,
        idempotency_token=token,
        destination_number=destination,
        amount=amount,
        payment_token=payment,
        payment_origin=origin,
        route="",
        service_provider=slug,
    )


def _with_operator(connection: Connection, data: PurchaseData) -> PurchaseData:
    assert data.service_provider is not None
    found = catalog.operator(connection, data.service_provider)
    if found is None or not found.enabled:
        raise InvalidInput(
            "service_provider",
            f"Objeto con slug={data.service_provider} no existe.",
            value=data.service_provider,
        )
    return replace(data, route=found.route)


def _package_data(body: dict[str, Any]) -> PurchaseData:
    token = fields.text(body, "idempotency_token", 128)
    amount = _bounded(body, "del paquete")
    provider_code = fields.text(body, "provider_code", 20)
    destination = fields.phone(body, r"[0-9]{10}")
    payment = fields.text(body, "payment_token", 64)
    package_code = fields.text(body, "package_code", 20)
    origin = fields.optional_text(body, "payment_origin", 255)
    return PurchaseData(
        kind=Kind.PACKAGE,
        idempotency_token=token,
        destination_number=destination,
        amount=amount,
        payment_token=payment,
        payment_origin=origin,
        route="",
        provider_code=provider_code,
        package_code=package_code,
    )


def _with_package(connection: Connection, data: PurchaseData) -> PurchaseData:
    code, package_code = data.provider_code, data.package_code
    assert code is not None
    assert package_code is not None
    provider = catalog.provider(connection, code)
    if provider is None:
        raise InvalidInput(
            "provider_code", f"Objeto con provider_code={code} no existe", value=code
        )
    if not provider.enabled:
        raise InvalidInput(
            "provider_code", "El operador móvil del paquete no está habilitado.", value=code
        )
    package = catalog.package(connection, package_code)
    if package is None:
        raise InvalidInput(
            "package_code", f"Objeto con package_code={package_code} no existe", value=package_code
        )
    if not package.enabled:
        raise InvalidInput(
            "package_code", "El paquete móvil no está habilitado.", value=package_code
        )
    if package.provider_code != code:
        raise InvalidInput(
            "provider_code", "El service_provider se debe corresponder con el mobile_package.",
            value=code,
        )  # fmt: skip
    if package.amount != data.amount:
        raise InvalidInput(
            "amount",
            f"El monto no corresponde al valor del paquete móvil ({package.amount}).",
            value=data.amount,
        )
    return replace(data, route=provider.route)


NOT_AN_OBJECT = "El cuerpo de la solicitud debe ser un objeto JSON válido."
_ALREADY = {
    Kind.TOPUP: "Ya existe un/a topup transaction con este/a idempotency token.",
    Kind.PACKAGE: "Ya existe un/a mobile package transaction con este/a idempotency token.",
}


async def _buy(request: Request, database: Database, who: Merchant, kind: Kind) -> Response:
    try:
        body = await read_object(request)
    except InvalidInput as error:
        raise InvalidInput("non_field_errors", NOT_AN_OBJECT) from error
    data = _topup_data(body) if kind is Kind.TOPUP else _package_data(body)
    check = _with_operator if kind is Kind.TOPUP else _with_package
    async with database.read() as connection:
        data = await connection.run_sync(check, data)
    batcher, gateway = _services(request)
    try:
        bought = await topups.buy(batcher, gateway, who, data)
    except DuplicateRequest as duplicate:
        if duplicate.in_flight:
            return json_response(
                {
                    "error_message": SIMULTANEOUS,
                    "field": "idempotency_token",
                    "value": data.idempotency_token,
                },
                409,
            )
        raise InvalidInput(
            "idempotency_token", _ALREADY[kind], value=data.idempotency_token
        ) from None
    status_code = purchase_status(bought)
    render = topup_json if kind is Kind.TOPUP else package_json
    return json_response(render(bought.purchase, status_code), status_code)


@router.post(
    "/topup_account",
    summary="Make a mobile top up",
    openapi_extra=body_schema(docs.TopupIn, docs.TOPUP_REQUEST),
    responses=docs.PURCHASE_RESPONSES,
)
async def topup_account(request: Request, database: DatabaseDep, who: MerchantDep) -> Response:
    return await _buy(request, database, who, Kind.TOPUP)


@router.post(
    "/package_buy",
    summary="Purchase a mobile package",
    openapi_extra=body_schema(docs.PackageIn, docs.PACKAGE_REQUEST),
    responses=docs.PURCHASE_RESPONSES,
)
async def package_buy(request: Request, database: DatabaseDep, who: MerchantDep) -> Response:
    return await _buy(request, database, who, Kind.PACKAGE)


# --- reading -------------------------------------------------------------------------------


async def _history(request: Request, database: Database, who: Merchant, kind: Kind) -> Response:
    query = dict(request.query_params)
    page = fields.page_number(query, "page", 1, 1_000_000)
    per_page = fields.page_number(query, "per_page", 200, MAX_PER_PAGE)
    start, end = fields.day(query, "start_date"), fields.day(query, "end_date")
    if (start is None) != (end is None):
        raise InvalidInput("end_date" if end is None else "start_date", fields.REQUIRED)
    if start is not None and end is not None and start > end:
        raise InvalidInput(
            "start_date", "start_date no puede ser mayor que end_date.", value=query["start_date"]
        )
    days = (start, end) if start is not None and end is not None else None
    count, found = await topups.history(
        database, who.client_id, kind, page=page, per_page=per_page, days=days
    )
    return json_response({"count": count, "transactions": [history_item(p) for p in found]})


@router.get(
    "/topup_account/transactions",
    summary="Get history Top Up",
    openapi_extra=query_parameters(docs.QUERY, "page", "per_page", "start_date", "end_date"),
)
async def topup_history(request: Request, database: DatabaseDep, who: MerchantDep) -> Response:
    return await _history(request, database, who, Kind.TOPUP)


@router.get(
    "/package_buy/transactions",
    summary="Get history purchases",
    openapi_extra=query_parameters(docs.QUERY, "page", "per_page", "start_date", "end_date"),
)
async def package_history(request: Request, database: DatabaseDep, who: MerchantDep) -> Response:
    return await _history(request, database, who, Kind.PACKAGE)


async def _find(database: Database, who: Merchant, kind: Kind, token: str) -> topups.Purchase:
    try:
        return await topups.get_purchase(database, who.client_id, kind, token)
    except NotFound as missing:
        raise InvalidInput("idempotency_token", missing.message, value=token) from None


@router.get(
    "/topup_account/{idempotency_token:any_text}",
    summary="Get top up information",
)
async def get_topup(idempotency_token: str, database: DatabaseDep, who: MerchantDep) -> Response:
    found = await _find(database, who, Kind.TOPUP, idempotency_token)
    return json_response(topup_json(found))


@router.get(
    "/package_buy/{idempotency_token:any_text}",
    summary="Get purchase information",
    description="Answers 503 for a purchase the provider rejected, 502 for one whose "
    "outcome is unknown, with the purchase in the body, as the API document says.",
)
async def get_package(idempotency_token: str, database: DatabaseDep, who: MerchantDep) -> Response:
    found = await _find(database, who, Kind.PACKAGE, idempotency_token)
    status_code = {Status.REJECTED: 503, Status.UNKNOWN: 502}.get(Status(found.status), 200)
    return json_response(package_json(found, status_code), status_code)
