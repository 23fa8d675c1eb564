"""Reading request bodies without floats, and writing JSON responses.

A body is read only when it is declared as JSON (``application/json`` or a
``+json`` type), is at most :data:`MAX_BODY_BYTES`, and parses as a JSON object whose
numbers are kept exact and in range and whose text can be stored: anything else is
refused before a route sees it, in the surface's own error body.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import orjson
from fastapi import Request, Response
from pydantic import BaseModel, ValidationError

from caja.core.errors import CajaError, InvalidInput, PayloadTooLarge
from caja.core.money import format_minor

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_EXPONENT",
    "Parsed",
    "UnsupportedMediaType",
    "body_schema",
    "check_text",
    "json_response",
    "money_number",
    "parse_object",
    "read_json",
    "read_object",
    "validate",
]

MAX_BODY_BYTES = 64 * 1024
# Python refuses integers of more than 4300 digits; a number whose exponent reaches past
# as many digits is refused alike, before any arithmetic on it can overflow or grow.
MAX_EXPONENT = 4300
M = TypeVar("M", bound=BaseModel)


class UnsupportedMediaType(CajaError):
    """A body that is not declared as JSON."""

    code = "UnsupportedMediaType"
    message = "The request body must be JSON, sent with Content-Type: application/json."


def _refuse_constant(name: str) -> object:
    raise InvalidInput("", f"{name} is not a valid JSON number", code="InvalidJSON")


def _decimal(text: str) -> Decimal:
    number = Decimal(text)
    if abs(number.adjusted()) > MAX_EXPONENT:
        raise InvalidInput("", f"{text[:40]} is out of range", code="InvalidJSON")
    return number


def _integer(text: str) -> int | Decimal:
    """A JSON integer; ``-0`` stays a signed zero, so that a negative sign is never lost."""
    return Decimal(text) if text == "-0" else int(text)


# What ``json.loads`` with these hooks would build on every call, built once.
_DECODER = json.JSONDecoder(
    parse_float=_decimal, parse_int=_integer, parse_constant=_refuse_constant
)


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _unstorable(text: str) -> bool:
    """Text no database column can hold: a NUL character or an unpaired surrogate."""
    if "\x00" in text:
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return True
    return False


def check_text(data: Any) -> None:
    """Refuse a string or key in ``data`` that no database can store, naming where it is."""
    _check_text(data)


def _check_text(data: Any) -> None:
    """Refuse any key or string in ``data`` that cannot be stored, naming where it is.
    Iterative, so that a deeply nested body cannot exhaust the stack."""
    pending: list[tuple[str, Any]] = [("", data)]
    while pending:
        where, value = pending.pop()
        if isinstance(value, str):
            if _unstorable(value):
                problem = "must not contain NUL characters or unpaired surrogates"
                raise InvalidInput(where, problem, code="InvalidJSON")
        elif isinstance(value, dict):
            for key, item in value.items():
                path = f"{where}.{key}" if where else key
                if _unstorable(key):
                    pending.append((where, key))
                else:
                    pending.append((path, item))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                pending.append((f"{where}.{index}" if where else str(index), item))


async def _read_capped(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


def _validation_error(error: ValidationError) -> InvalidInput:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "missing":
        message = "is required"
    return InvalidInput(field, message)


@dataclass(frozen=True, slots=True)
class Parsed:
    """A JSON object body, and whether its text had a ``\\u`` escape: only an escape can
    put a NUL character or an unpaired surrogate in a string (strict UTF-8 refuses them
    written out, and JSON a raw control character)."""

    data: dict[str, Any]
    escaped: bool


async def parse_object(request: Request, *, limit: int = MAX_BODY_BYTES) -> Parsed:
    """Parse a JSON object body; numbers with a fraction become Decimal, never float.
    Its strings are not checked: see :func:`read_object`, :func:`check_text`."""
    if not _is_json(request.headers.get("content-type")):
        raise UnsupportedMediaType()
    body = await _read_capped(request, limit)
    try:
        # Strict UTF-8: json.loads on bytes would let encoded surrogates through.
        text = body.decode()
        data = _DECODER.decode(text)
    except (ValueError, RecursionError) as error:
        if isinstance(error, InvalidInput):
            raise
        raise InvalidInput("", "the body must be a JSON object", code="InvalidJSON") from error
    if not isinstance(data, dict):
        raise InvalidInput("", "the body must be a JSON object", code="InvalidJSON")
    return Parsed(data, "\\u" in text)


async def read_object(request: Request, *, limit: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """Parse a JSON object body whose every key and string can be stored."""
    parsed = await parse_object(request, limit=limit)
    if parsed.escaped:
        _check_text(parsed.data)
    return parsed.data


def validate(model: type[M], data: dict[str, Any]) -> M:
    """``data`` as ``model``, or :class:`InvalidInput` naming the first bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise _validation_error(error) from error


async def read_json(request: Request, model: type[M]) -> M:
    """Parse a JSON object body into ``model``."""
    return validate(model, await read_object(request))


def money_number(amount_minor: int, scale: int) -> orjson.Fragment:
    """An exact JSON number such as ``9000.00``, written from integers, never a float."""
    return orjson.Fragment(format_minor(amount_minor, scale).encode())


def json_response(content: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status_code, media_type="application/json")


def body_schema(model: type[BaseModel], example: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` documenting a body that the route reads itself."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": model.model_json_schema(), "example": example}
            },
        }
    }
