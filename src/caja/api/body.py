"""Reading request bodies without floats, and writing JSON responses."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, TypeVar

import orjson
from fastapi import Request, Response
from pydantic import BaseModel, ValidationError

from caja.core.errors import InvalidInput, PayloadTooLarge
from caja.core.money import format_minor

__all__ = [
    "MAX_BODY_BYTES",
    "body_schema",
    "json_response",
    "money_number",
    "read_json",
    "read_object",
    "validate",
]

MAX_BODY_BYTES = 64 * 1024
M = TypeVar("M", bound=BaseModel)


def _refuse_constant(name: str) -> object:
    raise InvalidInput("", f"{name} is not a valid JSON number", code="InvalidJSON")


async def _read_capped(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise PayloadTooLarge()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
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


async def read_object(request: Request) -> dict[str, Any]:
    """Parse a JSON object body; numbers with a fraction become Decimal, never float."""
    body = await _read_capped(request)
    try:
        data = json.loads(body, parse_float=Decimal, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as error:
        if isinstance(error, InvalidInput):
            raise
        raise InvalidInput("", "the body must be a JSON object", code="InvalidJSON") from error
    if not isinstance(data, dict):
        raise InvalidInput("", "the body must be a JSON object", code="InvalidJSON")
    return data


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
