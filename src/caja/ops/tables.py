"""Operations' tables: the runs of ``caja verify``."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Integer,
    Table,
)

from caja.db.schema import Id, UtcDateTime, metadata

__all__ = ["verify_runs"]

# Each `caja verify`, for the ops dashboard (migration 0006).
verify_runs = Table(
    "verify_runs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("ran_at", UtcDateTime, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("violations", Integer, nullable=False),
    Column("transfers", BigInteger, nullable=False),
)
