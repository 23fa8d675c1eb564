"""Dependencies shared by the surfaces."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel

from caja.api.body import read_object, validate
from caja.clients.service import Principal, authenticate, key_digest
from caja.core.errors import CajaError, InvalidInput, Unauthorized
from caja.db.engine import Database

__all__ = ["NUL_PROBLEM", "DatabaseDep", "get_database", "keyed_body", "refuse_nul"]

M = TypeVar("M", bound=BaseModel)


def get_database(request: Request) -> Database:
    database = request.app.state.database
    assert isinstance(database, Database)
    return database


DatabaseDep = Annotated[Database, Depends(get_database)]

NUL_PROBLEM = "must not contain NUL characters"


def refuse_nul(request: Request, problem: str = NUL_PROBLEM, code: str | None = None) -> None:
    """Refuse a path or query parameter holding a NUL character (``%00``), which no
    database can store or compare with, naming the parameter. The surfaces call it once
    the key is checked, so a caller without a valid key still learns nothing but 401 or
    403."""
    for name, value in (*request.path_params.items(), *request.query_params.multi_items()):
        if isinstance(value, str) and "\x00" in value:
            raise InvalidInput(name, problem, code=code, value=value)


async def keyed_body(
    request: Request,
    header: str,
    model: type[M],
    authorize: Callable[[Principal | None], Principal],
) -> tuple[str, M]:
    """The digest of the key in ``header`` and the body as ``model``, for routes whose
    key is checked later, inside their batch.

    A missing or impossible key is 401 at once. A body that cannot be read or validated
    is refused only after the key is checked here, so a caller without a valid key
    learns nothing but 401 or 403.
    """
    key = request.headers.get(header)
    digest = key_digest(key)
    if digest is None:
        raise Unauthorized()
    try:
        return digest, validate(model, await read_object(request))
    except CajaError:
        authorize(await authenticate(get_database(request), key))
        raise
