"""a heartbeat row that readiness writes

Revision ID: 0009
Revises: 0008

``heartbeat``: one row whose counter ``/readyz`` bumps (at most once a second) to learn
whether the database takes a write now: a read-only standby, a full disk or a server
that cannot commit answers reads but refuses this.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    heartbeat = op.create_table(
        "heartbeat",
        sa.Column("id", sa.SmallInteger(), primary_key=True, autoincrement=False),
        sa.Column("beats", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_heartbeat"),
    )
    op.bulk_insert(heartbeat, [{"id": 1, "beats": 0}])


def downgrade() -> None:
    op.drop_table("heartbeat")
