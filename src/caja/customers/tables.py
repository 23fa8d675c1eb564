"""The owners of the ledger API's customer accounts."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    ForeignKey,
    String,
    Table,
    UniqueConstraint,
)

from caja.db.schema import Id, UtcDateTime, metadata

__all__ = ["owners"]

owners = Table(
    "owners",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("token", String(40), nullable=False, unique=True),
    Column("client_id", ForeignKey("clients.id"), nullable=False),
    Column("legal_id_type", String(4), nullable=False),
    Column("legal_id_number", String(20), nullable=False),
    Column("full_name", String(150), nullable=False),
    Column("email", String(254), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("client_id", "legal_id_type", "legal_id_number"),
)
