"""What the ops console counts of the webhooks: each endpoint's deliveries by status and
its last attempt, the endpoints that are disabled, the deliveries still pending or failed
across every client, and one delivery by its id.

Each function is a synchronous function of a read ``Connection``; they see every client's
rows (the console is for operators).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from caja.webhooks.service import DeliveryStatus, DeliveryView, deliveries
from caja.webhooks.tables import webhook_attempts, webhook_deliveries, webhook_endpoints

__all__ = [
    "DisabledEndpoint",
    "EndpointCounts",
    "Totals",
    "delivery",
    "endpoint_counts",
    "totals",
]

# The disabled endpoints the overview names, at most.
MAX_DISABLED = 20


@dataclass(frozen=True, slots=True)
class EndpointCounts:
    pending: int = 0
    failed: int = 0
    delivered: int = 0
    last_attempt_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DisabledEndpoint:
    token: str
    client_id: int
    url: str
    reason: str | None
    since: datetime | None


@dataclass(frozen=True, slots=True)
class Totals:
    """Across every client: endpoints disabled (not removed), deliveries pending and
    failed, and the disabled endpoints themselves (MAX_DISABLED at most, latest first)."""

    disabled_endpoints: int
    pending_deliveries: int
    failed_deliveries: int
    disabled: list[DisabledEndpoint]


def endpoint_counts(
    connection: Connection, endpoint_ids: Sequence[int]
) -> dict[int, EndpointCounts]:
    """Each endpoint's deliveries by status, and when it was last tried."""
    if not endpoint_ids:
        return {}
    wanted = sorted(set(endpoint_ids))
    by_status: dict[int, dict[str, int]] = {}
    rows = connection.execute(
        select(webhook_deliveries.c.endpoint_id, webhook_deliveries.c.status, func.count())
        .where(webhook_deliveries.c.endpoint_id.in_(wanted))
        .group_by(webhook_deliveries.c.endpoint_id, webhook_deliveries.c.status)
    )
    for endpoint_id, status, count in rows:
        by_status.setdefault(int(endpoint_id), {})[status] = int(count)
    last = dict(
        connection.execute(
            select(webhook_deliveries.c.endpoint_id, func.max(webhook_attempts.c.attempted_at))
            .join(webhook_attempts, webhook_attempts.c.delivery_id == webhook_deliveries.c.id)
            .where(webhook_deliveries.c.endpoint_id.in_(wanted))
            .group_by(webhook_deliveries.c.endpoint_id)
        ).all()
    )
    return {
        endpoint_id: EndpointCounts(
            pending=by_status.get(endpoint_id, {}).get(DeliveryStatus.PENDING, 0),
            failed=by_status.get(endpoint_id, {}).get(DeliveryStatus.FAILED, 0),
            delivered=by_status.get(endpoint_id, {}).get(DeliveryStatus.DELIVERED, 0),
            last_attempt_at=last.get(endpoint_id),
        )
        for endpoint_id in wanted
    }


def _deliveries_with(connection: Connection, status: str) -> int:
    return int(
        connection.execute(
            select(func.count())
            .select_from(webhook_deliveries)
            .where(webhook_deliveries.c.status == status)
        ).scalar_one()
    )


def totals(connection: Connection) -> Totals:
    disabled = webhook_endpoints.c.enabled.is_(False) & webhook_endpoints.c.removed_at.is_(None)
    count = connection.execute(
        select(func.count()).select_from(webhook_endpoints).where(disabled)
    ).scalar_one()
    rows = connection.execute(
        select(
            webhook_endpoints.c.token,
            webhook_endpoints.c.client_id,
            webhook_endpoints.c.url,
            webhook_endpoints.c.disabled_reason,
            webhook_endpoints.c.disabled_at,
        )
        .where(disabled)
        .order_by(webhook_endpoints.c.id.desc())
        .limit(MAX_DISABLED)
    )
    return Totals(
        disabled_endpoints=int(count),
        pending_deliveries=_deliveries_with(connection, DeliveryStatus.PENDING),
        failed_deliveries=_deliveries_with(connection, DeliveryStatus.FAILED),
        disabled=[DisabledEndpoint(row[0], int(row[1]), *row[2:]) for row in rows],
    )


def delivery(connection: Connection, delivery_id: int) -> DeliveryView | None:
    """The delivery ``delivery_id`` (of any client), or None."""
    found = deliveries(connection, before_id=delivery_id + 1, limit=1)
    return found[0] if found and found[0].id == delivery_id else None
