"""a lease on open purchases for reconciliation

Revision ID: 0008
Revises: 0007

``purchases.reconcile_claimed_until``: a reconciler claims a few open purchases at a
time by setting it to the end of its lease, asks the operator only about those, and
clears it when done. Another reconciler skips a purchase whose lease has not ended, so
processes reconciling at once never ask about one purchase at the same time; a lease
left by a process that died ends, and the purchase is claimed again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("purchases", sa.Column("reconcile_claimed_until", sa.DateTime(), nullable=True))


def downgrade() -> None:
    # ALTER TABLE … DROP COLUMN: SQLite 3.35 and later, PostgreSQL.
    op.drop_column("purchases", "reconcile_claimed_until")
