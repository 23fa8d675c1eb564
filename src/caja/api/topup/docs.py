"""OpenAPI documentation of the gateway surface: bodies, examples and answers.

The routes read and check their bodies themselves (to answer in the seed's words); the
models here only describe them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from pydantic.config import JsonDict

from caja.api.openapi import Responses, documented

__all__ = [
    "BALANCE",
    "BALANCE_EXAMPLE",
    "COMMON",
    "OPERATORS",
    "OPERATORS_EXAMPLE",
    "PACKAGES",
    "PACKAGES_EXAMPLE",
    "PACKAGE_FOUND",
    "PACKAGE_HISTORY",
    "PACKAGE_REQUEST",
    "PACKAGE_RESPONSES",
    "PROVIDERS",
    "PROVIDERS_EXAMPLE",
    "QUERY",
    "TOPUP_FOUND",
    "TOPUP_HISTORY",
    "TOPUP_REQUEST",
    "TOPUP_RESPONSES",
    "GatewayErrorOut",
    "PackageIn",
    "TopupIn",
    "example",
]


def _text(limit: int | None, description: str = "") -> Any:
    """A text field: a string or a number (taken as its text), checked once the blanks
    around it are removed, so its limit is given in words rather than as ``maxLength``."""
    if limit is not None:
        description = f"{description} At most {limit} characters.".strip()
    return Field(description=description, json_schema_extra={"type": ["string", "number"]})


def _amount(step: int | None, description: str) -> Any:
    """Whole pesos: a JSON integer (``1000.0`` too) or digits in a string."""
    whole: JsonDict = {"type": "integer", "minimum": 1000, "maximum": 100000}
    if step is not None:
        whole["multipleOf"] = step
    digits: JsonDict = {"type": "string", "pattern": r"^\s*-?[0-9]{1,18}\s*$"}
    return Field(description=description, json_schema_extra={"anyOf": [whole, digits]})


class TopupIn(BaseModel):
    destination_number: Any = _text(20, "10 or 12 digits.")
    service_provider: Any = _text(40, "An operator slug from /service_providers.")
    amount: Any = _amount(100, "Whole pesos, 1000 to 100000, a multiple of 100.")
    idempotency_token: Any = _text(128)
    payment_origin: Any = _text(255)
    payment_token: Any = _text(64)


class PackageIn(BaseModel):
    idempotency_token: Any = _text(128)
    amount: Any = _amount(None, "The package's amount, whole pesos.")
    provider_code: Any = _text(20, "A provider_code from the package providers list.")
    destination_number: Any = _text(20, "10 digits.")
    payment_token: Any = _text(64)
    package_code: Any = _text(20, "A package_code from /packages.")
    payment_origin: Any = Field(
        default=None,
        description="At most 255 characters; may be left out or null.",
        json_schema_extra={"type": ["string", "number", "null"]},
    )


class GatewayErrorOut(BaseModel):
    """The gateway's error body; ``field`` and ``value`` only on 422 (and 409)."""

    error_message: str
    field: str | None = None
    value: Any = None


TOPUP_REQUEST = {
    "idempotency_token": "my-itempotency-token-8",
    "amount": 1000,
    "service_provider": "etb",
    "destination_number": "3110001111",
    "payment_token": "wallet-11233dafd",
    "payment_origin": "Tpaga wallet",
}
PACKAGE_REQUEST = {
    "destination_number": "3024700057",
    "provider_code": 58,
    "amount": 7500,
    "idempotency_token": "2022111817513334794X305120",
    "payment_token": "wallet-11233dafd",
    "package_code": 767,
}
BALANCE_EXAMPLE = {"balance": 0, "max_loan_amount": 0}
OPERATORS_EXAMPLE = {
    "service_providers": [
        {"slug": "movistar", "name": "Movistar", "icon_url": "https://some-icon-url.com"}
    ]
}
PROVIDERS_EXAMPLE = {
    "service_providers": [
        {
            "name": "CLARO PAQUETES",
            "provider_code": "58",
            "operator_logo_url": "https://storage.googleapis.com/bucket-faas/suppliers/58.webp",
            "enabled": True,
        }
    ]
}
PACKAGES_EXAMPLE = {
    "packages": [
        {
            "name": "200 MINUTOS A TODO OPERADOR",
            "description": "200 MNTS O 20DIAS",
            "amount": 9900,
            "validity": "20 DÍAS",
            "package_code": "024",
            "sku": "50015",
            "category_code": "9",
            "category_description": "HABLAR",
            "provider_code": "58",
        }
    ]
}


# --- answers -------------------------------------------------------------------------------


class BalanceOut(BaseModel):
    balance: int = Field(description="Available whole pesos: posted balance less held money.")
    max_loan_amount: int = Field(description="How far below zero balance may go, whole pesos.")


class OperatorOut(BaseModel):
    slug: str
    name: str
    icon_url: str | None


class OperatorsOut(BaseModel):
    service_providers: list[OperatorOut]


class ProviderOut(BaseModel):
    name: str
    provider_code: str
    operator_logo_url: str | None
    enabled: bool


class ProvidersOut(BaseModel):
    service_providers: list[ProviderOut]


class PackageOut(BaseModel):
    name: str
    description: str | None
    amount: int
    validity: str | None
    package_code: str
    sku: str | None
    category_code: str | None
    category_description: str | None
    provider_code: str


class PackagesOut(BaseModel):
    packages: list[PackageOut]


class _PurchaseOut(BaseModel):
    token: str
    idempotency_token: str
    destination_number: str
    amount: int
    payment_token: str
    payment_origin: str | None
    route: str | None
    external_gateway_auth_code: str | None
    gateway_topup_token: str | None
    result_code: int | None
    error_message: str | None = Field(
        default=None, description="Only when the operator did not authorize it."
    )


class TopupOut(_PurchaseOut):
    service_provider: str
    status: str = Field(description="authorized, in_progress, unknown or rejected.")
    date_created: str = Field(description="YYYY-MM-DD HH:MM:SS, Bogotá.")


class PackagePurchaseOut(_PurchaseOut):
    package_code: str
    provider_code: str
    status: str = Field(description="AUTHORIZED, IN_PROGRESS, UNKNOWN or REJECTED.")
    created_at: str = Field(description="YYYY-MM-DD HH:MM:SS, Bogotá.")


class TopupItemOut(BaseModel):
    idempotency_token: str
    destination_number: str
    service_provider: str
    amount: int
    payment_origin: str | None
    status: str
    date_created: str
    created_at: str


class TopupHistoryOut(BaseModel):
    count: int = Field(description="How many top-ups there are in the period, all pages.")
    transactions: list[TopupItemOut]


class PackageItemOut(BaseModel):
    idempotency_token: str
    destination_number: str
    amount: int
    package_code: str
    provider_code: str
    status: str
    created_at: str


class PackageHistoryOut(BaseModel):
    count: int = Field(description="How many purchases there are in the period, all pages.")
    transactions: list[PackageItemOut]


TOPUP_EXAMPLE: dict[str, Any] = {
    "token": "topup-anfk3k353oe76shos7bthh6pn4p22",
    "idempotency_token": "order-1",
    "destination_number": "3110001111",
    "service_provider": "etb",
    "amount": 1000,
    "payment_token": "wallet-11233dafd",
    "payment_origin": "Tpaga wallet",
    "route": "MOVILRED",
    "external_gateway_auth_code": "526268936",
    "gateway_topup_token": "gw-526268936",
    "status": "authorized",
    "result_code": 0,
    "date_created": "2026-11-21 03:48:58",
}
PACKAGE_EXAMPLE: dict[str, Any] = {
    "token": "pkg-a2gzn52xx4zr6ne7yclnete3yugwm",
    "idempotency_token": "2022111817513334794X305120",
    "destination_number": "3024700057",
    "amount": 7500,
    "payment_token": "wallet-11233dafd",
    "payment_origin": None,
    "package_code": "767",
    "provider_code": "58",
    "route": "PUNTORED",
    "external_gateway_auth_code": "526268943",
    "gateway_topup_token": "gw-526268943",
    "status": "AUTHORIZED",
    "result_code": 0,
    "created_at": "2026-11-21 03:49:12",
}
TOPUP_HISTORY_EXAMPLE = {
    "count": 1,
    "transactions": [
        {
            "idempotency_token": "order-1",
            "destination_number": "3110001111",
            "service_provider": "etb",
            "amount": 1000,
            "payment_origin": "Tpaga wallet",
            "status": "authorized",
            "date_created": "2026-11-21 03:48:58",
            "created_at": "2026-11-21 03:48:58",
        }
    ],
}
PACKAGE_HISTORY_EXAMPLE = {
    "count": 1,
    "transactions": [
        {
            "idempotency_token": "2022111817513334794X305120",
            "destination_number": "3024700057",
            "amount": 7500,
            "package_code": "767",
            "provider_code": "58",
            "status": "AUTHORIZED",
            "created_at": "2026-11-21 03:49:12",
        }
    ],
}


def example(value: dict[str, Any], description: str = "Success") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"example": value}}}


def _error(description: str, message: str, field: str | None = None) -> dict[str, Any]:
    value: dict[str, Any] = {"error_message": message}
    if field is not None:
        value["field"] = field
    return {"model": GatewayErrorOut, **example(value, description)}


COMMON: Responses = {
    401: _error("No valid key", "Invalid authorization token was provided."),
    403: _error(
        "The key has no topup scope",
        "You do not have enough permissions to perform this action, "
        "please contact the support team.",
    ),
    422: _error("Invalid parameters", "Este campo es requerido.", "idempotency_token"),
    500: _error("Internal error; nothing was changed, safe to retry", "Temporary failure."),
}  # fmt: skip

_PURCHASE_ERRORS: Responses = {
    402: _error(
        "Balance plus max loan does not cover the amount",
        "You have no funds. Please top up your account and contact our support team to keep "
        "operating. Thank you.",
    ),
    409: {"description": "Another request with this token is in flight, or the operator "
          "reports one: the purchase is in progress"},
    500: {"description": "The operator failed: the purchase is in progress, money held"},
    502: {"description": "No answer from the operator: status unknown, money held"},
    503: {"description": "The operator rejected the purchase: the money is back"},
    413: _error("The body is over 64 KiB", "The request body is too large."),
    415: _error(
        "The body is not sent as application/json",
        "The request body must be JSON, sent with Content-Type: application/json.",
    ),
}  # fmt: skip

BALANCE: Responses = {200: documented(BalanceOut, "The merchant's balance", BALANCE_EXAMPLE)}
OPERATORS: Responses = {200: documented(OperatorsOut, "The operators on sale", OPERATORS_EXAMPLE)}
PROVIDERS: Responses = {200: documented(ProvidersOut, "The package providers", PROVIDERS_EXAMPLE)}
PACKAGES: Responses = {200: documented(PackagesOut, "The provider's packages", PACKAGES_EXAMPLE)}
TOPUP_FOUND: Responses = {200: documented(TopupOut, "The top-up", TOPUP_EXAMPLE)}
PACKAGE_FOUND: Responses = {200: documented(PackagePurchaseOut, "The purchase", PACKAGE_EXAMPLE)}
TOPUP_HISTORY: Responses = {200: documented(TopupHistoryOut, "One page", TOPUP_HISTORY_EXAMPLE)}
PACKAGE_HISTORY: Responses = {
    200: documented(PackageHistoryOut, "One page", PACKAGE_HISTORY_EXAMPLE)
}
_BOUGHT = "Authorized, or accepted and in progress (see `status`)"
TOPUP_RESPONSES: Responses = {
    200: documented(TopupOut, _BOUGHT, TOPUP_EXAMPLE),
    **_PURCHASE_ERRORS,
}
PACKAGE_RESPONSES: Responses = {
    200: documented(PackagePurchaseOut, _BOUGHT, PACKAGE_EXAMPLE),
    **_PURCHASE_ERRORS,
}

QUERY = {
    "provider_identifier": ("A provider_code from the package providers list.", "string"),
    "page": ("Page number, from 1 (default 1).", "integer"),
    "per_page": ("Items per page (default 200, at most 1000).", "integer"),
    "start_date": ("YYYY-MM-DD, Bogotá; with end_date.", "string"),
    "end_date": ("YYYY-MM-DD, Bogotá, included; with start_date.", "string"),
}
