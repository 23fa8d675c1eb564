"""The ASGI application, assembled from the API surfaces, the web pages, health checks
and OpenAPI.

``SURFACES`` lists the APIs in the order they are served: each surface's router is
included under its base paths (the first documented, the others hidden aliases), its
plain routes are served ahead of every other route, and its error renderer answers the
domain errors raised under its paths (``caja.api.errors``). The routes reach the
database, the batcher and the providers through one typed :class:`Services`, built here
once (``caja.api.deps``).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext, suppress

import httpx
from fastapi import FastAPI, Request, Response
from starlette.routing import Route

from caja import __version__, web
from caja.api import admin, deposit, events, health, ledger_v0, ledger_v1, topup, wallet
from caja.api.deps import Services, attach_services, services_of
from caja.api.errors import install_error_handlers
from caja.api.openapi import install_docs, install_openapi
from caja.api.surface import Surface
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
from caja.db.engine import Database
from caja.http.body import json_response, read_object
from caja.http.drain import drain_on_sigterm
from caja.http.observe import ObserveMiddleware, request_log
from caja.ledger.batching import Batcher
from caja.providers.bank import BankCore, SandboxBank
from caja.providers.operator import HttpOperator, OperatorGateway
from caja.providers.sandbox_operator import SandboxOperator, create_sandbox_app
from caja.topups.service import reconcile_forever
from caja.wallet.service import check_assets

__all__ = ["EMPTY_PATH", "SANDBOX_PATH", "SURFACES", "create_app", "services_of"]

DESCRIPTION = """\
caja serves payment APIs over one double-entry ledger. Money is exact: amounts are parsed as
decimals and kept as integers in minor units.

* **Ledger v1** (`/api/ledger/v1/public`, header `X-Account-api-key`)
* **Ledger (legacy)** (`/api/ledger/v0`, header `Authorization`)
* **Top-ups and packages** (`/api/gateway_topup/v1`, also `/api/gateway_top-up/v1`;
  header `Authorization: Basic base64(<key>)`)
* **Electronic deposit** (`/api/coopcentral/v1`, header `Authorization: Token <key>`)
* **Wallet** (`/api/wallet/v1`, header `X-Authorization: <token from /auth/login>`)
* **Events and webhooks** (`/api/events/v1`, header `X-Account-api-key`, any scope)

On the ledger surfaces every 5XX answer means nothing was changed: retry with the same
idempotency token. On the gateway, 502 and 503 tell what the operator did (unknown,
rejected), 500 that the purchase is in process or that nothing was changed.
"""

SURFACES: tuple[Surface, ...] = (
    ledger_v1.SURFACE,
    ledger_v0.SURFACE,
    topup.SURFACE,
    deposit.SURFACE,
    wallet.SURFACE,
    events.SURFACE,
    admin.SURFACE,
)

SANDBOX_PATH = "/sandbox/operator"
EMPTY_PATH = "/_bench/empty"

# Allocations between collections of the youngest generation (Python's default: 700).
GC_THRESHOLD = (20_000, 20, 20)


def settle_garbage_collector() -> None:
    """Leave the objects of a started server out of garbage collection, and collect less
    often: a transfer allocates many short-lived objects, and with the default settings
    the collector's passes cost a busy server about a third of its time."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


def configured_operator() -> tuple[OperatorGateway, SandboxOperator | None]:
    """The operator gateway of :func:`caja.config.operator_settings`: over HTTP to the
    configured URL, or, without one, to a sandbox operator served in process (returned
    too, so that the app can serve its control endpoints)."""
    settings = operator_settings()
    transport = None
    sandbox = None
    if settings.url is None:
        sandbox = SandboxOperator()
        transport = httpx.ASGITransport(app=create_sandbox_app(sandbox))
    gateway = HttpOperator(
        settings.url or "http://sandbox-operator",
        timeout=settings.timeout_seconds,
        transport=transport,
    )
    return gateway, sandbox


def build_services(
    database: Database, operator: OperatorGateway | None, bank: BankCore | None
) -> Services:
    """The app's services; the one place the batcher is made."""
    sandbox = None
    if operator is None:
        operator, sandbox = configured_operator()
    return Services(
        database=database,
        batcher=Batcher(database, principals=principals, **batch_settings()),
        operator=operator,
        bank=bank if bank is not None else SandboxBank(),
        wallet=wallet_settings(),
        sandbox=sandbox,
    )


Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def lifespan_of(services: Services, owned: bool, drain_seconds: float | None = None) -> Lifespan:
    """Check the wallet's assets and start reconciling on start-up; stop it, and close
    the batcher (which posts what is still queued), the gateway and an ``owned``
    database, on shut-down. With ``drain_seconds``, SIGTERM drains the server before
    it stops (:mod:`caja.http.drain`)."""
    batcher, gateway, database = services.batcher, services.operator, services.database
    reconciling = reconcile_settings()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await check_assets(database, services.wallet.assets)
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
        with drain_on_sigterm(drain_seconds) if drain_seconds is not None else nullcontext():
            yield
        if reconciler is not None:
            reconciler.cancel()
            with suppress(asyncio.CancelledError):
                await reconciler
        await batcher.close()
        await gateway.close()
        if owned:
            await database.dispose()
        # A worker of several ends on uvicorn's SIGTERM, without running atexit.
        request_log.flush()

    return lifespan


def install_surfaces(app: FastAPI, surfaces: Sequence[Surface]) -> None:
    """Each surface's router under each of its mounts, and its plain routes ahead of
    all others: the transfer endpoints skip FastAPI's per-request machinery, and their
    FastAPI routes, matched after them, only document them."""
    for surface in surfaces:
        for index, prefix in enumerate(surface.mounts):
            shown = surface.documented and index == 0
            app.include_router(surface.router, prefix=prefix, include_in_schema=shown)
    fast = [route for surface in surfaces for route in surface.fast_routes]
    app.router.routes[0:0] = fast
    install_error_handlers(app, surfaces)


def create_app(
    database: Database | None = None,
    operator: OperatorGateway | None = None,
    bank: BankCore | None = None,
    drain_seconds: float | None = None,
) -> FastAPI:
    """Build the app on ``database``, or on ``CAJA_DATABASE_URL`` when none is given, with
    ``operator`` as the mobile operator gateway, or the one configured (see
    :func:`caja.config.operator_settings`); ``drain_seconds`` as in :func:`lifespan_of`."""
    owned = database is None
    services = build_services(
        database if database is not None else Database(database_url()), operator, bank
    )
    app = FastAPI(
        title="caja",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan_of(services, owned, drain_seconds),
        # Prometheus metrics and JSON request logs are caja's own; FastAPI's OpenTelemetry
        # hooks would cost every request a lookup for nothing.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # Served by install_docs from local files instead of FastAPI's CDN pages.
        docs_url=None,
        redoc_url=None,
    )
    attach_services(app, services)
    install_surfaces(app, SURFACES)
    app.include_router(web.router)
    if services.sandbox is not None:
        # The sandbox operator the server talks to, open for trying its control endpoints.
        app.mount(SANDBOX_PATH, create_sandbox_app(services.sandbox))
    install_openapi(app)
    install_docs(app)
    app.add_middleware(ObserveMiddleware, access_log=access_log())
    app.include_router(health.router)
    if bench_endpoint():
        # Served like the hot routes, so the benchmark compares like with like.
        app.router.routes.insert(0, Route(EMPTY_PATH, _empty, methods=["POST"]))
    return app


async def _empty(request: Request) -> Response:
    """Read and parse the JSON body, answer a small JSON object: nothing else."""
    await read_object(request)
    return json_response({"ok": True})
