"""Purchases as the gateway's JSON shows them, and the surface's error body."""

from __future__ import annotations

from contextlib import suppress
from decimal import Decimal
from typing import Any

import orjson
from fastapi import Response

from caja.api.surface import Renderer, status_table
from caja.core.clock import bogota_text
from caja.core.errors import (
    NO_VALUE,
    CajaError,
    DuplicateRequest,
    Forbidden,
    InvalidInput,
    NoFunds,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
)
from caja.http.body import UnsupportedMediaType, json_response
from caja.providers.operator import Outcome
from caja.topups.public import SIMULTANEOUS, package_json, topup_json
from caja.topups.rules import DuplicatePurchase, PurchaseNotFound
from caja.topups.service import Bought, Kind, Purchase, Status

__all__ = [
    "ERRORS",
    "NO_FUNDS",
    "SIMULTANEOUS",
    "error_body",
    "gateway_status",
    "history_item",
    "package_json",
    "purchase_status",
    "topup_json",
]

NO_FUNDS = (
    "You have no funds. Please top up your account and contact our support team to keep "
    "operating. Thank you."
)
_STATUS = [
    (InvalidInput, 422),
    (NotFound, 422),
    (NoFunds, 402),
    (Unauthorized, 401),
    (Forbidden, 403),
    (PayloadTooLarge, 413),
    (UnsupportedMediaType, 415),
]


_table_status = status_table(_STATUS)


def gateway_status(error: CajaError) -> int:
    """On this surface 502 and 503 tell what the operator did, so a failure of ours that
    changed nothing is a 500 ("safe to retry")."""
    if isinstance(error, DuplicateRequest):
        return 409 if error.in_flight else 422
    return _table_status(error)


_INT64 = range(-(2**63), 2**64)  # what orjson writes as an integer


# orjson writes at most 255 levels of nesting; a value nested deeper than this is not
# written back (no field of the gateway takes a list or an object anyway).
MAX_SHOWN_DEPTH = 100


class _TooDeep(Exception):
    pass


def _shown(value: Any, depth: int = 0) -> Any:
    """A request value as JSON shows it back: numbers orjson cannot write (fractions read
    as Decimal, integers past 64 bits) are written as the client sent them."""
    if depth > MAX_SHOWN_DEPTH:
        raise _TooDeep
    if isinstance(value, Decimal) or (
        isinstance(value, int) and not isinstance(value, bool) and value not in _INT64
    ):
        return orjson.Fragment(str(value).encode())
    if isinstance(value, list):
        return [_shown(item, depth + 1) for item in value]
    if isinstance(value, dict):
        return {name: _shown(item, depth + 1) for name, item in value.items()}
    return value


_ALREADY = {
    Kind.TOPUP: "Ya existe un/a topup transaction con este/a idempotency token.",
    Kind.PACKAGE: "Ya existe un/a mobile package transaction con este/a idempotency token.",
}


def _as_field_error(error: CajaError) -> CajaError:
    """The errors about a purchase's token, as the seed shows them: refusals of the
    ``idempotency_token`` field, with the token as the value."""
    if isinstance(error, DuplicatePurchase):
        problem = SIMULTANEOUS if error.in_flight else _ALREADY[error.kind]
        return InvalidInput("idempotency_token", problem, value=error.token)
    if isinstance(error, PurchaseNotFound):
        return InvalidInput("idempotency_token", error.message, value=error.token)
    return error


def error_body(error: CajaError, status_code: int) -> Response:
    error = _as_field_error(error)
    body: dict[str, Any] = {"error_message": error.message}
    if isinstance(error, NoFunds):
        body["error_message"] = NO_FUNDS
    elif isinstance(error, InvalidInput):
        body = {"error_message": error.problem, "field": error.field or "non_field_errors"}
        if error.value is not NO_VALUE:
            with suppress(_TooDeep):
                body["value"] = _shown(error.value)
    return json_response(body, status_code)


ERRORS = Renderer(gateway_status, error_body)


def purchase_status(bought: Bought) -> int:
    """The HTTP status of a purchase request: what the operator answered it."""
    status = bought.purchase.status
    if status == Status.AUTHORIZED:
        return 200
    if status == Status.REJECTED:
        return 503
    if status != Status.IN_PROGRESS:
        return 502
    return {Outcome.DUPLICATE: 409, Outcome.FAILED: 500}.get(bought.answer, 200)


def history_item(purchase: Purchase) -> dict[str, Any]:
    created = bogota_text(purchase.created_at)
    if purchase.kind == "package":
        return {
            "idempotency_token": purchase.idempotency_token,
            "destination_number": purchase.destination_number,
            "amount": purchase.amount,
            "package_code": purchase.package_code,
            "provider_code": purchase.provider_code,
            "status": purchase.status.upper(),
            "created_at": created,
        }
    return {
        "idempotency_token": purchase.idempotency_token,
        "destination_number": purchase.destination_number,
        "service_provider": purchase.service_provider,
        "amount": purchase.amount,
        "payment_origin": purchase.payment_origin,
        "status": purchase.status,
        "date_created": created,
        "created_at": created,
    }
