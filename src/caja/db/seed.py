"""Rows the migrations put in: system accounts, through which money enters and leaves."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

__all__ = ["add_system_accounts"]


def add_system_accounts(*accounts: tuple[str, str]) -> None:
    """An empty, unbounded system account ``sys-<name>-<asset>`` for each (name, asset)."""
    columns = (
        "token",
        "kind",
        "asset",
        "name",
        "balance_minor",
        "pending_out_minor",
        "overdraft_minor",
        "version",
        "created_at",
    )
    now = datetime.now(UTC).replace(tzinfo=None)
    op.bulk_insert(
        sa.table("accounts", *(sa.column(name) for name in columns)),
        [
            {
                "token": f"sys-{name}-{asset.lower()}",
                "kind": "system",
                "asset": asset,
                "name": name,
                "balance_minor": 0,
                "pending_out_minor": 0,
                "overdraft_minor": None,
                "version": 0,
                "created_at": now,
            }
            for name, asset in accounts
        ],
    )
