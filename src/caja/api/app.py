"""The ASGI application: every surface, health checks and OpenAPI."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import httpx
from fastapi import FastAPI, Request, Response
from starlette.routing import Route

from caja import __version__, web
from caja.api import deposit, ledger_v0, ledger_v1, topup, wallet
from caja.api.body import json_response, read_object
from caja.api.deps import DatabaseDep
from caja.api.errors import Surface, code_message_body, install_error_handlers, ledger_status
from caja.api.observe import ObserveMiddleware
from caja.api.openapi import install_openapi
from caja.clients.service import principals
from caja.config import (
    access_log,
    batch_settings,
    bench_endpoint,
    database_url,
    operator_settings,
    reconcile_settings,
    wallet_settings,
)
from caja.core import metrics
from caja.db.engine import Database
from caja.ledger.batching import Batcher
from caja.providers.bank import BankCore, SandboxBank
from caja.providers.operator import HttpOperator, OperatorGateway
from caja.providers.sandbox_operator import SandboxOperator, create_sandbox_app
from caja.topups.service import reconcile_forever
from caja.wallet.service import check_assets

__all__ = ["create_app"]

DESCRIPTION = """\
caja serves payment APIs over one double-entry ledger. Money is exact: amounts are parsed as
decimals and kept as integers in minor units.

* **Ledger v1** (`/api/ledger/v1/public`, header `X-Account-api-key`)
* **Ledger (legacy)** (`/api/ledger/v0`, header `Authorization`)
* **Top-ups and packages** (`/api/gateway_topup/v1`, also `/api/gateway_top-up/v1`;
  header `Authorization: Basic base64(<key>)`)
* **Electronic deposit** (`/api/coopcentral/v1`, header `Authorization: Token <key>`)
* **Wallet** (`/api/wallet/v1`, header `X-Authorization: <token from /auth/login>`)

On the ledger surfaces every 5XX answer means nothing was changed: retry with the same
idempotency token. On the gateway, 502 and 503 tell what the operator did (unknown,
rejected), 500 that the purchase is in process or that nothing was changed.
"""


# Allocations between collections of the youngest generation (Python's default: 700).
GC_THRESHOLD = (20_000, 20, 20)


def settle_garbage_collector() -> None:
    """Leave the objects of a started server out of garbage collection, and collect less
    often: a transfer allocates many short-lived objects, and with the default settings
    the collector's passes cost a busy server about a third of its time."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


SANDBOX_PATH = "/sandbox/operator"


def create_app(
    database: Database | None = None,
    operator: OperatorGateway | None = None,
    bank: BankCore | None = None,
) -> FastAPI:
    """Build the app on ``database``, or on ``CAJA_DATABASE_URL`` when none is given, with
    ``operator`` as the mobile operator gateway, or the one configured (see
    :func:`caja.config.operator_settings`)."""
    owned = database is None
    db = database if database is not None else Database(database_url())

    batcher = Batcher(db, principals=principals, **batch_settings())
    sandbox: SandboxOperator | None = None
    if operator is None:
        settings = operator_settings()
        transport = None
        if settings.url is None:
            sandbox = SandboxOperator()
            transport = httpx.ASGITransport(app=create_sandbox_app(sandbox))
        operator = HttpOperator(
            settings.url or "http://sandbox-operator", timeout=settings.timeout_seconds,
            transport=transport,
        )  # fmt: skip
    gateway = operator
    reconciling = reconcile_settings()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await check_assets(db, _app.state.wallet.assets)
        settle_garbage_collector()
        reconciler = None
        if reconciling.interval_seconds > 0:
            reconciler = asyncio.create_task(
                reconcile_forever(
                    batcher,
                    gateway,
                    interval=reconciling.interval_seconds,
                    min_age=reconciling.min_age,
                    not_found_after=reconciling.not_found_after,
                )
            )
        yield
        if reconciler is not None:
            reconciler.cancel()
            with suppress(asyncio.CancelledError):
                await reconciler
        await batcher.close()
        await gateway.close()
        if owned:
            await db.dispose()

    app = FastAPI(
        title="caja",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # Prometheus metrics and JSON request logs are caja's own; FastAPI's OpenTelemetry
        # hooks would cost every request a lookup for nothing.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.database = db
    app.state.batcher = batcher
    app.state.operator = gateway
    app.state.sandbox = sandbox
    app.state.bank = bank if bank is not None else SandboxBank()
    app.state.wallet = wallet_settings()
    app.include_router(ledger_v1.router)
    app.include_router(ledger_v0.router)
    app.include_router(topup.router, prefix=topup.PREFIX)
    app.include_router(topup.router, prefix=topup.ALIAS, include_in_schema=False)
    app.include_router(deposit.router)
    app.include_router(wallet.router)
    app.include_router(web.router)
    app.add_exception_handler(wallet.routes.Refused, wallet.routes.on_refused)
    # The transfer endpoints skip FastAPI's per-request machinery; their FastAPI routes,
    # matched after them, only document them.
    app.router.routes[0:0] = [*ledger_v1.FAST_ROUTES, *ledger_v0.FAST_ROUTES]
    install_error_handlers(
        app,
        [
            Surface(ledger_v1.PREFIX, ledger_status, code_message_body),
            ledger_v0.routes.SURFACE,
            *topup.SURFACES,
            deposit.SURFACE,
            wallet.SURFACE,
        ],
    )
    if sandbox is not None:
        # The sandbox operator the server talks to, open for trying its control endpoints.
        app.mount(SANDBOX_PATH, create_sandbox_app(sandbox))

    install_openapi(app)
    app.add_middleware(ObserveMiddleware, access_log=access_log())

    @app.get("/metrics", include_in_schema=False)
    async def metrics_text() -> Response:
        body, content_type = metrics.render()
        return Response(body, headers={"Content-Type": content_type})

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

    if bench_endpoint():
        # Served like the hot routes, so the benchmark compares like with like.
        app.router.routes.insert(0, Route(EMPTY_PATH, _empty, methods=["POST"]))
    return app


EMPTY_PATH = "/_bench/empty"


async def _empty(request: Request) -> Response:
    """Read and parse the JSON body, answer a small JSON object: nothing else."""
    await read_object(request)
    return json_response({"ok": True})
