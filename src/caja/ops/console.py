"""What the ops console reads: transfers, one transfer, one account and its statement,
purchases. Each list is read a page at a time, newest first, by keyset (the cursor is the
id of the last row shown), so a page costs the same at the end of a large ledger as at its
start.

The rows come from the packages that own them (the ledger's queries, the top-ups' and
deposits' figures); this module puts them together and shapes them as the console's API
answers them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.engine import Connection

from caja.clients.service import client_id_of, find_clients
from caja.core.clock import iso_utc
from caja.core.money import format_minor
from caja.db.engine import Database
from caja.deposits.stats import deposit_of_transfer
from caja.ledger import queries
from caja.ledger.queries import AccountView, EntryLine, TransferFilter, TransferLine, TransferRow
from caja.topups.stats import PurchaseFilter, PurchaseRow, purchase_of_hold, purchase_page

__all__ = [
    "DEFAULT_PAGE",
    "HISTORY_POINTS",
    "MAX_PAGE",
    "Page",
    "TransferQuery",
    "account_detail",
    "purchase_json",
    "purchases",
    "read",
    "statement",
    "transfer_detail",
    "transfer_json",
    "transfers",
]

DEFAULT_PAGE = 50
MAX_PAGE = queries.MAX_PAGE
HISTORY_POINTS = 200

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list, and the cursor of the next (None on the last page)."""

    data: list[dict[str, Any]]
    next_cursor: str | None

    def json(self) -> dict[str, Any]:
        return {"data": self.data, "next_cursor": self.next_cursor}


async def read(database: Database, work: Callable[..., T], *args: Any) -> T:
    """``work(connection, *args)`` on one read connection."""
    async with database.read() as connection:
        return await connection.run_sync(work, *args)


def _paged(rows: list[Any], limit: int, json: Callable[[Any], dict[str, Any]]) -> Page:
    """A page of ``limit`` rows out of ``limit + 1`` read: one more means another page."""
    shown = rows[:limit]
    more = len(rows) > limit
    return Page([json(row) for row in shown], str(shown[-1].id) if more else None)


def _money(amount_minor: int, scale: int) -> str:
    return format_minor(amount_minor, scale)


# --- transfers ------------------------------------------------------------------------------


def transfer_json(row: TransferRow) -> dict[str, Any]:
    return {
        "token": row.token,
        "surface": row.surface,
        "kind": row.kind,
        "created_at": iso_utc(row.created_at),
        "from_account": row.from_account,
        "to_account": row.to_account,
        "amount": _money(row.amount_minor, row.scale),
        "amount_minor": row.amount_minor,
        "asset": row.asset,
        "status": row.status,
        "description": row.description,
    }


@dataclass(frozen=True, slots=True)
class TransferQuery:
    """A list of transfers as asked: the client and account by token."""

    surface: str | None = None
    status: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    client: str | None = None
    account: str | None = None


def _transfer_filter(connection: Connection, asked: TransferQuery) -> TransferFilter | None:
    """The filter, with the client's and the account's ids; None when either is unknown."""
    client_id = account_id = None
    if asked.client is not None:
        client_id = client_id_of(connection, asked.client)
        if client_id is None:
            return None
    if asked.account is not None:
        account = queries.account_by(connection, token=asked.account)
        if account is None:
            return None
        account_id = account.id
    return TransferFilter(
        asked.surface, asked.status, asked.start, asked.end, client_id, account_id
    )


def _transfers(
    connection: Connection, asked: TransferQuery, cursor: int | None, limit: int
) -> Page:
    wanted = _transfer_filter(connection, asked)
    if wanted is None:
        return Page([], None)
    rows = queries.transfer_page(connection, wanted, before_id=cursor, limit=limit + 1)
    return _paged(rows, limit, transfer_json)


async def transfers(
    database: Database, asked: TransferQuery, cursor: int | None, limit: int
) -> Page:
    return await read(database, _transfers, asked, cursor, limit)


def _line_json(line: TransferLine | None, scales: dict[str, int]) -> dict[str, Any] | None:
    if line is None:
        return None
    return {
        "token": line.token,
        "kind": line.kind,
        "status": line.status,
        "amount": _money(line.amount_minor, scales[line.asset]),
        "created_at": iso_utc(line.created_at),
    }


def _entry_json(entry: EntryLine, scale: int) -> dict[str, Any]:
    return {
        "account": entry.account,
        "side": "credit" if entry.amount_minor > 0 else "debit",
        "amount": _money(entry.amount_minor, scale),
        "amount_minor": entry.amount_minor,
        "balance": _money(entry.balance_after_minor, scale),
        "balance_minor": entry.balance_after_minor,
    }


def _hold(row: TransferRow, links: queries.TransferLinks, scales: dict[str, int]) -> Any:
    """The hold this transfer is or resolves, with its resolution."""
    if row.kind == "pending":
        return {
            "token": row.token,
            "status": row.status,
            "resolution": _line_json(links.resolution, scales),
        }
    if links.hold is None:
        return None
    resolution = {"token": row.token, "kind": row.kind, "status": row.status}
    return {"token": links.hold.token, "status": links.hold.status, "resolution": resolution}


def purchase_json(row: PurchaseRow) -> dict[str, Any]:
    return {
        "token": row.token,
        "kind": row.kind,
        "status": row.status,
        "reference": row.reference,
        "destination_number": row.destination_number,
        "operator": row.operator,
        "package_code": row.package_code,
        "amount": row.amount,
        "created_at": iso_utc(row.created_at),
        "updated_at": iso_utc(row.updated_at),
    }


def _products(connection: Connection, row: TransferRow, pending_id: int | None) -> dict[str, Any]:
    """The purchase and the deposit movement the transfer belongs to, if any."""
    held = [row.id] if pending_id is None else [row.id, pending_id]
    purchase = purchase_of_hold(connection, held)
    deposit = deposit_of_transfer(connection, row.id)
    return {
        "purchase": None if purchase is None else purchase_json(purchase),
        "deposit": None
        if deposit is None
        else {
            "role": deposit.role,
            "channel": deposit.channel,
            "coopcentral_id": deposit.coopcentral_id,
            "sender_name": deposit.sender_name,
        },
    }


def _client(connection: Connection, client_id: int | None) -> dict[str, Any] | None:
    if client_id is None:
        return None
    found = find_clients(connection, None, [client_id], 1)
    return {"id": found[0][1], "name": found[0][2]} if found else None


def _transfer_detail(connection: Connection, token: str) -> dict[str, Any] | None:
    row = queries.transfer_row(connection, token)
    if row is None:
        return None
    scales = queries.asset_scales(connection)
    links = queries.transfer_links(connection, row.id)
    return {
        **transfer_json(row),
        "client": _client(connection, row.client_id),
        "entries": [
            _entry_json(entry, row.scale) for entry in queries.transfer_entries(connection, row.id)
        ],
        "hold": _hold(row, links, scales),
        "reversal": {"reverses": links.reverses, "reversed_by": links.reversed_by},
        **_products(connection, row, links.pending_id),
        "journal": {"hash": links.hash, "prev_hash": links.prev_hash},
    }


async def transfer_detail(database: Database, token: str) -> dict[str, Any] | None:
    """The transfer, its entries with running balances, what it is tied to, its hashes."""
    return await read(database, _transfer_detail, token)


# --- accounts -------------------------------------------------------------------------------


def _account_json(connection: Connection, account: AccountView) -> dict[str, Any]:
    scale = account.scale
    return {
        "token": account.token,
        "kind": account.kind,
        "asset": account.asset,
        "client": _client(connection, account.client_id),
        "phone_number": account.phone_number,
        "balance": _money(account.balance_minor, scale),
        "balance_minor": account.balance_minor,
        "pending_out": _money(account.pending_out_minor, scale),
        "available": _money(account.available_minor, scale),
        "overdraft": None
        if account.overdraft_minor is None
        else _money(account.overdraft_minor, scale),
    }


def _account_detail(connection: Connection, token: str) -> dict[str, Any] | None:
    account = queries.account_by(connection, token=token)
    if account is None:
        return None
    points = queries.balance_points(connection, account.id, HISTORY_POINTS)
    return {
        **_account_json(connection, account),
        "history": [
            {"at": iso_utc(at), "balance": _money(balance, account.scale)} for at, balance in points
        ],
    }


async def account_detail(database: Database, token: str) -> dict[str, Any] | None:
    """The account, its client and balances, and its running balance over time (at most
    about HISTORY_POINTS points)."""
    return await read(database, _account_detail, token)


def _statement_json(entry: EntryLine, scale: int) -> dict[str, Any]:
    return {
        "transfer": entry.transfer_token,
        "created_at": iso_utc(entry.created_at),
        "surface": entry.surface,
        "kind": entry.kind,
        "description": entry.description,
        "amount": _money(entry.amount_minor, scale),
        "amount_minor": entry.amount_minor,
        "balance": _money(entry.balance_after_minor, scale),
        "balance_minor": entry.balance_after_minor,
    }


def _statement(connection: Connection, token: str, cursor: int | None, limit: int) -> Page | None:
    account = queries.account_by(connection, token=token)
    if account is None:
        return None
    rows = queries.statement_page(connection, account.id, before_entry_id=cursor, limit=limit + 1)
    return _paged(rows, limit, lambda entry: _statement_json(entry, account.scale))


async def statement(database: Database, token: str, cursor: int | None, limit: int) -> Page | None:
    """The account's entries, newest first, with running balances; None for no account."""
    return await read(database, _statement, token, cursor, limit)


# --- purchases ------------------------------------------------------------------------------


def _purchases(
    connection: Connection, wanted: PurchaseFilter, cursor: int | None, limit: int
) -> Page:
    rows = purchase_page(connection, wanted, before_id=cursor, limit=limit + 1)
    return _paged(rows, limit, purchase_json)


async def purchases(
    database: Database, wanted: PurchaseFilter, cursor: int | None, limit: int
) -> Page:
    """Top-up and package purchases, newest first."""
    return await read(database, _purchases, wanted, cursor, limit)
