"""The pages people use: the wallet app at ``/app``, the ops dashboard at ``/admin``, and
``/``, a landing page linking them and the API documentation.

Each page is one HTML file with its script inline, served as it is: no build step. The
wallet app talks to ``/api/wallet/v1`` with the person's log-in token; the dashboard
reads ``/admin/api/summary`` (served by ``caja.api.admin``) with a key of a client holding
the ``admin`` scope. Nothing here imports ``caja.api``.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse

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


@router.get("/")
async def landing() -> Response:
    return _page("landing.html")


@router.get("/app")
async def wallet_app() -> Response:
    return _page("app.html")


@router.get("/admin")
async def admin_page() -> Response:
    return _page("admin.html")
