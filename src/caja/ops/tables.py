"""Operations' tables: the runs of ``caja verify`` and the ops console's audit trail."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
)

from caja.db.schema import Id, UtcDateTime, metadata

__all__ = ["admin_audit", "verify_runs"]

# Each `caja verify`, for the ops dashboard (migration 0006).
verify_runs = Table(
    "verify_runs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("ran_at", UtcDateTime, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("violations", Integer, nullable=False),
    Column("transfers", BigInteger, nullable=False),
    # The run's checks as JSON (migration 0011); null for runs recorded before it.
    Column("report", Text, nullable=True),
)


# Each action of the ops console that runs or exports something (migration 0011).
admin_audit = Table(
    "admin_audit",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("client_id", ForeignKey("clients.id"), nullable=False),
    Column("action", String(40), nullable=False),
    # The action's parameters as a JSON object.
    Column("parameters", Text, nullable=False),
    Column("at", UtcDateTime, nullable=False),
)
