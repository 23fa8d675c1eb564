"""one name per API client

Revision ID: 0012
Revises: 0011

A unique index on ``clients.name``. A database made before it may hold several clients
of one name: the first (lowest id) keeps it and each later one is renamed, in id order,
to the first free ``name (2)``, ``name (3)``, … (cut to fit 100 characters).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# clients.name is a String(100).
_NAME_LENGTH = 100


def numbered(name: str, number: int) -> str:
    """``name (number)``, the name cut so that the whole fits the column."""
    suffix = f" ({number})"
    return name[: _NAME_LENGTH - len(suffix)] + suffix


def renames(rows: list[tuple[int, str]]) -> dict[int, str]:
    """The new name of each later client of a taken name (rows in id order)."""
    taken = {name for _, name in rows}
    kept: set[str] = set()
    renamed: dict[int, str] = {}
    for client_id, name in rows:
        if name not in kept:
            kept.add(name)
            continue
        number = 2
        while numbered(name, number) in taken:
            number += 1
        renamed[client_id] = numbered(name, number)
        taken.add(renamed[client_id])
    return renamed


def upgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT id, name FROM clients ORDER BY id")).all()
    for client_id, name in renames([(int(row[0]), str(row[1])) for row in rows]).items():
        connection.execute(
            sa.text("UPDATE clients SET name = :name WHERE id = :id"),
            {"name": name, "id": client_id},
        )
    op.create_index("uq_clients_name", "clients", ["name"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_clients_name", table_name="clients")
