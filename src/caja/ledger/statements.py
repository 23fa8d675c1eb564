"""Statements and balances at a past moment, read from the entries' running balances.

A balance at a moment is the ``balance_after_minor`` of the account's last entry whose
transfer was made at or before it (0 before the first): never a sum. Transfers' times
never go back along the journal (``caja.ledger.store``: ids and times rise together, and
each transfer's entries are written with it), so "at or before the moment" is "at or
below an entry id": the moment is turned into the last entry id written by then, with
two seeks on ``ix_transfers_created_at`` and one on the entries' (transfer_id,
account_id) key, and the balance is one seek on ``ix_entries_account_id_id``, however
long the account's history.

A statement is pinned when it starts: the ids of its opening entry and of its closing
entry are fixed first, and its lines are read in keyset pages between them, so opening
balance plus the sum of the amounts is the closing balance, even while new transfers
arrive.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.engine import Connection

from caja.core.clock import bogota_days
from caja.core.invariant import invariant
from caja.db.engine import Database
from caja.ledger.tables import accounts, entries, transfers

__all__ = [
    "PAGE",
    "Span",
    "StatementLine",
    "balance_at",
    "balance_query",
    "bound_query",
    "entry_bound",
    "lines_page",
    "page_query",
    "statement_lines",
    "statement_span",
]

# Entries per read of a statement.
PAGE = 1000
_INSTANT = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class StatementLine:
    entry_id: int
    created_at: datetime
    transaction_token: str
    description: str
    counterparty: str
    amount_minor: int  # signed: negative when money left the account
    balance_after_minor: int


@dataclass(frozen=True, slots=True)
class Span:
    """A statement, pinned: the account's entries with ids above ``after_entry`` and up to
    ``through_entry`` (both 0 when the account had none by then)."""

    account_id: int
    first: date
    last: date
    opening_minor: int
    closing_minor: int
    after_entry: int
    through_entry: int


def bound_query(moment: datetime) -> Select[Any]:
    """The largest entry id written by transfers made at or before ``moment``: NULL when
    there is none."""
    latest_time = (
        select(func.max(transfers.c.created_at))
        .where(transfers.c.created_at <= moment)
        .scalar_subquery()
    )
    # Transfers of one batch share their moment: the last of them. ``id + 0``: found
    # through the time's index (a batch's rows), never by walking the primary key back
    # from the newest transfer, which a planner may choose for ``max(id)``.
    last_transfer = (
        select(func.max(transfers.c.id + 0)).where(transfers.c.created_at == latest_time)
    ).scalar_subquery()
    # Holds and voids write no entries: the last transfer that did, then its last entry.
    last_with_entries = (
        select(func.max(entries.c.transfer_id))
        .where(entries.c.transfer_id <= last_transfer)
        .scalar_subquery()
    )
    return select(func.max(entries.c.id)).where(entries.c.transfer_id == last_with_entries)


def entry_bound(connection: Connection, moment: datetime) -> int:
    """The largest entry id written by transfers made at or before ``moment`` (0: none)."""
    return int(connection.execute(bound_query(moment)).scalar_one() or 0)


def balance_query(account_id: int, bound: int) -> Select[Any]:
    """The account's last entry at or below the entry id ``bound``: (id, balance after)."""
    return (
        select(entries.c.id, entries.c.balance_after_minor)
        .where(entries.c.account_id == account_id, entries.c.id <= bound)
        # In the order of ``ix_entries_account_id_id``, so that it is the one read.
        .order_by(entries.c.account_id.desc(), entries.c.id.desc())
        .limit(1)
    )


def _balance_through(connection: Connection, account_id: int, bound: int) -> tuple[int, int]:
    """(entry id, balance after it) of the account's last entry at or below ``bound``;
    (0, 0) when it has none."""
    if bound <= 0:
        return 0, 0
    row = connection.execute(balance_query(account_id, bound)).first()
    return (0, 0) if row is None else (int(row[0]), int(row[1]))


def balance_at(connection: Connection, account_id: int, moment: datetime) -> int:
    """The account's balance right after its last entry made at or before ``moment``."""
    return _balance_through(connection, account_id, entry_bound(connection, moment))[1]


def statement_span(connection: Connection, account_id: int, first: date, last: date) -> Span:
    """The statement of the Bogotá days ``first`` to ``last`` (both included), pinned."""
    invariant(first <= last, "a statement's days are in order")
    start, end = bogota_days(first, last)
    # The closing entry first: whatever is written after this read is not in the span.
    closing_id, closing = _balance_through(
        connection, account_id, entry_bound(connection, end - _INSTANT)
    )
    opening_id, opening = _balance_through(
        connection, account_id, min(closing_id, entry_bound(connection, start - _INSTANT))
    )
    return Span(account_id, first, last, opening, closing, opening_id, closing_id)


def page_query(span: Span, after_entry: int, limit: int = PAGE) -> Select[Any]:
    """The span's lines after the entry id ``after_entry``, oldest first, ``limit`` at
    most: a range of ``ix_entries_account_id_id``, then each line's transfer and its two
    accounts by primary key (the page is cut before the joins, so a planner never joins
    more than a page)."""
    page = (
        select(
            entries.c.id,
            entries.c.transfer_id,
            entries.c.amount_minor,
            entries.c.balance_after_minor,
        )
        .where(
            entries.c.account_id == span.account_id,
            entries.c.id > after_entry,
            entries.c.id <= span.through_entry,
        )
        .order_by(entries.c.account_id, entries.c.id)
        .limit(limit)
        .subquery("page")
    )
    debit, credit = accounts.alias("debit"), accounts.alias("credit")
    return (
        select(
            page.c.id,
            transfers.c.created_at,
            transfers.c.token,
            transfers.c.description,
            debit.c.token,
            credit.c.token,
            page.c.amount_minor,
            page.c.balance_after_minor,
        )
        .select_from(page)
        .join(transfers, transfers.c.id == page.c.transfer_id)
        .join(debit, debit.c.id == transfers.c.debit_account_id)
        .join(credit, credit.c.id == transfers.c.credit_account_id)
        .order_by(page.c.id)
    )


def _line(row: Any) -> StatementLine:
    entry_id, created_at, token, description, debit, credit, amount, balance = row
    # Money left the account (a negative amount): it was the debit side.
    counterparty = credit if amount < 0 else debit
    return StatementLine(entry_id, created_at, token, description, counterparty, amount, balance)


def lines_page(
    connection: Connection, span: Span, after_entry: int, limit: int = PAGE
) -> list[StatementLine]:
    """The span's lines after ``after_entry``, oldest first, ``limit`` at most."""
    return [_line(row) for row in connection.execute(page_query(span, after_entry, limit))]


async def statement_lines(
    database: Database, span: Span, page: int | None = None
) -> AsyncIterator[list[StatementLine]]:
    """The span's lines, oldest first, ``page`` (:data:`PAGE`) at a time, each page read
    in its own short read transaction: what is held in memory is one page, however long
    the statement."""
    size = page or PAGE
    after = span.after_entry
    while after < span.through_entry:
        async with database.read() as connection:
            found = await connection.run_sync(lines_page, span, after, size)
        if not found:
            return
        yield found
        after = found[-1].entry_id
