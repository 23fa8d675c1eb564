"""index only the holds still pending

Revision ID: 0002
Revises: 0001

The index on (debit_account_id, status) served one question, which holds of an account
are still pending, yet every posted transfer added an entry to it. A partial index on the
pending ones answers the same question and costs a posting nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    op.drop_index("ix_transfers_debit_status", table_name="transfers")
    op.create_index(
        "ix_transfers_pending_debit",
        "transfers",
        ["debit_account_id"],
        postgresql_where=_PENDING,
        sqlite_where=_PENDING,
    )


def downgrade() -> None:
    op.drop_index("ix_transfers_pending_debit", table_name="transfers")
    op.create_index("ix_transfers_debit_status", "transfers", ["debit_account_id", "status"])
