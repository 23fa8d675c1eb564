"""What every table module shares: one MetaData with its naming convention, and column types.

Each product declares its own tables (``caja.<product>.tables``) on this ``metadata``;
the migrations in ``migrations/`` build them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Integer,
    MetaData,
    TypeDecorator,
)
from sqlalchemy.engine import Connection, Dialect

__all__ = ["Id", "UtcDateTime", "metadata", "stored_moment"]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
Id = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Stores UTC without a zone and always hands back an aware UTC datetime."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)


def stored_moment(connection: Connection, moment: datetime) -> Any:
    """``moment`` as a :class:`UtcDateTime` column holds it, for plain SQL: converted as
    SQLAlchemy converts it for this database. On SQLite that is text with every digit
    of the microseconds; the driver's own conversion leaves out a zero fraction, and
    such a text compares below the same moment written by SQLAlchemy."""
    process = _moment_processor(connection.dialect)
    return process(moment) if process is not None else moment


@lru_cache(maxsize=16)
def _moment_processor(dialect: Dialect) -> Callable[[Any], Any] | None:
    """SQLAlchemy's conversion of a :class:`UtcDateTime` value for ``dialect``, built once
    (building it costs more than converting)."""
    return UtcDateTime().dialect_impl(dialect).bind_processor(dialect)
