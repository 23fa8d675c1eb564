"""The dashboard data's refusals: ``{"code": <status>, "msg": [<message>]}``, as the page
reads them; any other error is answered as on the ledger surfaces."""

from __future__ import annotations

from fastapi import Response

from caja.api.errors import code_message_body, ledger_status
from caja.api.surface import Renderer
from caja.core.errors import CajaError, Forbidden, Unauthorized
from caja.http.body import json_response

__all__ = ["ERRORS", "error_body"]

_REFUSALS: dict[type[CajaError], str] = {
    Unauthorized: "an admin key is required",
    Forbidden: "the key has no admin scope",
}


def error_body(error: CajaError, status_code: int) -> Response:
    message = _REFUSALS.get(type(error))
    if message is None:
        return code_message_body(error, status_code)
    return json_response({"code": status_code, "msg": [message]}, status_code)


ERRORS = Renderer(ledger_status, error_body)
