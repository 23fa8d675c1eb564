"""the ops console's audit trail, its verify reports, and the indexes its lists page by

Revision ID: 0011
Revises: 0010

``admin_audit``: one row per action taken through the ops console's API that runs or
exports something (reconcile now, run verify, a CSV export): which client, what, with
which parameters, when. ``verify_runs.report`` keeps each run's checks, so the console
shows the last report in full.

The indexes let the console's lists and search read a page, or a match, without reading
the whole ledger: transfers by surface, client and status (newest first) and by time;
accounts by phone number; purchases by kind and status, by the client's reference and by the number
topped up; deposit holders by phone number. The four on transfers are the price of the
console's filters: each transfer written updates them too.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_INDEXES: tuple[tuple[str, str, list[str | sa.TextClause]], ...] = (
    # Expressions rather than bare columns: only the console's pages, which filter by the
    # same expressions, can use them; the write path's lookups keep their own indexes.
    ("ix_transfers_listed_surface_id", "transfers", [sa.text("(surface || '')"), "id"]),
    ("ix_transfers_listed_client_id_id", "transfers", [sa.text("(client_id + 0)"), "id"]),
    ("ix_transfers_listed_status_id", "transfers", [sa.text("(status || '')"), "id"]),
    ("ix_transfers_created_at", "transfers", ["created_at"]),
    ("ix_accounts_phone_number", "accounts", ["phone_number"]),
    ("ix_purchases_idempotency_token", "purchases", ["idempotency_token"]),
    ("ix_purchases_destination_number", "purchases", ["destination_number"]),
    ("ix_purchases_kind_id", "purchases", ["kind", "id"]),
    ("ix_purchases_status_id", "purchases", ["status", "id"]),
    ("ix_deposit_holders_mobile_phone_number", "deposit_holders", ["mobile_phone_number"]),
)


def upgrade() -> None:
    op.create_table(
        "admin_audit",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "client_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("parameters", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_audit")),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_admin_audit_client_id_clients")
        ),
    )  # fmt: skip
    with op.batch_alter_table("verify_runs") as batch:
        batch.add_column(sa.Column("report", sa.Text(), nullable=True))
    for name, table, columns in _INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _columns in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
    with op.batch_alter_table("verify_runs") as batch:
        batch.drop_column("report")
    op.drop_table("admin_audit")
