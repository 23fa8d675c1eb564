"""chain every transfer by a hash: the tamper-evident journal

Revision ID: 0007
Revises: 0006

Each transfer gets ``prev_hash`` and ``hash`` (see caja.ledger.journal); the ``journal``
table's one row holds the last transfer's id and hash. Transfers already written are
chained here, in id order.

The migration is frozen: it carries its own copy of the hash rule as it was when it was
written (GENESIS, HASHED_COLUMNS, as_written, transfer_hash below), so a later change to
caja.ledger.journal cannot change what this revision writes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_PAGE_ROWS = 5_000

# The hash rule of caja.ledger.journal, frozen as of this revision.
GENESIS = "0" * 64
HASHED_COLUMNS = (
    "token",
    "client_id",
    "surface",
    "idempotency_key",
    "request_digest",
    "kind",
    "status",
    "debit_account_id",
    "credit_account_id",
    "asset",
    "amount_minor",
    "description",
    "pending_id",
    "reverses_id",
    "created_at",
)
_CREATED_AT = HASHED_COLUMNS.index("created_at")
_KIND = HASHED_COLUMNS.index("kind")
_STATUS = HASHED_COLUMNS.index("status")


def _moment(value: Any) -> str:
    """A stored ``created_at`` as one text on every database."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def as_written(stored: Sequence[Any]) -> list[Any]:
    """A stored transfer's HASHED_COLUMNS with a hold's status as created (``pending``)."""
    fields = list(stored)
    if fields[_KIND] == "pending":
        fields[_STATUS] = "pending"
    return fields


def transfer_hash(
    prev_hash: str, transfer: Sequence[Any], entries: Sequence[tuple[int, int, int]]
) -> str:
    """SHA-256 of ``prev_hash``, the transfer's HASHED_COLUMNS and its entries
    (account_id, amount_minor, balance_after_minor) in the order they were written."""
    fields = list(transfer)
    fields[_CREATED_AT] = _moment(fields[_CREATED_AT])
    content = orjson.dumps([prev_hash, fields, [list(entry) for entry in entries]])
    return hashlib.sha256(content).hexdigest()


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
    head, last_id, after = GENESIS, None, 0
    columns = ", ".join(HASHED_COLUMNS)
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
            fields = as_written(row[1:])
            current = transfer_hash(head, fields, entries.get(int(row[0]), []))
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
