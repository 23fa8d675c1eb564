"""Purchases as the gateway answers them: the JSON of a top-up's or a package's GET, which
is also the data of its ``topup.updated`` / ``package.updated`` events."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from caja.core.clock import bogota_text

if TYPE_CHECKING:
    from caja.topups.service import Purchase

__all__ = [
    "SIMULTANEOUS",
    "package_json",
    "package_status",
    "purchase_json",
    "topup_json",
]

SIMULTANEOUS = (
    "Eally simultaneous top up request, skipping this one or top up request already answered"
)
_ANSWER_MESSAGES = {
    200: None,
    409: SIMULTANEOUS,
    500: "There was an internal error at the operator; the purchase is in process.",
    502: "Failure when performing mobile top up - top up in unknown status",
    503: "The buy was rejected",
}
# A package's GET answers 503 for a purchase the provider rejected, 502 for one whose
# outcome is unknown, with the purchase in the body.
_PACKAGE_STATUS = {"rejected": 503, "unknown": 502}


def _with_message(body: dict[str, Any], status_code: int) -> dict[str, Any]:
    message = _ANSWER_MESSAGES.get(status_code)
    if message is not None:
        body["error_message"] = message
    return body


def topup_json(purchase: Purchase, status_code: int = 200) -> dict[str, Any]:
    created = bogota_text(purchase.created_at)
    return _with_message(
        {
            "token": purchase.token,
            "idempotency_token": purchase.idempotency_token,
            "destination_number": purchase.destination_number,
            "service_provider": purchase.service_provider,
            "amount": purchase.amount,
            "payment_token": purchase.payment_token,
            "payment_origin": purchase.payment_origin,
            "route": purchase.route,
            "external_gateway_auth_code": purchase.external_gateway_auth_code,
            "gateway_topup_token": purchase.gateway_topup_token,
            "status": purchase.status,
            "result_code": purchase.result_code,
            "date_created": created,
        },
        status_code,
    )


def package_json(purchase: Purchase, status_code: int = 200) -> dict[str, Any]:
    return _with_message(
        {
            "token": purchase.token,
            "idempotency_token": purchase.idempotency_token,
            "destination_number": purchase.destination_number,
            "amount": purchase.amount,
            "payment_token": purchase.payment_token,
            "payment_origin": purchase.payment_origin,
            "package_code": purchase.package_code,
            "provider_code": purchase.provider_code,
            "route": purchase.route,
            "external_gateway_auth_code": purchase.external_gateway_auth_code,
            "gateway_topup_token": purchase.gateway_topup_token,
            "status": purchase.status.upper(),
            "result_code": purchase.result_code,
            "created_at": bogota_text(purchase.created_at),
        },
        status_code,
    )


def package_status(purchase: Purchase) -> int:
    """The HTTP status of a package's GET."""
    return _PACKAGE_STATUS.get(purchase.status, 200)


def purchase_json(purchase: Purchase) -> dict[str, Any]:
    """The purchase as its GET answers it."""
    if purchase.kind == "package":
        return package_json(purchase, package_status(purchase))
    return topup_json(purchase)
