"""Reading the gateway's requests, with the seed's own (Spanish) error messages.

Each reader takes the raw JSON value and returns it clean, or raises
:class:`InvalidInput` naming the field, the message and the value, as the surface's
``{error_message, field, value}`` body shows them. :func:`purchase` and
:func:`history_query` read a whole request, field by field in the order the seed
checks them (the amount's bounds, a rule of the product, in its turn).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from fastapi import Request

from caja.core.errors import InvalidInput
from caja.http.body import read_object
from caja.topups import rules
from caja.topups.service import Kind, PurchaseData

__all__ = [
    "BLANK",
    "INTEGER",
    "MAX_PER_PAGE",
    "REQUIRED",
    "HistoryQuery",
    "day",
    "history_query",
    "integer",
    "optional_text",
    "page_number",
    "pages",
    "phone",
    "purchase",
    "read_body",
    "text",
]

REQUIRED = "Este campo es requerido."
NULL = "Este campo no puede ser nulo."
BLANK = "Este campo no puede estar en blanco."
NOT_TEXT = "No es una cadena válida."
MAX_LENGTH = "Asegúrese de que este campo no tenga más de {} caracteres."
PATTERN = "Este valor no coincide con el patrón requerido."
INTEGER = "Se requiere un número entero válido."
AT_LEAST = "Asegúrese de que este valor sea mayor o igual a {}."
AT_MOST = "Asegúrese de que este valor sea menor o igual a {}."
DATE = "Fecha con formato erróneo. Use uno de los siguientes formatos en su lugar: YYYY-MM-DD."

NOT_AN_OBJECT = "El cuerpo de la solicitud debe ser un objeto JSON válido."
MAX_PER_PAGE = 1000

# The seed shows these fields' blank message without its final period.
_BLANK_WITHOUT_PERIOD = frozenset({"destination_number"})


def _present(body: dict[str, Any], name: str) -> Any:
    if name not in body:
        raise InvalidInput(name, REQUIRED)
    value = body[name]
    if value is None:
        raise InvalidInput(name, NULL, value=None)
    return value


def optional_text(body: dict[str, Any], name: str, max_length: int) -> str | None:
    """As :func:`text`, but absent or null is None."""
    return None if body.get(name) is None else text(body, name, max_length)


def text(body: dict[str, Any], name: str, max_length: int) -> str:
    """A non-blank string of at most ``max_length`` characters (numbers are taken as text)."""
    value = _present(body, name)
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise InvalidInput(name, NOT_TEXT, value=value)
    value = value.strip()
    if not value:
        message = BLANK.rstrip(".") if name in _BLANK_WITHOUT_PERIOD else BLANK
        raise InvalidInput(name, message, value=value)
    if len(value) > max_length:
        raise InvalidInput(name, MAX_LENGTH.format(max_length), value=value)
    return value


def phone(body: dict[str, Any], pattern: str) -> str:
    """``destination_number``: non-blank, then the pattern (reported as ``mobile_number``,
    as the seed names it)."""
    value = text(body, "destination_number", 20)
    if not re.fullmatch(pattern, value):
        raise InvalidInput("mobile_number", PATTERN, value=value)
    return value


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]{1,18}\s*", value):
        return int(value)
    return None


def integer(body: dict[str, Any], name: str) -> int:
    """A whole number: a JSON integer, a number without a fraction, or digits as text."""
    value = _present(body, name)
    number = _whole(value)
    if number is None:
        raise InvalidInput(name, INTEGER, value=value)
    return number


def page_number(query: dict[str, str], name: str, default: int, maximum: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    number = _whole(raw)
    if number is None:
        raise InvalidInput(name, INTEGER, value=raw)
    if number < 1:
        raise InvalidInput(name, AT_LEAST.format(1), value=raw)
    if number > maximum:
        raise InvalidInput(name, AT_MOST.format(maximum), value=raw)
    return number


def day(query: dict[str, str], name: str) -> date | None:
    raw = query.get(name)
    if raw is None:
        return None
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw):
        raise InvalidInput(name, DATE, value=raw)
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(name, DATE, value=raw) from None


def pages(query: dict[str, str]) -> tuple[int, int]:
    """``page`` and ``per_page`` of a listing."""
    page = page_number(query, "page", 1, 1_000_000)
    return page, page_number(query, "per_page", 200, MAX_PER_PAGE)


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    page: int
    per_page: int
    days: tuple[date, date] | None


def history_query(query: dict[str, str]) -> HistoryQuery:
    """A purchase history's page and its optional range of days (both ends or none)."""
    page, per_page = pages(query)
    start, end = day(query, "start_date"), day(query, "end_date")
    if (start is None) != (end is None):
        raise InvalidInput("end_date" if end is None else "start_date", REQUIRED)
    if start is not None and end is not None and start > end:
        raise InvalidInput(
            "start_date", "start_date no puede ser mayor que end_date.", value=query["start_date"]
        )
    days = (start, end) if start is not None and end is not None else None
    return HistoryQuery(page, per_page, days)


async def read_body(request: Request) -> dict[str, Any]:
    """The purchase body; a body that is not a JSON object is refused in the seed's words."""
    try:
        return await read_object(request)
    except InvalidInput as error:
        raise InvalidInput("non_field_errors", NOT_AN_OBJECT) from error


def _topup(body: dict[str, Any]) -> PurchaseData:
    destination = phone(body, r"[0-9]{10}|[0-9]{12}")
    slug = text(body, "service_provider", 40)
    amount = rules.bounded_amount(integer(body, "amount"), "de la recarga")
    rules.check_step(amount)
    token = text(body, "idempotency_token", 128)
    origin = text(body, "payment_origin", 255)
    payment = text(body, "payment_token", 64)
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


def _package(body: dict[str, Any]) -> PurchaseData:
    token = text(body, "idempotency_token", 128)
    amount = rules.bounded_amount(integer(body, "amount"), "del paquete")
    provider_code = text(body, "provider_code", 20)
    destination = phone(body, r"[0-9]{10}")
    payment = text(body, "payment_token", 64)
    package_code = text(body, "package_code", 20)
    origin = optional_text(body, "payment_origin", 255)
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


async def purchase(request: Request, kind: Kind) -> PurchaseData:
    """A top-up or package purchase request, read and checked field by field."""
    body = await read_body(request)
    return _topup(body) if kind is Kind.TOPUP else _package(body)
