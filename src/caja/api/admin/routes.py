"""The ops console's API under ``/admin/api``, with a client key holding the ``admin``
scope in ``X-Admin-Key``: the dashboard's summary, search, transfers, accounts and their
statements, purchases and reconcile now, verify, the audit trail, the webhooks' endpoints
and deliveries (enable an endpoint, replay an event). Lists are paged newest
first by cursor, and each may be downloaded as CSV; whatever runs or exports something is
recorded in the audit trail."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response, Security
from fastapi.responses import StreamingResponse
from fastapi.security import APIKeyHeader

from caja.api.admin import docs
from caja.api.admin.params import Cursor, Format, From, Limit, To, cursor_of, period, wants_csv
from caja.api.deps import BatcherDep, DatabaseDep, OperatorDep
from caja.clients.service import Principal, authenticate, authorize
from caja.core.clock import utcnow
from caja.core.errors import NotFound
from caja.db.engine import Database
from caja.http.body import json_response
from caja.ops import audit, console, dashboard, webhook_views
from caja.ops.console import DEFAULT_PAGE, Page, TransferQuery
from caja.ops.export import TRANSFER_COLUMNS, csv_lines
from caja.ops.search import search as search_all
from caja.ops.webhook_views import DeliveryQuery
from caja.topups.stats import PurchaseFilter

__all__ = ["PREFIX", "admin_key", "router"]

PREFIX = "/admin/api"

router = APIRouter(prefix=PREFIX, tags=["Admin"])

_key = APIKeyHeader(
    name="X-Admin-Key",
    scheme_name="AdminKey",
    description="The API key of a client with the `admin` scope.",
    auto_error=False,
)


async def admin_key(
    database: DatabaseDep, x_admin_key: Annotated[str | None, Security(_key)] = None
) -> Principal:
    """The client of the key: 401 without a valid key, 403 without the ``admin`` scope."""
    return authorize(await authenticate(database, x_admin_key), "admin")


AdminDep = Annotated[Principal, Depends(admin_key)]
FetchPage = Callable[[int | None, int], Awaitable[Page]]

_PURCHASE_COLUMNS = tuple(docs.PurchaseOut.model_fields)
_STATEMENT_COLUMNS = tuple(docs.StatementLineOut.model_fields)
_SEARCH_COLUMNS = ("kind", "id", "label")


async def _export(
    database: Database,
    who: Principal,
    name: str,
    parameters: dict[str, Any],
    fetch: FetchPage,
    columns: Sequence[str],
) -> Response:
    """Every row of the list as a CSV download, streamed, the export recorded first."""
    await audit.record(database, who, "export", {"list": name, **parameters})
    filename = f"caja-{name}-{utcnow():%Y%m%d-%H%M%S}.csv"
    return StreamingResponse(
        csv_lines(fetch, columns),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _shown(**parameters: Any) -> dict[str, Any]:
    return {name: value for name, value in parameters.items() if value is not None}


@router.get("/summary", summary="The dashboard's figures", responses=docs.SUMMARY)
async def admin_summary(database: DatabaseDep, _admin: AdminDep) -> Response:
    return json_response(await dashboard.summary(database))


@router.get("/search", summary="Find by token, phone, number or client", responses=docs.SEARCH)
async def search(
    request: Request,
    database: DatabaseDep,
    who: AdminDep,
    q: Annotated[str, Query(min_length=1, max_length=100, description="What to look for.")],
    format_: Format = None,
) -> Response:
    results = await search_all(database, q)
    if wants_csv(request, format_):

        async def fetch(_cursor: int | None, _limit: int) -> Page:
            return Page(results, None)

        return await _export(database, who, "search", {"q": q}, fetch, _SEARCH_COLUMNS)
    return json_response({"results": results})


TransferStatus = Literal["posted", "pending", "voided"]


@router.get("/transfers", summary="Transfers, newest first", responses=docs.TRANSFERS)
async def transfers(
    request: Request,
    database: DatabaseDep,
    who: AdminDep,
    surface: Annotated[str | None, Query(max_length=32)] = None,
    status: TransferStatus | None = None,
    first: From = None,
    last: To = None,
    client: Annotated[str | None, Query(max_length=40, description="A client's id.")] = None,
    account: Annotated[str | None, Query(max_length=40, description="An account token.")] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE,
    format_: Format = None,
) -> Response:
    start, end = period(first, last)
    asked = TransferQuery(surface, status, start, end, client, account)

    async def fetch(after: int | None, size: int) -> Page:
        return await console.transfers(database, asked, after, size)

    if wants_csv(request, format_):
        shown = _shown(surface=surface, status=status, client=client, account=account)
        shown |= _shown(first=first, last=last)
        return await _export(database, who, "transfers", shown, fetch, TRANSFER_COLUMNS)
    return json_response((await fetch(cursor_of(cursor), limit)).json())


@router.get("/transfers/{token}", summary="One transfer in full", responses=docs.TRANSFER)
async def transfer(token: str, database: DatabaseDep, _admin: AdminDep) -> Response:
    found = await console.transfer_detail(database, token)
    if found is None:
        raise NotFound("no such transfer")
    return json_response(found)


@router.get("/accounts/{token}", summary="One account and its balance", responses=docs.ACCOUNT)
async def account(token: str, database: DatabaseDep, _admin: AdminDep) -> Response:
    found = await console.account_detail(database, token)
    if found is None:
        raise NotFound("no such account")
    return json_response(found)


@router.get("/accounts/{token}/entries", summary="An account's statement", responses=docs.ENTRIES)
async def account_entries(
    token: str,
    request: Request,
    database: DatabaseDep,
    who: AdminDep,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE,
    format_: Format = None,
) -> Response:
    first = await console.statement(database, token, cursor_of(cursor), limit)
    if first is None:
        raise NotFound("no such account")

    async def fetch(after: int | None, size: int) -> Page:
        page = await console.statement(database, token, after, size)
        return page if page is not None else Page([], None)

    if wants_csv(request, format_):
        shown = {"account": token}
        return await _export(database, who, "entries", shown, fetch, _STATEMENT_COLUMNS)
    return json_response(first.json())


PurchaseStatus = Literal["created", "in_progress", "unknown", "authorized", "rejected"]


@router.get("/purchases", summary="Top-ups and packages, newest first", responses=docs.PURCHASES)
async def purchases(
    request: Request,
    database: DatabaseDep,
    who: AdminDep,
    kind: Literal["topup", "package"] | None = None,
    status: PurchaseStatus | None = None,
    first: From = None,
    last: To = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE,
    format_: Format = None,
) -> Response:
    wanted = PurchaseFilter(kind, status, *period(first, last))

    async def fetch(after: int | None, size: int) -> Page:
        return await console.purchases(database, wanted, after, size)

    if wants_csv(request, format_):
        shown = _shown(kind=kind, status=status, first=first, last=last)
        return await _export(database, who, "purchases", shown, fetch, _PURCHASE_COLUMNS)
    return json_response((await fetch(cursor_of(cursor), limit)).json())


@router.post(
    "/purchases/reconcile", summary="Reconcile open purchases now", responses=docs.RECONCILE
)
async def reconcile(
    database: DatabaseDep, batcher: BatcherDep, operator: OperatorDep, who: AdminDep
) -> Response:
    return json_response(await audit.reconcile_now(database, operator, batcher, who))


@router.post("/verify", summary="Run the ledger's checks now", responses=docs.VERIFY_RUN)
async def run_verify(database: DatabaseDep, who: AdminDep) -> Response:
    return json_response(await audit.run_verify(database, who))


@router.get("/verify", summary="The last run of the checks", responses=docs.VERIFY_LAST)
async def last_verify(database: DatabaseDep, _admin: AdminDep) -> Response:
    return json_response(await audit.last_report(database))


@router.get("/audit", summary="Recorded actions, newest first", responses=docs.AUDIT)
async def audit_trail(
    database: DatabaseDep, _admin: AdminDep, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE
) -> Response:
    return json_response((await audit.audit_page(database, cursor_of(cursor), limit)).json())


@router.get("/webhooks", summary="Every client's webhook endpoints", responses=docs.WEBHOOKS)
async def webhook_endpoints(database: DatabaseDep, _admin: AdminDep) -> Response:
    return json_response(await webhook_views.endpoints(database))


DeliveryStatus = Literal["pending", "delivered", "failed"]


@router.get(
    "/webhooks/deliveries", summary="Webhook deliveries, newest first", responses=docs.DELIVERIES
)
async def webhook_deliveries(
    database: DatabaseDep,
    _admin: AdminDep,
    endpoint: Annotated[str | None, Query(max_length=40, description="An endpoint's id.")] = None,
    status: DeliveryStatus | None = None,
    client: Annotated[str | None, Query(max_length=40, description="A client's id.")] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE,
) -> Response:
    asked = DeliveryQuery(endpoint, status, client)
    page = await webhook_views.deliveries(database, asked, cursor_of(cursor), limit)
    return json_response(page.json())


@router.get(
    "/webhooks/deliveries/{delivery_id}",
    summary="One delivery, its attempts and its event",
    responses=docs.DELIVERY,
)
async def webhook_delivery(
    delivery_id: Annotated[int, Path(ge=1, le=2**62)], database: DatabaseDep, _admin: AdminDep
) -> Response:
    found = await webhook_views.delivery_detail(database, delivery_id)
    if found is None:
        raise NotFound("no such delivery")
    return json_response(found)


@router.post(
    "/webhooks/{endpoint_id}/enable",
    summary="Enable a disabled endpoint",
    responses=docs.ENABLE,
)
async def enable_endpoint(
    endpoint_id: Annotated[str, Path(max_length=40)], database: DatabaseDep, who: AdminDep
) -> Response:
    return json_response(await webhook_views.enable(database, who, endpoint_id))


@router.post("/events/{event_id}/replay", summary="Deliver an event again", responses=docs.REPLAY)
async def replay_event(
    event_id: Annotated[str, Path(max_length=40)], database: DatabaseDep, who: AdminDep
) -> Response:
    return json_response(await webhook_views.replay(database, who, event_id))
