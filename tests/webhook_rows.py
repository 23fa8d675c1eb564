"""Webhook rows the delivery runner would write, made directly for the console's tests:
an attempt with its answer, a delivery's end, an endpoint disabled."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from caja.core.clock import database_now
from caja.webhooks.tables import webhook_attempts, webhook_deliveries, webhook_endpoints


def attempt(
    connection: Connection,
    delivery_id: int,
    status_code: int | None,
    *,
    error: str | None = None,
    response: str | None = None,
    duration_ms: int = 42,
    outcome: str = "pending",
) -> None:
    """One attempt of the delivery, and the delivery as it then stands."""
    now = database_now(connection)
    connection.execute(
        insert(webhook_attempts).values(
            delivery_id=delivery_id,
            attempted_at=now,
            status_code=status_code,
            error=error,
            response=response,
            duration_ms=duration_ms,
        )
    )
    attempts = connection.execute(
        select(webhook_deliveries.c.attempts).where(webhook_deliveries.c.id == delivery_id)
    ).scalar_one()
    connection.execute(
        update(webhook_deliveries)
        .where(webhook_deliveries.c.id == delivery_id)
        .values(
            attempts=attempts + 1,
            status=outcome,
            last_status_code=status_code,
            last_error=error,
            next_attempt_at=now + timedelta(minutes=5),
            delivered_at=now if outcome == "delivered" else None,
        )
    )


def disable(connection: Connection, endpoint_token: str, reason: str) -> None:
    connection.execute(
        update(webhook_endpoints)
        .where(webhook_endpoints.c.token == endpoint_token)
        .values(enabled=False, disabled_reason=reason, disabled_at=database_now(connection))
    )
