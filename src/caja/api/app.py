"""The ASGI application: every surface, health checks and OpenAPI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response

from caja import __version__
from caja.api import ledger_v0, ledger_v1
from caja.api.body import json_response
from caja.api.deps import DatabaseDep
from caja.api.errors import Surface, code_message_body, install_error_handlers, ledger_status
from caja.config import database_url
from caja.db.engine import Database

__all__ = ["create_app"]

DESCRIPTION = """\
caja serves payment APIs over one double-entry ledger; the two ledger surfaces below
are built, the top-up, electronic-deposit and wallet surfaces are to come. Money is exact:
amounts are parsed as decimals and kept as integers in minor units.

* **Ledger v1** (`/api/ledger/v1/public`, header `X-Account-api-key`)
* **Ledger (legacy)** (`/api/ledger/v0`, header `Authorization`)

Every 5XX answer means nothing was changed: retry with the same idempotency token.
"""


def create_app(database: Database | None = None) -> FastAPI:
    """Build the app on ``database``, or on ``CAJA_DATABASE_URL`` when none is given."""
    owned = database is None
    db = database if database is not None else Database(database_url())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:
            await db.dispose()

    app = FastAPI(
        title="caja",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.database = db
    app.include_router(ledger_v1.router)
    app.include_router(ledger_v0.router)
    install_error_handlers(
        app,
        [
            Surface(ledger_v1.PREFIX, ledger_status, code_message_body),
            ledger_v0.routes.SURFACE,
        ],
    )

    @app.get("/healthz", tags=["Operations"], summary="The process is up")
    async def healthz() -> Response:
        return json_response({"status": "ok"})

    @app.get("/readyz", tags=["Operations"], summary="The database answers")
    async def readyz(database_dep: DatabaseDep) -> Response:
        try:
            await database_dep.ping()
        except Exception:
            return json_response({"status": "unavailable"}, 503)
        return json_response({"status": "ok"})

    return app
