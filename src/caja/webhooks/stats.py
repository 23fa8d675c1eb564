"""Counts of deliveries, for the benchmark, the crash test and the console."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from caja.webhooks.tables import webhook_deliveries, webhook_endpoints

__all__ = ["delivery_counts"]


def delivery_counts(connection: Connection, endpoint_token: str | None = None) -> dict[str, int]:
    """The number of deliveries in each status (of one endpoint, removed or not)."""
    query = select(webhook_deliveries.c.status, func.count()).group_by(webhook_deliveries.c.status)
    if endpoint_token is not None:
        query = query.join(
            webhook_endpoints, webhook_endpoints.c.id == webhook_deliveries.c.endpoint_id
        ).where(webhook_endpoints.c.token == endpoint_token)
    return {str(status): int(count) for status, count in connection.execute(query)}
