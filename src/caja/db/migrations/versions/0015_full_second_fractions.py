"""times of transfers and events written with their full fraction on SQLite

Revision ID: 0015
Revises: 0014

SQLite keeps times as text. Transfers and events made at a whole second were written
without their fraction (``2026-03-10 05:00:00``), which compares below the same moment
as every query writes it (``2026-03-10 05:00:00.000000``): such a transfer counted in
the day before it. They are given the fraction every other row has. PostgreSQL keeps
times as timestamps: nothing to do there.
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# A time without a fraction: 'YYYY-MM-DD HH:MM:SS', 19 characters.
_WHOLE_SECOND = 19


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in ("transfers", "events"):
        op.execute(
            f"UPDATE {table} SET created_at = created_at || '.000000' "
            f"WHERE length(created_at) = {_WHOLE_SECOND}"
        )


def downgrade() -> None:
    # Both texts name the same moment: the full one stays.
    pass
