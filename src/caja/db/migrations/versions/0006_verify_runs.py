"""the results of caja verify

Revision ID: 0006
Revises: 0005

Each run of `caja verify` is recorded, so the ops dashboard can show the last one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "verify_runs",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True,
            nullable=False,
        ),
        sa.Column("ran_at", sa.DateTime(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("violations", sa.Integer(), nullable=False),
        sa.Column("transfers", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verify_runs")),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("verify_runs")
