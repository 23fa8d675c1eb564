"""The ledger's tables: assets, accounts, transfers, their entries, the journal's head,
the events written with the money (the outbox) and the balance monitors."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from caja.db.schema import Id, UtcDateTime, metadata

__all__ = ["accounts", "assets", "balance_monitors", "entries", "events", "journal", "transfers"]

assets = Table(
    "assets",
    metadata,
    Column("code", String(8), primary_key=True),
    Column("scale", SmallInteger, nullable=False),
)


accounts = Table(
    "accounts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("token", String(40), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("asset", ForeignKey("assets.code"), nullable=False),
    Column("client_id", ForeignKey("clients.id"), nullable=True),
    Column("owner_id", ForeignKey("owners.id"), nullable=True),
    Column("phone_number", String(16), nullable=True),
    # System accounts are found by name (one per asset); customer accounts have none.
    Column("name", String(40), nullable=True),
    Column("balance_minor", BigInteger, nullable=False, default=0),
    Column("pending_out_minor", BigInteger, nullable=False, default=0),
    # How far below zero the available balance may go; NULL means unbounded (system).
    Column("overdraft_minor", BigInteger, nullable=True),
    Column("version", BigInteger, nullable=False, default=0),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("client_id", "kind", "phone_number"),
    UniqueConstraint("owner_id", "kind"),
    UniqueConstraint("asset", "name"),
)


transfers = Table(
    "transfers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("token", String(40), nullable=False, unique=True),
    Column("client_id", ForeignKey("clients.id"), nullable=True),
    Column("surface", String(32), nullable=False),
    Column("idempotency_key", String(64), nullable=True),
    Column("request_digest", String(64), nullable=True),
    # standard | pending | post_pending | void_pending | reversal
    Column("kind", String(16), nullable=False),
    # posted | pending | voided
    Column("status", String(16), nullable=False),
    Column("debit_account_id", ForeignKey("accounts.id"), nullable=False),
    Column("credit_account_id", ForeignKey("accounts.id"), nullable=False),
    Column("asset", ForeignKey("assets.code"), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("description", String(255), nullable=False),
    Column("pending_id", ForeignKey("transfers.id"), nullable=True, unique=True),
    Column("reverses_id", ForeignKey("transfers.id"), nullable=True, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    # The tamper-evident chain (caja.ledger.journal, migration 0007).
    Column("prev_hash", String(64), nullable=True),
    Column("hash", String(64), nullable=True),
    UniqueConstraint("client_id", "surface", "idempotency_key"),
    # Holds still pending, by the account they hold money of (migration 0002).
    Index(
        "ix_transfers_pending_debit",
        "debit_account_id",
        postgresql_where=text("status = 'pending'"),
        sqlite_where=text("status = 'pending'"),
    ),
)


entries = Table(
    "entries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("transfer_id", ForeignKey("transfers.id"), nullable=False),
    Column("account_id", ForeignKey("accounts.id"), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("balance_after_minor", BigInteger, nullable=False),
    UniqueConstraint("transfer_id", "account_id"),
    Index("ix_entries_account_id_id", "account_id", "id"),
)


# The last transfer chained into the journal: one row, id 1 (migration 0007).
journal = Table(
    "journal",
    metadata,
    Column("id", SmallInteger, primary_key=True, autoincrement=False),
    Column("transfer_id", BigInteger, nullable=True),
    Column("hash", String(64), nullable=False),
)


# What happened, for the integrators: each row written in the transaction of the movement
# it tells of (migration 0013). Ids rise in commit order: every writer of an event holds
# the journal's row from before the event's insert to its commit.
events = Table(
    "events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("token", String(40), nullable=False, unique=True),
    Column("client_id", ForeignKey("clients.id"), nullable=False),
    Column("type", String(40), nullable=False),
    # The transfer the event tells of, when a movement made it.
    Column("transfer_id", ForeignKey("transfers.id"), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    # The event's data as JSON text: the object as its surface's GET answers it.
    Column("data", Text, nullable=False),
    Index("ix_events_client_id_id", "client_id", "id"),
    Index("ix_events_transfer_id", "transfer_id"),
)


# Balance monitors: an event when a posting takes an account's balance across the
# threshold (migration 0013).
balance_monitors = Table(
    "balance_monitors",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("token", String(40), nullable=False, unique=True),
    Column("client_id", ForeignKey("clients.id"), nullable=False),
    Column("account_id", ForeignKey("accounts.id"), nullable=False),
    # below | above
    Column("direction", String(8), nullable=False),
    Column("threshold_minor", BigInteger, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_balance_monitors_account_id", "account_id"),
    Index("ix_balance_monitors_client_id_id", "client_id", "id"),
)
