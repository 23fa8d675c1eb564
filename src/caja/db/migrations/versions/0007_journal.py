"""chain every transfer by a hash: the tamper-evident journal

Revision ID: 0007
Revises: 0006

Each transfer gets ``prev_hash`` and ``hash`` (see caja.ledger.journal); the ``journal``
table's one row holds the last transfer's id and hash. Transfers already written are
chained here, in id order.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from caja.ledger import journal

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_PAGE_ROWS = 5_000


def upgrade() -> None:
    op.add_column("transfers", sa.Column("prev_hash", sa.String(64), nullable=True))
    op.add_column("transfers", sa.Column("hash", sa.String(64), nullable=True))
    op.create_table(
        "journal",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("transfer_id", sa.BigInteger(), nullable=True),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal")),
    )
    connection = op.get_bind()
    head, last_id, after = journal.GENESIS, None, 0
    columns = ", ".join(journal.HASHED_COLUMNS)
    while True:
        rows = connection.exec_driver_sql(
            f"SELECT id, {columns} FROM transfers WHERE id > {after} ORDER BY id LIMIT {_PAGE_ROWS}"
        ).all()
        if not rows:
            break
        last = int(rows[-1][0])
        entries: dict[int, list[tuple[int, int, int]]] = {}
        for transfer_id, account_id, amount, balance_after in connection.exec_driver_sql(
            "SELECT transfer_id, account_id, amount_minor, balance_after_minor FROM entries "
            f"WHERE transfer_id > {after} AND transfer_id <= {last} ORDER BY transfer_id, id"
        ):
            entries.setdefault(int(transfer_id), []).append(
                (int(account_id), int(amount), int(balance_after))
            )
        links = []
        for row in rows:
            fields = journal.as_written(row[1:])
            current = journal.transfer_hash(head, fields, entries.get(int(row[0]), []))
            links.append({"prev": head, "hash": current, "row": int(row[0])})
            head, last_id = current, int(row[0])
        connection.execute(
            sa.text("UPDATE transfers SET prev_hash = :prev, hash = :hash WHERE id = :row"),
            links,
        )
        after = last
    connection.execute(
        sa.text("INSERT INTO journal (id, transfer_id, hash) VALUES (1, :last, :head)"),
        {"last": last_id, "head": head},
    )


def downgrade() -> None:
    op.drop_table("journal")
    # ALTER TABLE … DROP COLUMN: SQLite 3.35 and later, PostgreSQL.
    op.drop_column("transfers", "hash")
    op.drop_column("transfers", "prev_hash")
