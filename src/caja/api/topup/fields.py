"""Reading the gateway's request fields, with the seed's own (Spanish) error messages.

Each reader takes the raw JSON value and returns it clean, or raises
:class:`InvalidInput` naming the field, the message and the value, as the surface's
``{error_message, field, value}`` body shows them.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

from caja.core.errors import InvalidInput

__all__ = [
    "BLANK",
    "INTEGER",
    "REQUIRED",
    "day",
    "integer",
    "optional_text",
    "page_number",
    "phone",
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
