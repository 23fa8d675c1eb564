"""The electronic deposit gateway's tables: banks, holders, accounts, transfers."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Date,
    ForeignKey,
    String,
    Table,
    UniqueConstraint,
)

from caja.db.schema import Id, UtcDateTime, metadata

__all__ = ["banks", "deposit_accounts", "deposit_holders", "deposit_transfers"]

banks = Table(
    "banks",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("slug", String(60), nullable=False, unique=True),
    Column("name", String(100), nullable=False),
)


deposit_holders = Table(
    "deposit_holders",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("client_id", ForeignKey("clients.id"), nullable=False),
    Column("identification_type", String(4), nullable=False),
    Column("identification_number", String(20), nullable=False),
    Column("identification_issued_at", Date, nullable=False),
    Column("mobile_phone_number", String(10), nullable=False),
    Column("email", String(254), nullable=False),
    Column("names", String(100), nullable=False),
    Column("first_last_name", String(100), nullable=False),
    Column("second_last_names", String(100), nullable=True),
    Column("sex", String(1), nullable=False),
    Column("date_of_birth", Date, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("client_id", "identification_type", "identification_number"),
    UniqueConstraint("client_id", "email"),
)


deposit_accounts = Table(
    "deposit_accounts",
    metadata,
    Column("account_id", ForeignKey("accounts.id"), primary_key=True),
    Column("holder_id", ForeignKey("deposit_holders.id"), nullable=False, unique=True),
    # The account's number at the bank: nine digits.
    Column("number", String(9), nullable=False, unique=True),
    # active | cancelled
    Column("status", String(16), nullable=False),
    # When the bank last confirmed the account's data.
    Column("synced_at", UtcDateTime, nullable=False),
)


deposit_transfers = Table(
    "deposit_transfers",
    metadata,
    Column("transfer_id", ForeignKey("transfers.id"), primary_key=True),
    Column("channel", String(40), nullable=False),
    Column("coopcentral_id", String(40), nullable=False, unique=True),
    # The fee moved with the transfer, to the fees system account, in the same posting.
    Column("fee_transfer_id", ForeignKey("transfers.id"), nullable=True, unique=True),
    # Money from another bank: which bank, and who sent it.
    Column("origin_bank_id", ForeignKey("banks.id"), nullable=True),
    Column("sender_name", String(150), nullable=True),
    Column("sender_id_number", String(20), nullable=True),
)
