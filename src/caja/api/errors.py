"""Domain errors to HTTP, in each surface's own error body: the one place that does it.

Each surface (``caja.api.surface.Surface``) carries its renderer: how it chooses a status
code for a domain error and how it writes the body. The handlers installed here pick
the surface by path and hand it the error, so FastAPI's default ``{"detail": ...}``
never reaches a client, and no route translates an error itself.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError, DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException

from caja.api.surface import Renderer, Surface, status_table
from caja.core.errors import (
    AccountConflict,
    AlreadyResolved,
    AssetMismatch,
    CajaError,
    Forbidden,
    IdempotencyConflict,
    InvalidInput,
    NoFunds,
    NotFound,
    PayloadTooLarge,
    SameAccount,
    Unauthorized,
    Unavailable,
)
from caja.http.body import UnsupportedMediaType, json_response

__all__ = [
    "LEDGER",
    "RETRY_AFTER_SECONDS",
    "code_message_body",
    "install_error_handlers",
    "ledger_status",
]

log = logging.getLogger("caja.api")

# Every 503 of ours (nothing was changed) tells the client when to try again.
RETRY_AFTER_SECONDS = "1"


def code_message_body(error: CajaError, status_code: int) -> Response:
    """The ledger surfaces' body: ``{"code": ..., "message": ...}``."""
    error = ledger_words(error)
    return json_response({"code": error.code, "message": error.message}, status_code)


def ledger_words(error: CajaError) -> CajaError:
    """The ledger's neutral errors as the ledger surfaces word them, by field name."""
    if isinstance(error, SameAccount):
        return InvalidInput("destination_account", "must differ from the origin account")
    if isinstance(error, AssetMismatch):
        return InvalidInput("destination_account", "holds another asset")
    if isinstance(error, NoFunds) and type(error).message == error.message:
        return NoFunds("Not enough funds in the origin_account.")
    if isinstance(error, IdempotencyConflict):
        return IdempotencyConflict(
            "The unique_transfer_token was already used for a different transaction; "
            "use a new token for a new transaction."
        )
    return error


_LEDGER_STATUS: list[tuple[type[CajaError], int]] = [
    (InvalidInput, 422),
    (NotFound, 422),
    (IdempotencyConflict, 422),
    (NoFunds, 402),
    (AccountConflict, 409),
    (AlreadyResolved, 409),
    (Unauthorized, 401),
    (Forbidden, 403),
    (PayloadTooLarge, 413),
    (UnsupportedMediaType, 415),
    (Unavailable, 503),
]


ledger_status = status_table(_LEDGER_STATUS)
# The ledger surfaces' answers, also given on paths no surface serves.
LEDGER = Renderer(ledger_status, code_message_body)
_HTTP_CODES = {404: "NotFound", 405: "MethodNotAllowed"}


def _retry_after(error: CajaError, response: Response) -> Response:
    """A 503 for a write that changed nothing tells the client when to try again."""
    if isinstance(error, Unavailable) and response.status_code == 503:
        response.headers["Retry-After"] = RETRY_AFTER_SECONDS
    return response


def renderers_by_prefix(surfaces: Sequence[Surface]) -> list[tuple[str, Renderer]]:
    """Each base path of ``surfaces`` with its renderer, the longest path first."""
    pairs = [(prefix, surface.errors) for surface in surfaces for prefix in surface.prefixes]
    return sorted(pairs, key=lambda pair: len(pair[0]), reverse=True)


def install_error_handlers(app: FastAPI, surfaces: Sequence[Surface]) -> None:
    by_length = renderers_by_prefix(surfaces)

    def renderer_of(request: Request) -> Renderer:
        path = request.url.path
        for prefix, renderer in by_length:
            if path.startswith(prefix):
                return renderer
        return LEDGER

    async def on_domain_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, CajaError)
        return _retry_after(error, renderer_of(request).answer(error))

    async def on_validation_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        first = error.errors()[0]
        location = [str(part) for part in first.get("loc", ()) if part not in ("query", "path")]
        domain = InvalidInput(".".join(location), str(first.get("msg", "is invalid")))
        return await on_domain_error(request, domain)

    async def on_http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        code = _HTTP_CODES.get(error.status_code, "HTTPError")
        domain = CajaError(str(error.detail), code=code)
        return renderer_of(request).answer(domain, error.status_code)

    async def on_database_error(request: Request, error: Exception) -> Response:
        if isinstance(error, DataError):
            # A value the database refuses (its transaction rolled back): the same request
            # would be refused again, so it is bad input, not a failure to retry.
            log.warning("database refused a value on %s %s: %s", request.method,
                        request.url.path, error)  # fmt: skip
            refused = InvalidInput("", "holds a value the database cannot store")
            return await on_domain_error(request, refused)
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, error)
        return await on_domain_error(request, Unavailable())

    async def on_unexpected(request: Request, error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        domain = CajaError(
            "Internal server error; it is safe to retry the request with the same token.",
            code="InternalError",
        )
        return renderer_of(request).answer(domain, 500)

    app.add_exception_handler(CajaError, on_domain_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(DBAPIError, on_database_error)
    app.add_exception_handler(PoolTimeout, on_database_error)
    app.add_exception_handler(OSError, on_database_error)
    app.add_exception_handler(Exception, on_unexpected)
