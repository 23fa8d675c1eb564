"""The console API's query parameters, typed (FastAPI refuses a bad one: 400 in the
surface's body), and what they mean: Bogotá days, cursors, CSV or JSON."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import Query, Request

from caja.core.clock import bogota_days
from caja.ops.console import MAX_PAGE

__all__ = ["Cursor", "Format", "From", "Limit", "To", "cursor_of", "period", "wants_csv"]

Cursor = Annotated[
    str | None,
    Query(
        pattern=r"^[0-9]{1,18}$",
        description="The `next_cursor` of the page before; absent for the first page.",
    ),
]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Rows per page, 1 to 500.")]
From = Annotated[
    date | None, Query(alias="from", description="The first Bogotá day, YYYY-MM-DD, included.")
]
To = Annotated[
    date | None, Query(alias="to", description="The last Bogotá day, YYYY-MM-DD, included.")
]
Format = Annotated[
    Literal["json", "csv"] | None,
    Query(
        alias="format",
        description="`csv` for a CSV download of every matching row (also `Accept: text/csv`).",
    ),
]


def cursor_of(cursor: str | None) -> int | None:
    return None if cursor is None else int(cursor)


def period(first: date | None, last: date | None) -> tuple[datetime | None, datetime | None]:
    """The UTC instants from the start of Bogotá day ``first`` to the end of ``last``."""
    start = None if first is None else bogota_days(first, first)[0]
    end = None if last is None else bogota_days(last, last)[1]
    return start, end


def wants_csv(request: Request, format_: str | None) -> bool:
    if format_ is not None:
        return format_ == "csv"
    return "text/csv" in request.headers.get("accept", "")
