"""The console API's errors: ``{"code": <status>, "msg": [<message>]}``, as the page reads
them: 401 without a valid key, 403 without the admin scope, 400 for a bad parameter, 404
for a token that names nothing, 503 when the database cannot answer now."""

from __future__ import annotations

from fastapi import Response

from caja.api.errors import ledger_status
from caja.api.surface import Renderer, status_table
from caja.core.errors import CajaError, Forbidden, InvalidInput, NotFound, Unauthorized
from caja.http.body import json_response

__all__ = ["ERRORS", "error_body"]

_REFUSALS: dict[type[CajaError], str] = {
    Unauthorized: "an admin key is required",
    Forbidden: "the key has no admin scope",
}

_own_status = status_table([(InvalidInput, 400), (NotFound, 404)])


def _status(error: CajaError) -> int:
    own = _own_status(error)
    return own if own != 500 else ledger_status(error)


def error_body(error: CajaError, status_code: int) -> Response:
    message = _REFUSALS.get(type(error), error.message)
    return json_response({"code": status_code, "msg": [message]}, status_code)


ERRORS = Renderer(_status, error_body)
