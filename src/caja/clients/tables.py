"""The API clients' tables: clients and their keys."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
)

from caja.db.schema import Id, UtcDateTime, metadata

__all__ = ["api_keys", "clients"]

clients = Table(
    "clients",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("token", String(40), nullable=False, unique=True),
    Column("name", String(100), nullable=False),
    Column("scopes", String(200), nullable=False),
    Column("max_loan_minor", BigInteger, nullable=False, default=0),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
    # One client of each name (migration 0012).
    Index("uq_clients_name", "name", unique=True),
)


api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("digest", String(64), nullable=False, unique=True),
    Column("client_id", ForeignKey("clients.id"), nullable=False),
    # Set for a key that acts as one account (the legacy ledger's per-account keys).
    Column("account_id", ForeignKey("accounts.id"), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
)
