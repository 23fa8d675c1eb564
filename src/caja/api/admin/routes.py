"""The ops dashboard's data: ``GET /admin/api/summary``, with a client key holding the
``admin`` scope in ``X-Admin-Key``. Left out of OpenAPI: only the dashboard page reads it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Response

from caja.api.deps import DatabaseDep
from caja.clients.service import Principal, authenticate, authorize
from caja.http.body import json_response
from caja.ops import dashboard

__all__ = ["PREFIX", "admin_key", "router"]

PREFIX = "/admin/api"

router = APIRouter(prefix=PREFIX, include_in_schema=False)


async def admin_key(
    database: DatabaseDep, x_admin_key: Annotated[str | None, Header()] = None
) -> Principal:
    """The client of the key: 401 without a valid key, 403 without the ``admin`` scope."""
    return authorize(await authenticate(database, x_admin_key), "admin")


@router.get("/summary")
async def admin_summary(
    database: DatabaseDep, _admin: Annotated[Principal, Depends(admin_key)]
) -> Response:
    return json_response(await dashboard.summary(database))
