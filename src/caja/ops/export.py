"""CSV exports of the ops console's lists: a header row, then every row the list's filters
match, read a page at a time (so memory stays flat however long the list) and handed out
as text as each page is read."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from caja.ops.console import MAX_PAGE, Page

__all__ = ["TRANSFER_COLUMNS", "csv_lines"]

TRANSFER_COLUMNS = (
    "token",
    "surface",
    "kind",
    "created_at",
    "from_account",
    "to_account",
    "amount",
    "amount_minor",
    "asset",
    "status",
    "description",
)

FetchPage = Callable[[int | None, int], Awaitable[Page]]


def _text(rows: Sequence[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows(rows)
    return out.getvalue()


def _cell(value: Any) -> Any:
    """A cell as a spreadsheet should read it: text that starts like a formula is quoted
    with a leading apostrophe; nested values are left out (None)."""
    if isinstance(value, dict | list):
        return None
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@") and not _number(value):
        return "'" + value
    return value


_DECIMAL = re.compile(r"[+-]?\d+(\.\d+)?")


def _number(value: str) -> bool:
    """A signed decimal, such as an entry's ``-12500.00``: a value, not a formula."""
    return _DECIMAL.fullmatch(value) is not None


async def csv_lines(
    fetch: FetchPage, columns: Sequence[str], cursor: int | None = None
) -> AsyncIterator[str]:
    """The header, then every row ``fetch`` pages through, from ``cursor`` on."""
    yield _text([columns])
    while True:
        page = await fetch(cursor, MAX_PAGE)
        yield _text([[_cell(row.get(name)) for name in columns] for row in page.data])
        if page.next_cursor is None:
            return
        cursor = int(page.next_cursor)
