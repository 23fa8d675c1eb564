"""Webhook endpoints and their deliveries: what a client (or an operator, for any client)
adds, lists, removes, rotates and replays.

Each function is a synchronous function of a ``Connection``, run by ``Database.write``
or on a read connection. With a ``client_id`` a function sees only that client's
endpoints, deliveries and events: another client's answer as missing ones
(:class:`NotFound`). Without one (the command line) it sees every client's.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection

from caja.core.clock import database_now
from caja.core.errors import InvalidInput, NotFound
from caja.core.tokens import new_token
from caja.ledger.events import EVENT_TYPES, EventRow, event_by_token, events_by_ids
from caja.webhooks.tables import webhook_attempts, webhook_deliveries, webhook_endpoints
from caja.webhooks.urls import check_url

__all__ = [
    "MAX_ENDPOINTS",
    "PREVIOUS_SECRET_HOURS",
    "AttemptView",
    "Created",
    "DeliveryStatus",
    "DeliveryView",
    "EndpointView",
    "add_endpoint",
    "attempts_of",
    "deliveries",
    "enable_endpoint",
    "endpoint",
    "endpoints",
    "new_secret",
    "remove_endpoint",
    "replay",
    "rotate_secret",
    "subscribed",
]

MAX_ENDPOINTS = 20
PREVIOUS_SECRET_HOURS = 24


class DeliveryStatus:
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class EndpointView:
    id: int
    token: str
    client_id: int
    url: str
    # None: every type.
    event_types: tuple[str, ...] | None
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    created_at: datetime
    previous_until: datetime | None
    removed_at: datetime | None


@dataclass(frozen=True, slots=True)
class Created:
    endpoint: EndpointView
    # Shown once.
    secret: str


@dataclass(frozen=True, slots=True)
class DeliveryView:
    id: int
    endpoint_token: str
    client_id: int
    event_token: str
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AttemptView:
    attempted_at: datetime
    status_code: int | None
    error: str | None
    response: str | None
    duration_ms: int


def new_secret() -> str:
    """``whsec_`` and 24 random bytes in base64, as Standard Webhooks writes secrets."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def subscribed(event_types: tuple[str, ...] | None, event_type: str) -> bool:
    return event_types is None or event_type in event_types


def _types(event_types: Sequence[str] | None) -> tuple[str, ...] | None:
    if not event_types:
        return None
    unknown = sorted(set(event_types) - set(EVENT_TYPES))
    if unknown:
        raise InvalidInput(
            "events",
            f"Unknown event type {unknown[0]!r}; the types are: {', '.join(EVENT_TYPES)}.",
            code="UnknownEventType",
        )
    return tuple(sorted(set(event_types), key=EVENT_TYPES.index))


_ENDPOINT_COLUMNS = (
    webhook_endpoints.c.id,
    webhook_endpoints.c.token,
    webhook_endpoints.c.client_id,
    webhook_endpoints.c.url,
    webhook_endpoints.c.event_types,
    webhook_endpoints.c.enabled,
    webhook_endpoints.c.disabled_reason,
    webhook_endpoints.c.disabled_at,
    webhook_endpoints.c.created_at,
    webhook_endpoints.c.previous_until,
    webhook_endpoints.c.removed_at,
)


def _endpoint(row: Any) -> EndpointView:
    types = row.event_types
    return EndpointView(
        id=int(row.id),
        token=row.token,
        client_id=int(row.client_id),
        url=row.url,
        event_types=tuple(types.split(",")) if types else None,
        enabled=bool(row.enabled),
        disabled_reason=row.disabled_reason,
        disabled_at=row.disabled_at,
        created_at=row.created_at,
        previous_until=row.previous_until,
        removed_at=row.removed_at,
    )


def add_endpoint(
    connection: Connection,
    client_id: int,
    url: object,
    event_types: Sequence[str] | None = None,
    *,
    allow_private: bool,
) -> Created:
    """A new endpoint of the client, enabled, with a new secret."""
    checked = check_url(url, allow_private=allow_private)
    types = _types(event_types)
    count = connection.execute(
        select(func.count())
        .select_from(webhook_endpoints)
        .where(webhook_endpoints.c.client_id == client_id, webhook_endpoints.c.removed_at.is_(None))
    ).scalar_one()
    if count >= MAX_ENDPOINTS:
        raise InvalidInput(
            "url", f"A client has at most {MAX_ENDPOINTS} endpoints.", code="TooManyEndpoints"
        )
    secret = new_secret()
    token = "we_" + new_token("we").removeprefix("we-")
    connection.execute(
        insert(webhook_endpoints).values(
            token=token,
            client_id=client_id,
            url=checked,
            event_types=",".join(types) if types else None,
            secret=secret,
            enabled=True,
            created_at=database_now(connection),
        )
    )
    return Created(endpoint(connection, token, client_id), secret)


def endpoints(
    connection: Connection, client_id: int | None = None, *, removed: bool = False
) -> list[EndpointView]:
    """The endpoints (of one client), oldest first; removed ones only with ``removed``."""
    query = select(*_ENDPOINT_COLUMNS).order_by(webhook_endpoints.c.id)
    if client_id is not None:
        query = query.where(webhook_endpoints.c.client_id == client_id)
    if not removed:
        query = query.where(webhook_endpoints.c.removed_at.is_(None))
    return [_endpoint(row) for row in connection.execute(query)]


def endpoint(connection: Connection, token: str, client_id: int | None = None) -> EndpointView:
    """The endpoint ``token`` (not removed); raises :class:`NotFound`."""
    query = select(*_ENDPOINT_COLUMNS).where(
        webhook_endpoints.c.token == token, webhook_endpoints.c.removed_at.is_(None)
    )
    if client_id is not None:
        query = query.where(webhook_endpoints.c.client_id == client_id)
    row = connection.execute(query).first()
    if row is None:
        raise NotFound("The endpoint does not exist.", code="EndpointNotFound")
    return _endpoint(row)


def remove_endpoint(connection: Connection, token: str, client_id: int | None = None) -> None:
    """Remove the endpoint: nothing more is sent to it, its pending deliveries fail, and its
    deliveries' history stays."""
    found = endpoint(connection, token, client_id)
    now = database_now(connection)
    connection.execute(
        update(webhook_endpoints)
        .where(webhook_endpoints.c.id == found.id)
        .values(removed_at=now, enabled=False)
    )
    connection.execute(
        update(webhook_deliveries)
        .where(
            webhook_deliveries.c.endpoint_id == found.id,
            webhook_deliveries.c.status == DeliveryStatus.PENDING,
        )
        .values(status=DeliveryStatus.FAILED, last_error="endpoint removed")
    )


def rotate_secret(connection: Connection, token: str, client_id: int | None = None) -> str:
    """A new secret for the endpoint; the old one signs too for 24 hours."""
    found = endpoint(connection, token, client_id)
    old = connection.execute(
        select(webhook_endpoints.c.secret).where(webhook_endpoints.c.id == found.id)
    ).scalar_one()
    secret = new_secret()
    connection.execute(
        update(webhook_endpoints)
        .where(webhook_endpoints.c.id == found.id)
        .values(
            secret=secret,
            previous_secret=old,
            previous_until=database_now(connection) + timedelta(hours=PREVIOUS_SECRET_HOURS),
        )
    )
    return secret


def enable_endpoint(connection: Connection, token: str, client_id: int | None = None) -> None:
    """Enable a disabled endpoint; its pending deliveries are tried again at once."""
    found = endpoint(connection, token, client_id)
    now = database_now(connection)
    connection.execute(
        update(webhook_endpoints)
        .where(webhook_endpoints.c.id == found.id)
        .values(enabled=True, disabled_reason=None, disabled_at=None, quiet_until=None)
    )
    connection.execute(
        update(webhook_deliveries)
        .where(
            webhook_deliveries.c.endpoint_id == found.id,
            webhook_deliveries.c.status == DeliveryStatus.PENDING,
        )
        .values(next_attempt_at=now, claimed_until=None)
    )


def replay(connection: Connection, event_token: str, client_id: int | None = None) -> int:
    """Deliver the event again to each enabled endpoint of its client that takes its type;
    the number of deliveries made. Raises :class:`NotFound` for a missing event."""
    event = event_by_token(connection, event_token, client_id)
    if event is None:
        raise NotFound("The event does not exist.", code="EventNotFound")
    targets = [
        found.id
        for found in endpoints(connection, event.client_id)
        if found.enabled and subscribed(found.event_types, event.type)
    ]
    _new_deliveries(connection, event, targets)
    return len(targets)


def _new_deliveries(connection: Connection, event: EventRow, endpoint_ids: list[int]) -> None:
    if not endpoint_ids:
        return
    now = database_now(connection)
    connection.execute(
        insert(webhook_deliveries),
        [
            {
                "endpoint_id": endpoint_id,
                "event_id": event.id,
                "status": DeliveryStatus.PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for endpoint_id in endpoint_ids
        ],
    )


def deliveries(
    connection: Connection,
    *,
    client_id: int | None = None,
    endpoint_token: str | None = None,
    status: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[DeliveryView]:
    """Deliveries, newest first, ``limit`` at most (below ``before_id`` to page on)."""
    query = (
        select(
            webhook_deliveries.c.id,
            webhook_endpoints.c.token,
            webhook_endpoints.c.client_id,
            webhook_deliveries.c.event_id,
            webhook_deliveries.c.status,
            webhook_deliveries.c.attempts,
            webhook_deliveries.c.next_attempt_at,
            webhook_deliveries.c.last_status_code,
            webhook_deliveries.c.last_error,
            webhook_deliveries.c.delivered_at,
            webhook_deliveries.c.created_at,
        )
        .join(webhook_endpoints, webhook_endpoints.c.id == webhook_deliveries.c.endpoint_id)
        .order_by(webhook_deliveries.c.id.desc())
        .limit(min(max(limit, 1), 500))
    )
    if client_id is not None:
        query = query.where(webhook_endpoints.c.client_id == client_id)
    if endpoint_token is not None:
        query = query.where(webhook_endpoints.c.token == endpoint_token)
    if status is not None:
        query = query.where(webhook_deliveries.c.status == status)
    if before_id is not None:
        query = query.where(webhook_deliveries.c.id < before_id)
    rows = connection.execute(query).all()
    found = events_by_ids(connection, sorted({int(row.event_id) for row in rows}))
    return [
        DeliveryView(
            id=int(row.id),
            endpoint_token=row.token,
            client_id=int(row.client_id),
            event_token=found[int(row.event_id)].token,
            event_type=found[int(row.event_id)].type,
            status=row.status,
            attempts=int(row.attempts),
            next_attempt_at=row.next_attempt_at,
            last_status_code=row.last_status_code,
            last_error=row.last_error,
            delivered_at=row.delivered_at,
            created_at=row.created_at,
        )
        for row in rows
    ]


def attempts_of(
    connection: Connection, delivery_id: int, client_id: int | None = None
) -> list[AttemptView]:
    """The delivery's attempts, oldest first; raises :class:`NotFound` for a delivery that
    is missing (or another client's)."""
    owner = connection.execute(
        select(webhook_endpoints.c.client_id)
        .join(webhook_deliveries, webhook_deliveries.c.endpoint_id == webhook_endpoints.c.id)
        .where(webhook_deliveries.c.id == delivery_id)
    ).first()
    if owner is None or (client_id is not None and int(owner.client_id) != client_id):
        raise NotFound("The delivery does not exist.", code="DeliveryNotFound")
    rows = connection.execute(
        select(
            webhook_attempts.c.attempted_at,
            webhook_attempts.c.status_code,
            webhook_attempts.c.error,
            webhook_attempts.c.response,
            webhook_attempts.c.duration_ms,
        )
        .where(webhook_attempts.c.delivery_id == delivery_id)
        .order_by(webhook_attempts.c.id)
    )
    return [AttemptView(*row) for row in rows]
