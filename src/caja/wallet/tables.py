"""The wallet's tables: profiles, wallet accounts, their ledger accounts, contacts."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from caja.db.schema import Id, UtcDateTime, metadata

__all__ = ["wallet_accounts", "wallet_balances", "wallet_contacts", "wallet_profiles"]

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
