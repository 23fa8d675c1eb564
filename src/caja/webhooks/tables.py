"""The webhooks' tables: endpoints, deliveries, their attempts, and the fan-out cursor."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    text,
)

from caja.db.schema import Id, UtcDateTime, metadata

__all__ = ["webhook_attempts", "webhook_cursor", "webhook_deliveries", "webhook_endpoints"]

# A client's URL that receives its events (migration 0013).
webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("token", String(40), nullable=False, unique=True),
    Column("client_id", ForeignKey("clients.id"), nullable=False),
    Column("url", String(2048), nullable=False),
    # The event types it receives, comma-separated; NULL: every type.
    Column("event_types", Text, nullable=True),
    Column("secret", String(100), nullable=False),
    # After a rotation the old secret signs too, until previous_until.
    Column("previous_secret", String(100), nullable=True),
    Column("previous_until", UtcDateTime, nullable=True),
    Column("enabled", Boolean, nullable=False),
    Column("disabled_reason", String(200), nullable=True),
    Column("disabled_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    # Removed endpoints are kept for their deliveries' history.
    Column("removed_at", UtcDateTime, nullable=True),
    # No one answered at the URL: no delivery is claimed before then (migration 0014).
    Column("quiet_until", UtcDateTime, nullable=True),
    Index("ix_webhook_endpoints_client_id", "client_id"),
)

# One event to one endpoint: pending until a 2XX (delivered) or the end of its retries
# (failed).
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("endpoint_id", ForeignKey("webhook_endpoints.id"), nullable=False),
    Column("event_id", ForeignKey("events.id"), nullable=False),
    # pending | delivered | failed
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    # A runner that claimed the delivery holds it until then.
    Column("claimed_until", UtcDateTime, nullable=True),
    Column("last_status_code", SmallInteger, nullable=True),
    Column("last_error", String(500), nullable=True),
    Column("delivered_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Index(
        "ix_webhook_deliveries_due",
        "next_attempt_at",
        postgresql_where=text("status = 'pending'"),
        sqlite_where=text("status = 'pending'"),
    ),
    Index("ix_webhook_deliveries_endpoint_id_id", "endpoint_id", "id"),
    Index("ix_webhook_deliveries_event_id", "event_id"),
)

# Each attempt of a delivery, with the answer.
webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("delivery_id", ForeignKey("webhook_deliveries.id"), nullable=False),
    Column("attempted_at", UtcDateTime, nullable=False),
    Column("status_code", SmallInteger, nullable=True),
    Column("error", String(500), nullable=True),
    # The start of the answer's body.
    Column("response", String(500), nullable=True),
    Column("duration_ms", Integer, nullable=False),
    Index("ix_webhook_attempts_delivery_id", "delivery_id"),
)

# One row, id 1: the last event whose deliveries were made. The runner that locks it
# makes the next ones.
webhook_cursor = Table(
    "webhook_cursor",
    metadata,
    Column("id", SmallInteger, primary_key=True, autoincrement=False),
    Column("event_id", BigInteger, nullable=False),
)
