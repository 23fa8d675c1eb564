"""Statements as text, JSON or CSV, handed out a page of entries at a time.

The surfaces (ledger v1, deposit) and ``caja statement`` pin a statement with
:func:`caja.ledger.statements.statement_span` and write it with a :class:`Layout` of
their own: the fields before the entries, and how each entry reads on that surface
(its amounts, times and tokens). The text is produced while the pages are read, so what
is held in memory is one page of entries, however long the statement.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

import orjson
from fastapi.responses import StreamingResponse

from caja.db.engine import Database
from caja.ledger.statements import Span, StatementLine, statement_lines

__all__ = [
    "CSV_MEDIA_TYPE",
    "FORMATS",
    "MAX_DAYS",
    "Format",
    "Layout",
    "chunks",
    "day",
    "format_of",
    "moment",
    "streamed",
]

Format = Literal["json", "csv"]
FORMATS: tuple[Format, ...] = ("json", "csv")
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
# The longest statement one request may ask for, in days (a year, a leap one included).
MAX_DAYS = 366


@dataclass(frozen=True, slots=True)
class Layout:
    """How one surface writes a statement: the JSON fields before ``entries``, the names
    of each entry's fields (the CSV header), and an entry's values in that order."""

    head: dict[str, Any]
    columns: tuple[str, ...]
    entry: Callable[[StatementLine], Sequence[Any]]


def format_of(requested: str | None, accept: str | None) -> Format | None:
    """The format asked for: ``format`` when given (None when it is neither json nor
    csv), else CSV when the Accept header names ``text/csv``, else JSON."""
    if requested is not None:
        wanted = requested.strip().lower()
        return "csv" if wanted == "csv" else "json" if wanted == "json" else None
    return "csv" if accept is not None and "text/csv" in accept.lower() else "json"


def moment(raw: str) -> datetime | None:
    """An ISO 8601 time with its offset (``Z`` included), in UTC; None when it is not
    one, or has no offset (a time without one names no moment)."""
    try:
        parsed = datetime.fromisoformat(raw.strip())
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            return None
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def day(raw: str) -> date | None:
    """A ``YYYY-MM-DD`` day from 1970 to 9998 (None otherwise)."""
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw):
        return None
    try:
        found = date.fromisoformat(raw)
    except ValueError:
        return None
    return found if 1970 <= found.year <= 9998 else None


_FORMULA = ("=", "+", "-", "@", "\t", "\r")
_DECIMAL = re.compile(r"[+-]?\d+(\.\d+)?")


def _cell(value: Any) -> Any:
    """Text that a spreadsheet would read as a formula is quoted with an apostrophe;
    signed decimals such as ``-12500.00`` stay numbers."""
    if isinstance(value, str) and value.startswith(_FORMULA) and not _DECIMAL.fullmatch(value):
        return "'" + value
    return value


def _csv(rows: Sequence[Sequence[Any]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode()


async def _json_chunks(
    layout: Layout, pages: AsyncIterator[list[StatementLine]]
) -> AsyncIterator[bytes]:
    yield orjson.dumps(layout.head)[:-1] + b',"entries":['
    separator = b""
    async for page in pages:
        items = (orjson.dumps(dict(zip(layout.columns, layout.entry(line), strict=True)))
                 for line in page)  # fmt: skip
        yield separator + b",".join(items)
        separator = b","
    yield b"]}"


async def _csv_chunks(
    layout: Layout, pages: AsyncIterator[list[StatementLine]]
) -> AsyncIterator[bytes]:
    yield _csv([layout.columns])
    async for page in pages:
        yield _csv([[_cell(value) for value in layout.entry(line)] for line in page])


def chunks(database: Database, span: Span, layout: Layout, chosen: Format) -> AsyncIterator[bytes]:
    """The statement's text, piece by piece, as its pages are read."""
    pages = statement_lines(database, span)
    return _csv_chunks(layout, pages) if chosen == "csv" else _json_chunks(layout, pages)


def streamed(
    database: Database, span: Span, layout: Layout, chosen: Format, name: str
) -> StreamingResponse:
    """The statement as a streamed answer; a CSV one is offered as the file ``name``.csv."""
    body = chunks(database, span, layout, chosen)
    if chosen == "csv":
        disposition = {"Content-Disposition": f'attachment; filename="{name}.csv"'}
        return StreamingResponse(body, media_type=CSV_MEDIA_TYPE, headers=disposition)
    return StreamingResponse(body, media_type="application/json")
