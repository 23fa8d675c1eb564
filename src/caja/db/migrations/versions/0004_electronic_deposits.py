"""the electronic deposit gateway

Revision ID: 0004
Revises: 0003

Account holders and their deposit accounts at the bank, the extra data of deposit
transfers (channel, the bank's id, fee, the origin of money from other banks), the
catalog of banks, and the system accounts for fees and interbank clearing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from caja.db.seed import add_system_accounts

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

BANKS = [
    ("scotiabank-colpatria", "SCOTIABANK COLPATRIA"),
    ("bancolombia", "BANCOLOMBIA"),
    ("banco-de-bogota", "BANCO DE BOGOTA"),
    ("davivienda", "DAVIVIENDA"),
    ("bbva-colombia", "BBVA COLOMBIA"),
    ("banco-de-occidente", "BANCO DE OCCIDENTE"),
    ("banco-popular", "BANCO POPULAR"),
    ("banco-agrario", "BANCO AGRARIO"),
]


def upgrade() -> None:
    banks = op.create_table(
        "banks",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("slug", sa.String(length=60), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_banks")),
        sa.UniqueConstraint("slug", name=op.f("uq_banks_slug")),
    )
    op.create_table(
        "deposit_holders",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("client_id", _ID, nullable=False),
        sa.Column("identification_type", sa.String(length=4), nullable=False),
        sa.Column("identification_number", sa.String(length=20), nullable=False),
        sa.Column("identification_issued_at", sa.Date(), nullable=False),
        sa.Column("mobile_phone_number", sa.String(length=10), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("names", sa.String(length=100), nullable=False),
        sa.Column("first_last_name", sa.String(length=100), nullable=False),
        sa.Column("second_last_names", sa.String(length=100), nullable=True),
        sa.Column("sex", sa.String(length=1), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_deposit_holders_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deposit_holders")),
        sa.UniqueConstraint(
            "client_id",
            "identification_type",
            "identification_number",
            name=op.f("uq_deposit_holders_client_id_identification_type_identification_number"),
        ),
        sa.UniqueConstraint("client_id", "email", name=op.f("uq_deposit_holders_client_id_email")),
    )
    op.create_table(
        "deposit_accounts",
        sa.Column("account_id", _ID, nullable=False),
        sa.Column("holder_id", _ID, nullable=False),
        sa.Column("number", sa.String(length=9), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("synced_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_deposit_accounts_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["holder_id"],
            ["deposit_holders.id"],
            name=op.f("fk_deposit_accounts_holder_id_deposit_holders"),
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_deposit_accounts")),
        sa.UniqueConstraint("holder_id", name=op.f("uq_deposit_accounts_holder_id")),
        sa.UniqueConstraint("number", name=op.f("uq_deposit_accounts_number")),
    )
    op.create_table(
        "deposit_transfers",
        sa.Column("transfer_id", _ID, nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("coopcentral_id", sa.String(length=40), nullable=False),
        sa.Column("fee_transfer_id", _ID, nullable=True),
        sa.Column("origin_bank_id", _ID, nullable=True),
        sa.Column("sender_name", sa.String(length=150), nullable=True),
        sa.Column("sender_id_number", sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["transfers.id"],
            name=op.f("fk_deposit_transfers_transfer_id_transfers"),
        ),
        sa.ForeignKeyConstraint(
            ["fee_transfer_id"],
            ["transfers.id"],
            name=op.f("fk_deposit_transfers_fee_transfer_id_transfers"),
        ),
        sa.ForeignKeyConstraint(
            ["origin_bank_id"], ["banks.id"], name=op.f("fk_deposit_transfers_origin_bank_id_banks")
        ),
        sa.PrimaryKeyConstraint("transfer_id", name=op.f("pk_deposit_transfers")),
        sa.UniqueConstraint("coopcentral_id", name=op.f("uq_deposit_transfers_coopcentral_id")),
        sa.UniqueConstraint("fee_transfer_id", name=op.f("uq_deposit_transfers_fee_transfer_id")),
    )
    op.bulk_insert(banks, [{"slug": slug, "name": name} for slug, name in BANKS])
    # Fees charged on deposit transfers; money arriving from other banks.
    add_system_accounts(("fees", "COP"), ("clearing", "COP"))


def downgrade() -> None:
    op.execute("DELETE FROM accounts WHERE token IN ('sys-fees-cop', 'sys-clearing-cop')")
    op.drop_table("deposit_transfers")
    op.drop_table("deposit_accounts")
    op.drop_table("deposit_holders")
    op.drop_table("banks")
