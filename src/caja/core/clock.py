"""Time in UTC, and Bogotá time where a surface shows it."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = [
    "BOGOTA",
    "bogota_days",
    "bogota_iso",
    "bogota_month",
    "bogota_text",
    "database_now",
    "iso_utc",
    "utcnow",
]

BOGOTA = ZoneInfo("America/Bogota")


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso_utc(moment: datetime) -> str:
    """ISO 8601 with microseconds and a ``Z``, as the ledger seed shows."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def bogota_text(moment: datetime) -> str:
    """``2024-12-05 09:20:29``: the Bogotá wall-clock time, as the gateway seed shows it."""
    return moment.astimezone(BOGOTA).strftime("%Y-%m-%d %H:%M:%S")


def bogota_days(first: date, last: date) -> tuple[datetime, datetime]:
    """The UTC instants from the start of ``first`` to the end of ``last`` (exclusive), in
    Bogotá days."""
    start = datetime.combine(first, time(), BOGOTA)
    end = datetime.combine(last + timedelta(days=1), time(), BOGOTA)
    return start.astimezone(UTC), end.astimezone(UTC)


def bogota_iso(moment: datetime) -> str:
    """``2022-06-20T20:28:17.777472-05:00``, as the deposit seed shows times."""
    return moment.astimezone(BOGOTA).isoformat(timespec="microseconds")


def bogota_month(moment: datetime) -> tuple[datetime, datetime]:
    """The UTC instants that start the Bogotá calendar month of ``moment`` and the next."""
    local = moment.astimezone(BOGOTA)
    first = local.date().replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return bogota_days(first, following - timedelta(days=1))


def database_now(connection: Connection) -> datetime:
    """The database's clock, read in the connection's transaction: on PostgreSQL
    ``clock_timestamp()``, so that hosts whose clocks differ agree on the time; SQLite lives
    in the host, whose clock is the database's."""
    if connection.dialect.name != "postgresql":
        return utcnow()
    moment = connection.exec_driver_sql("SELECT clock_timestamp()").scalar_one()
    assert isinstance(moment, datetime)
    return moment.astimezone(UTC)
