"""The wallet's error answers: ``{"code": <status>, "msg": [<message>]}``, and the token
refusals in the guide's own shapes."""

from __future__ import annotations

from fastapi import Response
from fastapi.responses import PlainTextResponse

from caja.api.surface import Renderer, status_table
from caja.api.wallet.auth import TokenExpired, TokenMissing, TokenRefused
from caja.core.errors import (
    AccountConflict,
    CajaError,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    Unavailable,
)
from caja.http.body import UnsupportedMediaType, json_response
from caja.wallet.service import LoginRefused, TooManyAttempts

__all__ = ["ERRORS", "error_body", "wallet_status"]

_STATUS: list[tuple[type[CajaError], int]] = [
    (InvalidInput, 400),
    (NotFound, 400),
    (AccountConflict, 409),
    (LoginRefused, 401),
    (TooManyAttempts, 429),
    (PayloadTooLarge, 413),
    (UnsupportedMediaType, 415),
    (Unavailable, 503),
    (TokenMissing, 401),
    (TokenExpired, 498),
    (TokenRefused, 403),
]


wallet_status = status_table(_STATUS)

# Answered in plain text, the message alone, as the guide shows them.
_PLAIN_TEXT = (TokenExpired, TokenRefused)


def _message(error: CajaError) -> str:
    if isinstance(error, InvalidInput):
        return f"{error.field}: {error.problem}" if error.field else error.problem
    if isinstance(error, TokenMissing):
        return error.message
    return error.code


def error_body(error: CajaError, status_code: int) -> Response:
    if isinstance(error, _PLAIN_TEXT):
        return PlainTextResponse(error.message, status_code)
    response = json_response({"code": status_code, "msg": [_message(error)]}, status_code)
    if isinstance(error, TooManyAttempts):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


ERRORS = Renderer(wallet_status, error_body)
