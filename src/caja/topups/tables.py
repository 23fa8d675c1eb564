"""The top-up gateway's tables: the catalog and the purchases."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from caja.db.schema import Id, UtcDateTime, metadata

__all__ = ["package_providers", "packages", "purchases", "topup_operators"]

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
    # While a reconciler asks the operator about this open purchase: the end of its
    # lease (see caja.topups.service.reconcile); null otherwise.
    Column("reconcile_claimed_until", UtcDateTime, nullable=True),
    UniqueConstraint("client_id", "kind", "idempotency_token"),
    Index("ix_purchases_client_id_kind_created_at", "client_id", "kind", "created_at"),
    Index("ix_purchases_status_created_at", "status", "created_at"),
)
