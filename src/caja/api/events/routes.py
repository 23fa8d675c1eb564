"""The events surface under ``/api/events/v1``, with a client's key in
``X-Account-api-key`` (any scope): its webhook endpoints, its events (to page through
them, to catch up without webhooks), their deliveries, and its balance monitors.

Every id names something of the caller's: another client's endpoint, event, delivery or
monitor is answered exactly as a missing one.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response, Security
from fastapi.security import APIKeyHeader
from sqlalchemy.engine import Connection

from caja.api.deps import DatabaseDep, refuse_nul
from caja.api.events import docs
from caja.api.events.parse import parse_threshold
from caja.api.events.render import (
    attempt_json,
    delivery_json,
    endpoint_json,
    events_page,
    monitor_json,
)
from caja.api.openapi import Responses
from caja.clients.service import Principal, authenticate
from caja.config import webhooks_allow_private
from caja.core.clock import iso_utc
from caja.core.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from caja.db.engine import Database
from caja.http.body import body_schema, json_response, read_json
from caja.ledger import events as outbox
from caja.ledger import monitors
from caja.ledger.events import EVENT_TYPES
from caja.ledger.queries import account_by
from caja.webhooks import service as webhooks
from caja.webhooks.urls import check_url

__all__ = ["PREFIX", "events_client", "router"]

PREFIX = "/api/events/v1"

_api_key = APIKeyHeader(
    name="X-Account-api-key",
    scheme_name="EventsApiKey",
    description="The client's API key, of any scope (`caja clients create`).",
    auto_error=False,
)


async def events_client(
    request: Request, database: DatabaseDep, key: Annotated[str | None, Security(_api_key)]
) -> Principal:
    """The client of the key, whatever its scopes: 401 without a valid key; 403 for a
    legacy ledger key, which stands for one account, not for a client."""
    principal = await authenticate(database, key)
    if principal is None:
        raise Unauthorized()
    if principal.account_id is not None:
        raise Forbidden()
    refuse_nul(request)
    return principal


Client = Annotated[Principal, Depends(events_client)]
EndpointId = Annotated[str, Path(max_length=64, description="The endpoint's id (we_…).")]
EventId = Annotated[str, Path(max_length=64, description="The event's id (evt_…).")]

_COMMON: Responses = {
    401: docs.error(
        "No key, or an unknown or revoked one",
        "Unauthorized",
        "Invalid authorization token was provided.",
    ),
    403: docs.error(
        "A legacy ledger key (of one account)",
        "Forbidden",
        "You do not have enough permissions to perform this action, "
        "please contact the support team.",
    ),
    422: docs.error(
        "A parameter out of its bounds (an id too long, a bad number)",
        "InvalidData",
        "endpoint_id: String should have at most 64 characters",
    ),
    503: docs.error(
        "Temporary failure; nothing changed, it is safe to retry",
        "TemporarilyUnavailable",
        "Temporary failure, nothing was changed; it is safe to retry the request.",
    ),
}

_BODY: Responses = {
    413: docs.error("The body is over 64 KiB", "PayloadTooLarge", "The request body is too large."),
    415: docs.error(
        "The body is not sent as application/json",
        "UnsupportedMediaType",
        "The request body must be JSON, sent with Content-Type: application/json.",
    ),
}

router = APIRouter(prefix=PREFIX, tags=["Events"])


def _responses(*parts: Responses) -> Responses:
    merged: Responses = {}
    for part in (_COMMON, *parts):
        merged.update(part)
    return merged


async def _read(database: Database, work: Any, *args: Any, **kwargs: Any) -> Any:
    async with database.read() as connection:
        return await connection.run_sync(work, *args, **kwargs)


def _no_content() -> Response:
    return Response(status_code=204)


# Endpoints.


@router.post(
    "/endpoints",
    summary="Add a webhook endpoint",
    status_code=201,
    openapi_extra=body_schema(
        docs.EndpointIn,
        {"url": "https://hooks.example.com/caja", "events": ["ledger.transfer.created"]},
    ),
    responses=_responses(docs.ENDPOINT_CREATED, _BODY),
)
async def add_endpoint(request: Request, database: DatabaseDep, who: Client) -> Response:
    """A new endpoint: caja signs each event it sends there with the secret answered here,
    the only time it is shown."""
    body = await read_json(request, docs.EndpointIn)
    allow_private = webhooks_allow_private()
    # The host is resolved here, in a thread and out of the write's transaction, so that
    # a slow DNS answer holds no lock; the write then checks the rest of the URL only.
    await asyncio.to_thread(check_url, body.url, allow_private=allow_private)

    def add(connection: Connection) -> webhooks.Created:
        return webhooks.add_endpoint(
            connection, who.client_id, body.url, body.events, allow_private=True
        )

    created = await database.write(add)
    return json_response({**endpoint_json(created.endpoint), "secret": created.secret}, 201)


@router.get("/endpoints", summary="Your webhook endpoints", responses=_responses(docs.ENDPOINTS))
async def list_endpoints(database: DatabaseDep, who: Client) -> Response:
    found = await _read(database, webhooks.endpoints, who.client_id)
    return json_response({"endpoints": [endpoint_json(item) for item in found]})


@router.get("/endpoints/{endpoint_id}", summary="One endpoint", responses=_responses(docs.ENDPOINT))
async def get_endpoint(endpoint_id: EndpointId, database: DatabaseDep, who: Client) -> Response:
    found = await _read(database, webhooks.endpoint, endpoint_id, who.client_id)
    return json_response(endpoint_json(found))


@router.delete(
    "/endpoints/{endpoint_id}",
    summary="Remove an endpoint",
    status_code=204,
    responses=_responses(docs.DELETED),
)
async def remove_endpoint(endpoint_id: EndpointId, database: DatabaseDep, who: Client) -> Response:
    await database.write(lambda c: webhooks.remove_endpoint(c, endpoint_id, who.client_id))
    return _no_content()


@router.post(
    "/endpoints/{endpoint_id}/rotate",
    summary="A new signing secret",
    responses=_responses(docs.ROTATED),
)
async def rotate(endpoint_id: EndpointId, database: DatabaseDep, who: Client) -> Response:
    """A new secret; the previous one signs too for 24 hours, so a receiver can switch."""

    def work(connection: Connection) -> tuple[str, webhooks.EndpointView]:
        secret = webhooks.rotate_secret(connection, endpoint_id, who.client_id)
        return secret, webhooks.endpoint(connection, endpoint_id, who.client_id)

    secret, found = await database.write(work)
    until = found.previous_until
    return json_response(
        {
            "endpoint_id": found.token,
            "secret": secret,
            "previous_secret_until": None if until is None else iso_utc(until),
        }
    )


@router.post(
    "/endpoints/{endpoint_id}/enable",
    summary="Enable a disabled endpoint",
    responses=_responses(docs.ENDPOINT),
)
async def enable(endpoint_id: EndpointId, database: DatabaseDep, who: Client) -> Response:
    """Send to it again; its pending deliveries are tried at once."""

    def work(connection: Connection) -> webhooks.EndpointView:
        webhooks.enable_endpoint(connection, endpoint_id, who.client_id)
        return webhooks.endpoint(connection, endpoint_id, who.client_id)

    return json_response(endpoint_json(await database.write(work)))


# Events.

Limit = Annotated[int, Query(ge=1, le=500, description="Events per page, 1 to 500.")]


def _event_types(types: list[str] | None) -> list[str]:
    for name in types or ():
        if name not in EVENT_TYPES:
            raise InvalidInput(
                "type",
                f"Unknown event type {name!r}; the types are: {', '.join(EVENT_TYPES)}.",
                code="UnknownEventType",
            )
    return list(types or ())


def _events_after(
    connection: Connection, client_id: int, after: str | None, limit: int, types: list[str]
) -> tuple[list[outbox.EventRow], str | None]:
    after_id = 0
    if after is not None:
        found = outbox.event_by_token(connection, after, client_id)
        if found is None:
            raise InvalidInput("after", "is not one of your events", code="EventNotFound")
        after_id = found.id
    rows = outbox.events_of_client(
        connection, client_id, after_id=after_id, limit=limit + 1, types=types
    )
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1].token
    return rows, None


@router.get("/events", summary="Your events, oldest first", responses=_responses(docs.EVENTS))
async def list_events(
    database: DatabaseDep,
    who: Client,
    after: Annotated[
        str | None, Query(max_length=64, description="The last event you have (evt_…).")
    ] = None,
    limit: Limit = 100,
    event_type: Annotated[
        list[str] | None,
        Query(alias="type", description="Only events of this type; repeatable."),
    ] = None,
) -> Response:
    """Page through your events: each as it is delivered, so a consumer that was down can
    catch up without webhooks."""
    types = _event_types(event_type)
    rows, next_after = await _read(database, _events_after, who.client_id, after, limit, types)
    return Response(events_page(rows, next_after), media_type="application/json")


async def _event(database: Database, event_id: str, client_id: int) -> outbox.EventRow:
    found = await _read(database, outbox.event_by_token, event_id, client_id)
    if found is None:
        raise NotFound("The event does not exist.", code="EventNotFound")
    assert isinstance(found, outbox.EventRow)
    return found


@router.get("/events/{event_id}", summary="One event", responses=_responses(docs.EVENT))
async def get_event(event_id: EventId, database: DatabaseDep, who: Client) -> Response:
    found = await _event(database, event_id, who.client_id)
    return Response(found.body(), media_type="application/json")


@router.post(
    "/events/{event_id}/replay",
    summary="Send an event again",
    status_code=202,
    responses=_responses(docs.REPLAYED),
)
async def replay(event_id: EventId, database: DatabaseDep, who: Client) -> Response:
    """Deliver the event again to each of your enabled endpoints that takes its type."""
    count = await database.write(lambda c: webhooks.replay(c, event_id, who.client_id))
    return json_response({"deliveries": count}, 202)


# Deliveries.

DeliveryStatus = Literal["pending", "delivered", "failed"]


@router.get(
    "/deliveries", summary="Your deliveries, newest first", responses=_responses(docs.DELIVERIES)
)
async def list_deliveries(
    database: DatabaseDep,
    who: Client,
    endpoint_id: Annotated[
        str | None, Query(max_length=64, description="Only this endpoint's.")
    ] = None,
    status: DeliveryStatus | None = None,
    before: Annotated[
        int | None, Query(ge=1, description="The `next_before` of the page before.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="1 to 500.")] = 50,
) -> Response:
    found = await _read(
        database,
        lambda c: webhooks.deliveries(
            c,
            client_id=who.client_id,
            endpoint_token=endpoint_id,
            status=status,
            before_id=before,
            limit=limit,
        ),
    )
    next_before = found[-1].id if len(found) == limit else None
    return json_response(
        {"deliveries": [delivery_json(item) for item in found], "next_before": next_before}
    )


def _delivery(connection: Connection, delivery_id: str, client_id: int) -> dict[str, Any]:
    missing = NotFound("The delivery does not exist.", code="DeliveryNotFound")
    if not delivery_id.isdigit() or len(delivery_id) > 18:
        raise missing
    wanted = int(delivery_id)
    found = webhooks.deliveries(connection, client_id=client_id, before_id=wanted + 1, limit=1)
    if not found or found[0].id != wanted:
        raise missing
    attempts = webhooks.attempts_of(connection, wanted, client_id)
    return {**delivery_json(found[0]), "attempts_made": [attempt_json(a) for a in attempts]}


@router.get(
    "/deliveries/{delivery_id}",
    summary="One delivery and its attempts",
    responses=_responses(docs.DELIVERY),
)
async def get_delivery(
    delivery_id: Annotated[str, Path(max_length=20, description="The delivery's id.")],
    database: DatabaseDep,
    who: Client,
) -> Response:
    return json_response(await _read(database, _delivery, delivery_id, who.client_id))


# Balance monitors.


def _direction(body: docs.MonitorIn) -> tuple[monitors.Direction, object]:
    if (body.below is None) == (body.above is None):
        raise InvalidInput("below", "give exactly one of below and above")
    if body.below is not None:
        return monitors.Direction.BELOW, body.below
    return monitors.Direction.ABOVE, body.above


@router.post(
    "/monitors",
    summary="Watch an account's balance",
    status_code=201,
    openapi_extra=body_schema(
        docs.MonitorIn, {"account_token": "acc-sen2h7an42w2smdtpqhpscr6bwlh", "below": "1000.00"}
    ),
    responses=_responses(docs.MONITOR_CREATED, _BODY),
)
async def add_monitor(request: Request, database: DatabaseDep, who: Client) -> Response:
    """A `balance.crossed` event each time a posting takes the balance across the
    threshold: once per crossing, not again until it has crossed back."""
    body = await read_json(request, docs.MonitorIn)
    direction, amount = _direction(body)
    account = await _read(database, account_by, token=body.account_token, client_id=who.client_id)
    if account is None:
        raise NotFound("The account does not exist.", code="AccountNotFound")
    threshold = parse_threshold(amount, account.scale, direction.value)

    def add(connection: Connection) -> monitors.MonitorView:
        return monitors.add_monitor(
            connection, who.client_id, body.account_token, direction, threshold
        )

    return json_response(monitor_json(await database.write(add)), 201)


@router.get("/monitors", summary="Your balance monitors", responses=_responses(docs.MONITORS))
async def list_monitors(
    database: DatabaseDep,
    who: Client,
    account_token: Annotated[
        str | None, Query(max_length=40, description="Only this account's.")
    ] = None,
) -> Response:
    found = await _read(database, monitors.monitors_of, who.client_id, account_token=account_token)
    return json_response({"monitors": [monitor_json(item) for item in found]})


@router.delete(
    "/monitors/{monitor_id}",
    summary="Stop watching",
    status_code=204,
    responses=_responses(docs.MONITOR_DELETED),
)
async def remove_monitor(
    monitor_id: Annotated[str, Path(max_length=64, description="The monitor's id (mon_…).")],
    database: DatabaseDep,
    who: Client,
) -> Response:
    await database.write(lambda c: monitors.remove_monitor(c, who.client_id, monitor_id))
    return _no_content()
