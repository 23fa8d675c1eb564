"""a row each write outside the batches leaves, to look up when its commit's answer is lost

Revision ID: 0016
Revises: 0015

``commit_witnesses``: on PostgreSQL, a write that has no lookup of its own (opening an
account, adding a webhook endpoint or a monitor, …) and that changed something writes a
random ``token`` here in its own transaction. When the answer to its COMMIT is lost, the
token's presence on whichever server now takes writes tells whether it committed there.
Rows older than an hour are of no more use and are removed by later writes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "commit_witnesses",
        sa.Column("token", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token", name="pk_commit_witnesses"),
    )
    op.create_index("ix_commit_witnesses_created_at", "commit_witnesses", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_commit_witnesses_created_at", table_name="commit_witnesses")
    op.drop_table("commit_witnesses")
