"""The pages people use: the wallet app at ``/app`` and the ops dashboard at ``/admin``.

Each page is one HTML file with its script inline, served as it is: no build step. The
wallet app talks to ``/api/wallet/v1`` with the person's log-in token; the dashboard
reads ``/admin/api/summary`` with a key of a client holding the ``admin`` scope.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import HTMLResponse

from caja.api.body import json_response
from caja.clients.service import authenticate, authorize
from caja.core.errors import Forbidden, Unauthorized
from caja.ops import dashboard

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
_PAGES = files(__package__)
# The pages load nothing from elsewhere; scripts and styles are their own, inline.
_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self' data:; form-action 'none'; frame-ancestors 'none'"
)


def _page(name: str) -> Response:
    return HTMLResponse(
        _PAGES.joinpath(name).read_text(encoding="utf-8"),
        headers={"Content-Security-Policy": _POLICY, "Cache-Control": "no-store"},
    )


@router.get("/app")
async def wallet_app() -> Response:
    return _page("app.html")


@router.get("/admin")
async def admin_page() -> Response:
    return _page("admin.html")


@router.get("/admin/api/summary")
async def admin_summary(
    request: Request, x_admin_key: Annotated[str | None, Header()] = None
) -> Response:
    database = request.app.state.database
    try:
        authorize(await authenticate(database, x_admin_key), "admin")
    except Unauthorized:
        return json_response({"code": 401, "msg": ["an admin key is required"]}, 401)
    except Forbidden:
        return json_response({"code": 403, "msg": ["the key has no admin scope"]}, 403)
    return json_response(await dashboard.summary(database))
