"""webhook endpoints rest while no one answers there

Revision ID: 0014
Revises: 0013

``webhook_endpoints.quiet_until``: when an attempt found no one at an endpoint's URL (no
connection, or no answer in time), the endpoint's deliveries are not claimed again
before this time, that attempt's next one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("webhook_endpoints", sa.Column("quiet_until", sa.DateTime(), nullable=True))


def downgrade() -> None:
    # ALTER TABLE … DROP COLUMN: SQLite 3.35 and later, PostgreSQL.
    op.drop_column("webhook_endpoints", "quiet_until")
