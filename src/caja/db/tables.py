"""The schema, as SQLAlchemy Core tables. Migrations in ``migrations/`` build it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect

__all__ = [
    "Id",
    "UtcDateTime",
    "accounts",
    "api_keys",
    "assets",
    "banks",
    "clients",
    "deposit_accounts",
    "deposit_holders",
    "deposit_transfers",
    "entries",
    "journal",
    "metadata",
    "owners",
    "package_providers",
    "packages",
    "purchases",
    "topup_operators",
    "transfers",
    "verify_runs",
    "wallet_accounts",
    "wallet_balances",
    "wallet_contacts",
    "wallet_profiles",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
Id = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Stores UTC without a zone and always hands back an aware UTC datetime."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)


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
)

assets = Table(
    "assets",
    metadata,
    Column("code", String(8), primary_key=True),
    Column("scale", SmallInteger, nullable=False),
)

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


# --- the top-up and package gateway (migration 0003) ---------------------------------------

topup_operators = Table(
    "topup_operators",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("slug", String(40), nullable=False, unique=True),
    Column("name", String(100), nullable=False),
    Column("icon_url", String(255), nullable=True),
    # The payment network purchases through this operator go by (shown as ``route``).
    Column("route", String(40), nullable=False),
    Column("enabled", Boolean, nullable=False),
)

package_providers = Table(
    "package_providers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("provider_code", String(20), nullable=False, unique=True),
    Column("name", String(100), nullable=False),
    Column("operator_logo_url", String(255), nullable=True),
    Column("route", String(40), nullable=False),
    Column("enabled", Boolean, nullable=False),
)

packages = Table(
    "packages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("package_code", String(20), nullable=False, unique=True),
    Column("provider_code", ForeignKey("package_providers.provider_code"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("description", String(255), nullable=False),
    # Whole pesos.
    Column("amount", BigInteger, nullable=False),
    Column("validity", String(40), nullable=False),
    Column("sku", String(40), nullable=True),
    Column("category_code", String(20), nullable=False),
    Column("category_description", String(100), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Index("ix_packages_provider_code", "provider_code"),
)

purchases = Table(
    "purchases",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("token", String(40), nullable=False, unique=True),
    Column("client_id", ForeignKey("clients.id"), nullable=False),
    # topup | package
    Column("kind", String(8), nullable=False),
    Column("idempotency_token", String(128), nullable=False),
    Column("destination_number", String(20), nullable=False),
    Column("service_provider", String(40), nullable=True),
    Column("provider_code", String(20), nullable=True),
    Column("package_code", String(20), nullable=True),
    # Whole pesos.
    Column("amount", BigInteger, nullable=False),
    Column("payment_token", String(64), nullable=False),
    Column("payment_origin", String(255), nullable=True),
    Column("route", String(40), nullable=False),
    # created | in_progress | unknown | authorized | rejected
    Column("status", String(16), nullable=False),
    Column("result_code", Integer, nullable=True),
    Column("external_gateway_auth_code", String(64), nullable=True),
    Column("gateway_topup_token", String(64), nullable=True),
    # The pending transfer holding the merchant's money.
    Column("hold_transfer_id", ForeignKey("transfers.id"), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("client_id", "kind", "idempotency_token"),
    Index("ix_purchases_client_id_kind_created_at", "client_id", "kind", "created_at"),
    Index("ix_purchases_status_created_at", "status", "created_at"),
)


# --- the electronic deposit gateway (migration 0004) --------------------------------------

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


# --- the wallet (migration 0005) -------------------------------------------------------------

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


# The last transfer chained into the journal: one row, id 1 (migration 0007).
journal = Table(
    "journal",
    metadata,
    Column("id", SmallInteger, primary_key=True, autoincrement=False),
    Column("transfer_id", BigInteger, nullable=True),
    Column("hash", String(64), nullable=False),
)


# Each `caja verify`, for the ops dashboard (migration 0006).
verify_runs = Table(
    "verify_runs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("ran_at", UtcDateTime, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("violations", Integer, nullable=False),
    Column("transfers", BigInteger, nullable=False),
)
