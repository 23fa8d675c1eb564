"""The wallet's tables: profiles, wallet accounts, their ledger accounts, contacts, the
sends' idempotency keys and payment requests."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from caja.db.schema import Id, UtcDateTime, metadata

__all__ = [
    "wallet_accounts",
    "wallet_balances",
    "wallet_contacts",
    "wallet_payment_requests",
    "wallet_profiles",
    "wallet_send_keys",
]

wallet_profiles = Table(
    "wallet_profiles",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("token", String(40), nullable=False, unique=True),
    Column("phone_number", String(15), nullable=False, unique=True),
    Column("first_name", String(100), nullable=False),
    Column("last_name", String(100), nullable=False),
    Column("password_hash", String(200), nullable=False),
    # Failed log-ins in a row, and until when log-in is refused after too many.
    Column("failed_logins", Integer, nullable=False),
    Column("locked_until", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
)


wallet_accounts = Table(
    "wallet_accounts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("token", String(40), nullable=False, unique=True),
    Column("profile_id", ForeignKey("wallet_profiles.id"), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
)


# One ledger account per asset a wallet account holds.
wallet_balances = Table(
    "wallet_balances",
    metadata,
    Column("wallet_account_id", ForeignKey("wallet_accounts.id"), primary_key=True),
    Column("asset", ForeignKey("assets.code"), primary_key=True),
    Column("account_id", ForeignKey("accounts.id"), nullable=False, unique=True),
)


wallet_contacts = Table(
    "wallet_contacts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("owner_id", ForeignKey("wallet_profiles.id"), nullable=False),
    Column("contact_id", ForeignKey("wallet_profiles.id"), nullable=False),
    Column("first_name", String(100), nullable=False),
    Column("last_name", String(100), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("owner_id", "contact_id"),
)


# A send's Idempotency-Key, per profile: the digest of its body, and its answer once known
# (200 sent, 601 underfunded) with the transfer it made. Kept at least 24 hours.
wallet_send_keys = Table(
    "wallet_send_keys",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("profile_id", ForeignKey("wallet_profiles.id"), nullable=False),
    Column("key", String(255), nullable=False),
    Column("body_digest", String(64), nullable=False),
    Column("answer", Integer, nullable=True),
    Column("transfer_token", String(40), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("profile_id", "key"),
)


# A person asks for money; another pays it once (status open, paid or cancelled).
wallet_payment_requests = Table(
    "wallet_payment_requests",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("token", String(40), nullable=False, unique=True),
    Column("requester_id", ForeignKey("wallet_profiles.id"), nullable=False),
    Column("asset", ForeignKey("assets.code"), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("notes", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("paid_by", ForeignKey("wallet_profiles.id"), nullable=True),
    Column("paid_at", UtcDateTime, nullable=True),
    Column("transfer_token", String(40), nullable=True),
    Index(None, "requester_id", "status", "id"),
)
