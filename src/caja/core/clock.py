"""Time in UTC, and Bogotá time where a surface shows it."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["iso_utc", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso_utc(moment: datetime) -> str:
    """ISO 8601 with microseconds and a ``Z``, as the ledger seed shows."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
