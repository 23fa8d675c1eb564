"""the wallet

Revision ID: 0005
Revises: 0004

People's profiles (phone, names, Argon2 password hash, log-in throttling), their wallet
accounts with one ledger account per asset, their saved contacts; the US dollar asset
and its funding account.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from caja.db.seed import add_system_accounts

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "wallet_profiles",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("token", sa.String(length=40), nullable=False),
        sa.Column("phone_number", sa.String(length=15), nullable=False),
        sa.Column("first_name", sa.String(length=100), nullable=False),
        sa.Column("last_name", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_profiles")),
        sa.UniqueConstraint("token", name=op.f("uq_wallet_profiles_token")),
        sa.UniqueConstraint("phone_number", name=op.f("uq_wallet_profiles_phone_number")),
    )
    op.create_table(
        "wallet_accounts",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("token", sa.String(length=40), nullable=False),
        sa.Column("profile_id", _ID, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["wallet_profiles.id"],
            name=op.f("fk_wallet_accounts_profile_id_wallet_profiles"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_accounts")),
        sa.UniqueConstraint("token", name=op.f("uq_wallet_accounts_token")),
        sa.UniqueConstraint("profile_id", name=op.f("uq_wallet_accounts_profile_id")),
    )
    op.create_table(
        "wallet_balances",
        sa.Column("wallet_account_id", _ID, nullable=False),
        sa.Column("asset", sa.String(length=8), nullable=False),
        sa.Column("account_id", _ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["wallet_account_id"],
            ["wallet_accounts.id"],
            name=op.f("fk_wallet_balances_wallet_account_id_wallet_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["asset"], ["assets.code"], name=op.f("fk_wallet_balances_asset_assets")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_wallet_balances_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("wallet_account_id", "asset", name=op.f("pk_wallet_balances")),
        sa.UniqueConstraint("account_id", name=op.f("uq_wallet_balances_account_id")),
    )
    op.create_table(
        "wallet_contacts",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("owner_id", _ID, nullable=False),
        sa.Column("contact_id", _ID, nullable=False),
        sa.Column("first_name", sa.String(length=100), nullable=False),
        sa.Column("last_name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["wallet_profiles.id"],
            name=op.f("fk_wallet_contacts_owner_id_wallet_profiles"),
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["wallet_profiles.id"],
            name=op.f("fk_wallet_contacts_contact_id_wallet_profiles"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_contacts")),
        sa.UniqueConstraint(
            "owner_id", "contact_id", name=op.f("uq_wallet_contacts_owner_id_contact_id")
        ),
    )
    op.bulk_insert(
        sa.table("assets", sa.column("code"), sa.column("scale")), [{"code": "USD", "scale": 2}]
    )
    add_system_accounts(("funding", "USD"))


def downgrade() -> None:
    op.execute("DELETE FROM accounts WHERE token = 'sys-funding-usd'")
    op.execute("DELETE FROM assets WHERE code = 'USD'")
    op.drop_table("wallet_contacts")
    op.drop_table("wallet_balances")
    op.drop_table("wallet_accounts")
    op.drop_table("wallet_profiles")
