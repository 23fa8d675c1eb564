"""Deposit figures for the ops dashboard."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from caja.deposits.tables import deposit_accounts

__all__ = ["account_count"]


def account_count(connection: Connection) -> int:
    """How many electronic deposit accounts there are."""
    return int(connection.execute(select(func.count()).select_from(deposit_accounts)).scalar_one())
