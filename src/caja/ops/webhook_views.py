"""The webhooks as the ops console shows them: every client's endpoints with their state
and counts, the deliveries newest first, one delivery with its attempts and its event;
and what the console does to them (enable an endpoint, replay an event), recorded in the
audit trail.

The rows come from ``caja.webhooks`` (its service and its counts); this module shapes them
as the console's API answers them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.engine import Connection

from caja.clients.service import client_id_of, find_clients
from caja.core.clock import iso_utc
from caja.core.errors import NotFound
from caja.core.principal import Principal
from caja.db.engine import Database
from caja.ledger.events import event_by_token
from caja.ops import audit
from caja.ops.console import Page, read
from caja.webhooks import service, stats
from caja.webhooks.service import AttemptView, DeliveryView, EndpointView
from caja.webhooks.stats import EndpointCounts

__all__ = [
    "DeliveryQuery",
    "client_names",
    "deliveries",
    "delivery_detail",
    "enable",
    "endpoints",
    "replay",
]


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else iso_utc(moment)


def client_names(connection: Connection, client_ids: set[int]) -> dict[int, dict[str, str]]:
    """``{"id", "name"}`` of each client, by its id."""
    if not client_ids:
        return {}
    return {
        client_id: {"id": token, "name": name}
        for client_id, token, name in find_clients(connection, None, client_ids, len(client_ids))
    }


def _endpoint_json(
    found: EndpointView, counts: EndpointCounts, client: dict[str, str] | None
) -> dict[str, Any]:
    return {
        "id": found.token,
        "client": client,
        "url": found.url,
        "event_types": None if found.event_types is None else list(found.event_types),
        "enabled": found.enabled,
        "disabled_reason": found.disabled_reason,
        "disabled_at": _iso(found.disabled_at),
        "created_at": iso_utc(found.created_at),
        "deliveries": {
            "pending": counts.pending,
            "failed": counts.failed,
            "delivered": counts.delivered,
        },
        "last_attempt_at": _iso(counts.last_attempt_at),
    }


def _endpoints(connection: Connection) -> list[dict[str, Any]]:
    found = service.endpoints(connection)
    counts = stats.endpoint_counts(connection, [row.id for row in found])
    names = client_names(connection, {row.client_id for row in found})
    return [_endpoint_json(row, counts[row.id], names.get(row.client_id)) for row in found]


async def endpoints(database: Database) -> dict[str, Any]:
    """Every client's endpoints (not removed), oldest first."""
    return {"data": await read(database, _endpoints)}


def _delivery_json(row: DeliveryView, client: dict[str, str] | None) -> dict[str, Any]:
    return {
        "id": row.id,
        "event_id": row.event_token,
        "event_type": row.event_type,
        "endpoint": row.endpoint_token,
        "client": client,
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt_at": _iso(row.next_attempt_at)
        if row.status == service.DeliveryStatus.PENDING
        else None,
        "last_status_code": row.last_status_code,
        "last_error": row.last_error,
        "delivered_at": _iso(row.delivered_at),
        "created_at": iso_utc(row.created_at),
    }


@dataclass(frozen=True, slots=True)
class DeliveryQuery:
    """A list of deliveries as asked: the endpoint by token, the client by id (``cli-…``)."""

    endpoint: str | None = None
    status: str | None = None
    client: str | None = None


def _deliveries(
    connection: Connection, asked: DeliveryQuery, cursor: int | None, limit: int
) -> Page:
    client_id = None
    if asked.client is not None:
        client_id = client_id_of(connection, asked.client)
        if client_id is None:
            return Page([], None)
    rows = service.deliveries(
        connection,
        client_id=client_id,
        endpoint_token=asked.endpoint,
        status=asked.status,
        before_id=cursor,
        limit=limit + 1,
    )
    shown = rows[:limit]
    names = client_names(connection, {row.client_id for row in shown})
    data = [_delivery_json(row, names.get(row.client_id)) for row in shown]
    return Page(data, str(shown[-1].id) if len(rows) > limit else None)


async def deliveries(
    database: Database, asked: DeliveryQuery, cursor: int | None, limit: int
) -> Page:
    """Deliveries, newest first, a page at a time (the cursor: the last id shown)."""
    return await read(database, _deliveries, asked, cursor, limit)


def _attempt_json(attempt: AttemptView) -> dict[str, Any]:
    return {
        "attempted_at": iso_utc(attempt.attempted_at),
        "status_code": attempt.status_code,
        "error": attempt.error,
        "response": attempt.response,
        "duration_ms": attempt.duration_ms,
    }


def _delivery_detail(connection: Connection, delivery_id: int) -> dict[str, Any] | None:
    row = stats.delivery(connection, delivery_id)
    if row is None:
        return None
    endpoint = {found.token: found for found in service.endpoints(connection, removed=True)}
    event = event_by_token(connection, row.event_token)
    names = client_names(connection, {row.client_id})
    return {
        **_delivery_json(row, names.get(row.client_id)),
        "url": endpoint[row.endpoint_token].url if row.endpoint_token in endpoint else None,
        "attempt_history": [_attempt_json(a) for a in service.attempts_of(connection, row.id)],
        "event": None if event is None else orjson.Fragment(event.body()),
    }


async def delivery_detail(database: Database, delivery_id: int) -> dict[str, Any] | None:
    """The delivery, every attempt with its answer, and the event as it is delivered."""
    return await read(database, _delivery_detail, delivery_id)


def _enabled(connection: Connection, token: str) -> dict[str, Any]:
    service.enable_endpoint(connection, token)
    found = service.endpoint(connection, token)
    counts = stats.endpoint_counts(connection, [found.id])[found.id]
    return _endpoint_json(
        found, counts, client_names(connection, {found.client_id}).get(found.client_id)
    )


async def enable(database: Database, who: Principal, token: str) -> dict[str, Any]:
    """Enable the endpoint (its pending deliveries are tried again at once), recorded; the
    endpoint as listed. Raises :class:`NotFound` for an endpoint that is missing or removed."""
    try:
        done = await database.write(lambda connection: _enabled(connection, token))
    except NotFound:
        raise NotFound("no such endpoint") from None
    await audit.record(database, who, "webhook_enable", {"endpoint": token})
    return done


async def replay(database: Database, who: Principal, event_token: str) -> dict[str, Any]:
    """Deliver the event again to each enabled endpoint of its client that takes its type,
    recorded; how many deliveries were made."""
    try:
        made = await database.write(lambda connection: service.replay(connection, event_token))
    except NotFound:
        raise NotFound("no such event") from None
    await audit.record(database, who, "event_replay", {"event": event_token, "deliveries": made})
    return {"event_id": event_token, "deliveries": made}
