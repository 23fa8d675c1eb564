"""Health checks and metrics: ``/healthz``, ``/readyz`` and ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter, Response

from caja.api.deps import DatabaseDep
from caja.core import metrics
from caja.http.body import json_response
from caja.http.drain import draining

__all__ = ["router"]

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics_text() -> Response:
    body, content_type = metrics.render()
    return Response(body, headers={"Content-Type": content_type})


@router.get("/healthz", tags=["Operations"], summary="The process is up")
async def healthz() -> Response:
    return json_response({"status": "ok"})


@router.get("/readyz", tags=["Operations"], summary="The database answers")
async def readyz(database_dep: DatabaseDep) -> Response:
    if draining():
        return json_response({"status": "draining"}, 503)
    try:
        await database_dep.ping()
    except Exception:
        return json_response({"status": "unavailable"}, 503)
    return json_response({"status": "ok"})
