"""Health checks and metrics: ``/healthz``, ``/readyz`` and ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel

from caja.api.deps import DatabaseDep
from caja.api.errors import RETRY_AFTER_SECONDS
from caja.api.openapi import Responses, documented
from caja.core import metrics
from caja.http.body import json_response
from caja.http.drain import draining

__all__ = ["router"]

router = APIRouter()


class StatusOut(BaseModel):
    status: str


_UP: Responses = {200: documented(StatusOut, "Up", {"status": "ok"})}


@router.get("/metrics", include_in_schema=False)
async def metrics_text() -> Response:
    body, content_type = metrics.render()
    return Response(body, headers={"Content-Type": content_type})


@router.get("/healthz", tags=["Operations"], summary="The process is up", responses=_UP)
async def healthz() -> Response:
    return json_response({"status": "ok"})


@router.get("/readyz", tags=["Operations"], summary="The database takes a write", responses=_UP)
async def readyz(database_dep: DatabaseDep) -> Response:
    """200 when the database took a small write within the ready bound (the answer is kept
    for a second), else 503: draining on SIGTERM, no primary, a frozen or read-only
    server, a full disk."""
    if draining():
        response = json_response({"status": "draining"}, 503)
    elif await database_dep.ready():
        return json_response({"status": "ok"})
    else:
        response = json_response({"status": "unavailable"}, 503)
    response.headers["Retry-After"] = RETRY_AFTER_SECONDS
    return response
