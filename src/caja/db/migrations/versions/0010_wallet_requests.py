"""wallet send keys and payment requests

Revision ID: 0010
Revises: 0009

``wallet_send_keys``: the Idempotency-Key of each keyed send, per profile, with the
digest of its body and its answer. ``wallet_payment_requests``: money a person asks for,
paid at most once.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _profile_key(column: str, table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["wallet_profiles.id"], name=op.f(f"fk_{table}_{column}_wallet_profiles")
    )


def upgrade() -> None:
    op.create_table(
        "wallet_send_keys",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("profile_id", _ID, nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("body_digest", sa.String(length=64), nullable=False),
        sa.Column("answer", sa.Integer(), nullable=True),
        sa.Column("transfer_token", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        _profile_key("profile_id", "wallet_send_keys"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_send_keys")),
        sa.UniqueConstraint("profile_id", "key", name=op.f("uq_wallet_send_keys_profile_id_key")),
    )
    op.create_table(
        "wallet_payment_requests",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("token", sa.String(length=40), nullable=False),
        sa.Column("requester_id", _ID, nullable=False),
        sa.Column("asset", sa.String(length=8), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("notes", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("paid_by", _ID, nullable=True),
        sa.Column("paid_at", sa.DateTime(), nullable=True),
        sa.Column("transfer_token", sa.String(length=40), nullable=True),
        _profile_key("requester_id", "wallet_payment_requests"),
        _profile_key("paid_by", "wallet_payment_requests"),
        sa.ForeignKeyConstraint(
            ["asset"], ["assets.code"], name=op.f("fk_wallet_payment_requests_asset_assets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_payment_requests")),
        sa.UniqueConstraint("token", name=op.f("uq_wallet_payment_requests_token")),
    )
    op.create_index(
        op.f("ix_wallet_payment_requests_requester_id_status_id"),
        "wallet_payment_requests",
        ["requester_id", "status", "id"],
    )


def downgrade() -> None:
    op.drop_table("wallet_payment_requests")
    op.drop_table("wallet_send_keys")
