"""the top-up and mobile package gateway

Revision ID: 0003
Revises: 0002

Merchants' purchases, the catalog of operators, package providers and packages (seeded
with the ones the gateway's API document shows), and the system account that stands for
the operators the merchants' money is paid to.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from caja.db.seed import add_system_accounts

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_ICON = "https://some-icon-url.com"
_LOGO = "https://storage.googleapis.com/bucket-faas/suppliers/{}.webp"

OPERATORS = [
    ("movistar", "Movistar"),
    ("claro-movil", "Claro Móvil"),
    ("avantel", "Avantel"),
    ("uff-movil", "Uff Móvil"),
    ("etb", "ETB"),
    ("tigo", "Tigo"),
]
PROVIDERS = [
    ("3", "TIGO"),
    ("58", "CLARO PAQUETES"),
    ("72", "VIRGIN MOBILE PAQUETES"),
    ("30", "MOVISTAR PAQUETES"),
]
# package_code, name, description, amount, validity, sku, category_code, category_description
PACKAGES = [
    ("024", "200 MINUTOS A TODO OPERADOR", "200 MNTS O 20DIAS", 9900, "20 DÍAS", "50015", "9",
     "HABLAR"),
    ("353", "18 MINUTOS A VENEZUELA - $5.000", "18MIN_A_VNZLA-30D", 5000, "30 DÍAS", "50050",
     "9", "HABLAR"),
    ("767", "1.5 GB DE NAVEGACION + MUNUTOS Y MENSAJES ILIMI. + REDES SOCIALES (WHATSAPP "
     "FACEBOOK TWITTER) + 7 DIAS POR $7.500", "1.5GB_MIN ILIMT+7D", 7500, "7 DIAS", "50130", "7",
     "TODO INCLUIDO"),
    ("939", "TODO INCLUIDO CON MINUTOS ILIMITADOS CHAT DE WHATSAPP FACEBOOK Y TWITTER  12GB "
     "POR 30 DIAS", "12GB/ILIMITADO_30D", 41000, "30 DIAS", "50148", "7", "TODO INCLUIDO"),
]  # fmt: skip


def upgrade() -> None:
    operators = op.create_table(
        "topup_operators",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("slug", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("icon_url", sa.String(length=255), nullable=True),
        sa.Column("route", sa.String(length=40), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_topup_operators")),
        sa.UniqueConstraint("slug", name=op.f("uq_topup_operators_slug")),
    )
    providers = op.create_table(
        "package_providers",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("provider_code", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("operator_logo_url", sa.String(length=255), nullable=True),
        sa.Column("route", sa.String(length=40), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_package_providers")),
        sa.UniqueConstraint("provider_code", name=op.f("uq_package_providers_provider_code")),
    )
    package_table = op.create_table(
        "packages",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("package_code", sa.String(length=20), nullable=False),
        sa.Column("provider_code", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("validity", sa.String(length=40), nullable=False),
        sa.Column("sku", sa.String(length=40), nullable=True),
        sa.Column("category_code", sa.String(length=20), nullable=False),
        sa.Column("category_description", sa.String(length=100), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_code"],
            ["package_providers.provider_code"],
            name=op.f("fk_packages_provider_code_package_providers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_packages")),
        sa.UniqueConstraint("package_code", name=op.f("uq_packages_package_code")),
    )
    op.create_index("ix_packages_provider_code", "packages", ["provider_code"])
    op.create_table(
        "purchases",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("token", sa.String(length=40), nullable=False),
        sa.Column("client_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("idempotency_token", sa.String(length=128), nullable=False),
        sa.Column("destination_number", sa.String(length=20), nullable=False),
        sa.Column("service_provider", sa.String(length=40), nullable=True),
        sa.Column("provider_code", sa.String(length=20), nullable=True),
        sa.Column("package_code", sa.String(length=20), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("payment_token", sa.String(length=64), nullable=False),
        sa.Column("payment_origin", sa.String(length=255), nullable=True),
        sa.Column("route", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("result_code", sa.Integer(), nullable=True),
        sa.Column("external_gateway_auth_code", sa.String(length=64), nullable=True),
        sa.Column("gateway_topup_token", sa.String(length=64), nullable=True),
        sa.Column("hold_transfer_id", _ID, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_purchases_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["hold_transfer_id"],
            ["transfers.id"],
            name=op.f("fk_purchases_hold_transfer_id_transfers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchases")),
        sa.UniqueConstraint("token", name=op.f("uq_purchases_token")),
        sa.UniqueConstraint("hold_transfer_id", name=op.f("uq_purchases_hold_transfer_id")),
        sa.UniqueConstraint(
            "client_id",
            "kind",
            "idempotency_token",
            name=op.f("uq_purchases_client_id_kind_idempotency_token"),
        ),
    )
    op.create_index(
        "ix_purchases_client_id_kind_created_at", "purchases", ["client_id", "kind", "created_at"]
    )
    op.create_index("ix_purchases_status_created_at", "purchases", ["status", "created_at"])

    op.bulk_insert(
        operators,
        [
            {"slug": slug, "name": name, "icon_url": _ICON, "route": "MOVILRED", "enabled": True}
            for slug, name in OPERATORS
        ],
    )
    op.bulk_insert(
        providers,
        [
            {
                "provider_code": code,
                "name": name,
                "operator_logo_url": _LOGO.format(code),
                "route": "PUNTORED",
                "enabled": True,
            }
            for code, name in PROVIDERS
        ],
    )
    columns = (
        "package_code",
        "name",
        "description",
        "amount",
        "validity",
        "sku",
        "category_code",
        "category_description",
    )
    op.bulk_insert(
        package_table,
        [
            {**dict(zip(columns, item, strict=True)), "provider_code": "58", "enabled": True}
            for item in PACKAGES
        ],
    )
    # Where merchants' money goes when an operator authorizes a purchase.
    add_system_accounts(("operators", "COP"))


def downgrade() -> None:
    op.execute("DELETE FROM accounts WHERE token = 'sys-operators-cop'")
    op.drop_index("ix_purchases_status_created_at", table_name="purchases")
    op.drop_index("ix_purchases_client_id_kind_created_at", table_name="purchases")
    op.drop_table("purchases")
    op.drop_index("ix_packages_provider_code", table_name="packages")
    op.drop_table("packages")
    op.drop_table("package_providers")
    op.drop_table("topup_operators")
