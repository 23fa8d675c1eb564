"""Reads: accounts and transfers as the surfaces show them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Subquery,
    and_,
    case,
    desc,
    func,
    literal_column,
    select,
)
from sqlalchemy.engine import Connection

from caja.core.invariant import invariant
from caja.ledger.model import TransferKind, TransferStatus, TransferView
from caja.ledger.tables import accounts, assets, entries, transfers

__all__ = [
    "MAX_PAGE",
    "MOVING",
    "AccountView",
    "EntryLine",
    "SurfaceTotal",
    "TransferFilter",
    "TransferLine",
    "TransferLinks",
    "TransferRow",
    "account_by",
    "account_history",
    "accounts_by_ids",
    "accounts_by_phone",
    "asset_scales",
    "balance_points",
    "find_account",
    "latest_transfers",
    "moved_between",
    "moved_per_surface",
    "moved_since",
    "net_between",
    "reversed_among",
    "standard_transfers_of",
    "statement_page",
    "transfer_by_key",
    "transfer_entries",
    "transfer_in_account",
    "transfer_links",
    "transfer_page",
    "transfer_row",
    "transfer_states",
    "transfer_views",
    "transfers_by_id",
    "transfers_by_key",
    "transfers_touching",
]

MAX_PAGE = 500


@dataclass(frozen=True, slots=True)
class AccountView:
    id: int
    token: str
    kind: str
    asset: str
    scale: int
    client_id: int | None
    owner_id: int | None
    phone_number: str | None
    balance_minor: int
    pending_out_minor: int
    overdraft_minor: int | None
    version: int
    # Whether a balance monitor watches it (read by the write path only).
    monitored: bool = False

    @property
    def available_minor(self) -> int:
        return self.balance_minor - self.pending_out_minor


_ACCOUNT_COLUMNS = (
    accounts.c.id,
    accounts.c.token,
    accounts.c.kind,
    accounts.c.asset,
    assets.c.scale,
    accounts.c.client_id,
    accounts.c.owner_id,
    accounts.c.phone_number,
    accounts.c.balance_minor,
    accounts.c.pending_out_minor,
    accounts.c.overdraft_minor,
    accounts.c.version,
)


def _account_select() -> Select[Any]:
    return select(*_ACCOUNT_COLUMNS).join(assets, assets.c.code == accounts.c.asset)


def find_account(connection: Connection, *conditions: ColumnElement[bool]) -> AccountView | None:
    row = (connection.execute(_account_select().where(*conditions))).first()
    return AccountView(*row) if row is not None else None


_debit = accounts.alias("debit_account")
_credit = accounts.alias("credit_account")
_debit_entry = entries.alias("debit_entry")
_credit_entry = entries.alias("credit_entry")


def _transfer_select() -> Select[Any]:
    return (
        select(
            transfers.c.id,
            transfers.c.token,
            transfers.c.kind,
            transfers.c.status,
            transfers.c.client_id,
            transfers.c.debit_account_id,
            transfers.c.credit_account_id,
            _debit.c.token,
            _credit.c.token,
            transfers.c.asset,
            assets.c.scale,
            transfers.c.amount_minor,
            transfers.c.description,
            transfers.c.idempotency_key,
            transfers.c.created_at,
            _debit_entry.c.balance_after_minor,
            _credit_entry.c.balance_after_minor,
        )
        .join(_debit, _debit.c.id == transfers.c.debit_account_id)
        .join(_credit, _credit.c.id == transfers.c.credit_account_id)
        .join(assets, assets.c.code == transfers.c.asset)
        .outerjoin(
            _debit_entry,
            and_(
                _debit_entry.c.transfer_id == transfers.c.id,
                _debit_entry.c.account_id == transfers.c.debit_account_id,
            ),
        )
        .outerjoin(
            _credit_entry,
            and_(
                _credit_entry.c.transfer_id == transfers.c.id,
                _credit_entry.c.account_id == transfers.c.credit_account_id,
            ),
        )
    )


def _view(row: Any) -> TransferView:
    values = list(row)
    values[2] = TransferKind(values[2])
    values[3] = TransferStatus(values[3])
    return TransferView(*values)


def transfer_views(connection: Connection, *conditions: ColumnElement[bool]) -> list[TransferView]:
    query = _transfer_select().where(*conditions).order_by(transfers.c.id)
    return [_view(row) for row in (connection.execute(query)).all()]


def account_history(
    connection: Connection,
    account_id: int,
    *,
    limit: int,
    before_transfer_id: int | None = None,
) -> list[TransferView]:
    """Posted movements of one account, newest first, ``limit`` at most.

    Callers may ask for one row more than a page to learn whether another page follows.
    """
    invariant(1 <= limit <= MAX_PAGE + 1, "a history page is bounded")
    query = _transfer_select().join(
        entries,
        and_(entries.c.transfer_id == transfers.c.id, entries.c.account_id == account_id),
    )
    if before_transfer_id is not None:
        cursor_entry = (
            select(entries.c.id)
            .where(entries.c.transfer_id == before_transfer_id, entries.c.account_id == account_id)
            .scalar_subquery()
        )
        query = query.where(entries.c.id < cursor_entry)
    query = query.order_by(entries.c.id.desc()).limit(limit)
    return [_view(row) for row in (connection.execute(query)).all()]


def entries_page(
    connection: Connection, account_id: int, surface: str, *, limit: int, before_entry: int | None
) -> list[tuple[int, TransferView]]:
    """The account's entries of ``surface`` transfers, newest first, ``limit`` at most, each
    with its transfer: a keyset page (entry ids below ``before_entry``) that costs the same
    however long the account's history is."""
    invariant(1 <= limit <= MAX_PAGE + 1, "a history page is bounded")
    query = (
        _transfer_select()
        .add_columns(entries.c.id.label("entry_id"))
        .join(entries, entries.c.transfer_id == transfers.c.id)
        .where(entries.c.account_id == account_id, transfers.c.surface == surface)
    )
    if before_entry is not None:
        query = query.where(entries.c.id < before_entry)
    rows = connection.execute(query.order_by(entries.c.id.desc()).limit(limit)).all()
    return [(row.entry_id, _view(tuple(row)[:-1])) for row in rows]


# --- reads for the products: they read the ledger's rows only through these ---------------

# Transfers that move money (holds and voids move none).
MOVING = (TransferKind.STANDARD.value, TransferKind.POST_PENDING.value, TransferKind.REVERSAL.value)


def account_by(
    connection: Connection,
    *,
    account_id: int | None = None,
    token: str | None = None,
    client_id: int | None = None,
    kind: str | None = None,
    owner_id: int | None = None,
    phone_number: str | None = None,
) -> AccountView | None:
    """An account that matches every filter given (a filter left None matches any)."""
    filters = {
        "id": account_id,
        "token": token,
        "client_id": client_id,
        "kind": kind,
        "owner_id": owner_id,
        "phone_number": phone_number,
    }
    return find_account(
        connection,
        *(accounts.c[name] == value for name, value in filters.items() if value is not None),
    )


def accounts_by_ids(connection: Connection, account_ids: Iterable[int]) -> dict[int, AccountView]:
    """The accounts of these ids, by id, in one query."""
    wanted = sorted(set(account_ids))
    if not wanted:
        return {}
    rows = connection.execute(_account_select().where(accounts.c.id.in_(wanted))).all()
    return {view.id: view for view in (AccountView(*row) for row in rows)}


def asset_scales(connection: Connection) -> dict[str, int]:
    """Every asset's code and scale (its minor units per unit, as a power of ten)."""
    return {
        code: int(scale)
        for code, scale in connection.execute(select(assets.c.code, assets.c.scale))
    }


def transfer_by_key(
    connection: Connection, client_id: int, surface: str, idempotency_key: str
) -> TransferView | None:
    """The transfer a client's idempotency key made on ``surface``."""
    found = transfers_by_key(connection, client_id, [surface], idempotency_key)
    return found[0] if found else None


def transfer_in_account(connection: Connection, token: str, account_id: int) -> int | None:
    """The id of transfer ``token`` when it moved money of the account, else None."""
    found = connection.execute(
        select(transfers.c.id)
        .join(entries, entries.c.transfer_id == transfers.c.id)
        .where(transfers.c.token == token, entries.c.account_id == account_id)
    ).scalar_one_or_none()
    return None if found is None else int(found)


def transfers_touching(
    connection: Connection, account_ids: Iterable[int], surface: str
) -> list[TransferView]:
    """Transfers of ``surface`` with an entry in any of these accounts, oldest first."""
    touching = select(entries.c.transfer_id).where(entries.c.account_id.in_(list(account_ids)))
    return transfer_views(connection, transfers.c.id.in_(touching), transfers.c.surface == surface)


def net_between(connection: Connection, account_id: int, other_account_id: int) -> int:
    """What the entries of ``account_id`` add up to, over the transfers that also have an
    entry in ``other_account_id``."""
    total = connection.execute(
        select(func.coalesce(func.sum(entries.c.amount_minor), 0)).where(
            entries.c.account_id == account_id,
            entries.c.transfer_id.in_(
                select(entries.c.transfer_id).where(entries.c.account_id == other_account_id)
            ),
        )
    ).scalar_one()
    return int(total)


def transfer_states() -> Subquery:
    """Every transfer's id, kind, status and amount, as a subquery.

    For a product's own check to join its rows to their transfers in one statement: one
    statement sees one moment of the database (PostgreSQL reads are READ COMMITTED, so
    two statements could see a purchase and its hold on either side of a commit).
    """
    return select(
        transfers.c.id, transfers.c.kind, transfers.c.status, transfers.c.amount_minor
    ).subquery("transfer_states")


@dataclass(frozen=True, slots=True)
class SurfaceTotal:
    surface: str
    asset: str
    transfers: int
    amount_minor: int


def moved_per_surface(connection: Connection) -> list[SurfaceTotal]:
    """How many transfers moved money, and how much, per surface and asset."""
    rows = connection.execute(
        select(
            transfers.c.surface,
            transfers.c.asset,
            func.count().label("count"),
            func.sum(transfers.c.amount_minor).label("total"),
        )
        .where(transfers.c.kind.in_(MOVING))
        .group_by(transfers.c.surface, transfers.c.asset)
        .order_by(transfers.c.surface, transfers.c.asset)
    )
    return [
        SurfaceTotal(surface, asset, count, int(total)) for surface, asset, count, total in rows
    ]


@dataclass(frozen=True, slots=True)
class TransferLine:
    """A transfer as a list of the latest shows it."""

    token: str
    surface: str
    kind: str
    status: str
    asset: str
    amount_minor: int
    created_at: datetime


def latest_transfers(connection: Connection, limit: int) -> list[TransferLine]:
    """The last ``limit`` transfers, newest first."""
    rows = connection.execute(
        select(
            transfers.c.token,
            transfers.c.surface,
            transfers.c.kind,
            transfers.c.status,
            transfers.c.asset,
            transfers.c.amount_minor,
            transfers.c.created_at,
        )
        .order_by(desc(transfers.c.id))
        .limit(limit)
    )
    return [TransferLine(*row) for row in rows]


def moved_since(connection: Connection, since: datetime) -> list[tuple[datetime, str, int]]:
    """(created_at, asset, amount) of each transfer that moved money from ``since`` on."""
    rows = connection.execute(
        select(transfers.c.created_at, transfers.c.asset, transfers.c.amount_minor).where(
            transfers.c.kind.in_(MOVING), transfers.c.created_at >= since
        )
    )
    return [(row.created_at, row.asset, row.amount_minor) for row in rows]


# --- for the products, which do not read the ledger's tables themselves --------------------


def moved_between(
    connection: Connection, account_id: int, start: datetime, end: datetime
) -> tuple[int, int]:
    """What entered and what left the account in transfers made from ``start`` to before
    ``end``, in minor units."""
    row = connection.execute(
        select(
            func.coalesce(func.sum(case((entries.c.amount_minor > 0, entries.c.amount_minor))), 0),
            func.coalesce(func.sum(case((entries.c.amount_minor < 0, -entries.c.amount_minor))), 0),
        )
        .join(transfers, transfers.c.id == entries.c.transfer_id)
        .where(
            entries.c.account_id == account_id,
            transfers.c.created_at >= start,
            transfers.c.created_at < end,
        )
    ).one()
    return int(row[0]), int(row[1])


def transfers_by_id(connection: Connection, ids: Iterable[int]) -> list[TransferView]:
    return transfer_views(connection, transfers.c.id.in_(sorted(set(ids))))


def transfers_by_key(
    connection: Connection, client_id: int, surfaces: Iterable[str], key: str
) -> list[TransferView]:
    """The client's transfers that carry the idempotency key ``key`` on these surfaces."""
    return transfer_views(
        connection,
        transfers.c.client_id == client_id,
        transfers.c.surface.in_(list(surfaces)),
        transfers.c.idempotency_key == key,
    )


def reversed_among(connection: Connection, ids: Iterable[int]) -> set[int]:
    """Which of the transfers ``ids`` have been reversed."""
    rows = connection.execute(
        select(transfers.c.reverses_id).where(transfers.c.reverses_id.in_(sorted(set(ids))))
    )
    return {row.reverses_id for row in rows}


def standard_transfers_of(
    connection: Connection, account_id: int, start: datetime, end: datetime
) -> list[TransferView]:
    """The account's standard transfers (not holds, not reversals) made from ``start`` to
    before ``end``, oldest first."""
    touching = select(entries.c.transfer_id).where(entries.c.account_id == account_id)
    return transfer_views(
        connection,
        transfers.c.id.in_(touching),
        transfers.c.kind == TransferKind.STANDARD.value,
        transfers.c.created_at >= start,
        transfers.c.created_at < end,
    )


# --- for the ops console: lists paged newest first by id, one transfer, one account ---------


@dataclass(frozen=True, slots=True)
class TransferFilter:
    """What a list of transfers is narrowed to; a field left None matches any."""

    surface: str | None = None
    status: str | None = None
    start: datetime | None = None  # from this instant on
    end: datetime | None = None  # before this instant
    client_id: int | None = None
    account_id: int | None = None  # transfers that moved money of this account


@dataclass(frozen=True, slots=True)
class TransferRow:
    """A transfer as the ops console lists it."""

    id: int
    token: str
    surface: str
    kind: str
    status: str
    client_id: int | None
    from_account: str
    to_account: str
    asset: str
    scale: int
    amount_minor: int
    description: str
    created_at: datetime


def _row_select() -> Select[Any]:
    return (
        select(
            transfers.c.id,
            transfers.c.token,
            transfers.c.surface,
            transfers.c.kind,
            transfers.c.status,
            transfers.c.client_id,
            _debit.c.token,
            _credit.c.token,
            transfers.c.asset,
            assets.c.scale,
            transfers.c.amount_minor,
            transfers.c.description,
            transfers.c.created_at,
        )
        .join(_debit, _debit.c.id == transfers.c.debit_account_id)
        .join(_credit, _credit.c.id == transfers.c.credit_account_id)
        .join(assets, assets.c.code == transfers.c.asset)
    )


# The console pages transfers by these expressions, each with an index of its own
# (migration 0011). They are expressions, not the bare columns, so that only these pages
# can use those indexes: an index led by ``client_id`` or ``surface`` alone would tempt
# the planner away from the idempotency keys' unique index on the write path while the
# table's statistics are young.
_LISTED_BY: dict[str, ColumnElement[Any]] = {
    "surface": transfers.c.surface.op("||")(literal_column("''")),
    "status": transfers.c.status.op("||")(literal_column("''")),
    "client_id": transfers.c.client_id + literal_column("0"),
}


def _filtered(query: Select[Any], wanted: TransferFilter) -> Select[Any]:
    columns = {"surface": wanted.surface, "status": wanted.status, "client_id": wanted.client_id}
    for name, value in columns.items():
        if value is not None:
            query = query.where(_LISTED_BY[name] == value)
    if wanted.start is not None:
        query = query.where(transfers.c.created_at >= wanted.start)
    if wanted.end is not None:
        query = query.where(transfers.c.created_at < wanted.end)
    return query


def _entry_of(transfer_id: int, account_id: int) -> Any:
    """The id of the account's entry in the transfer, as a subquery: the cursor of a page
    of the account's transfers, found by one seek."""
    return (
        select(entries.c.id)
        .where(entries.c.transfer_id == transfer_id, entries.c.account_id == account_id)
        .scalar_subquery()
    )


def transfer_page(
    connection: Connection, wanted: TransferFilter, *, before_id: int | None, limit: int
) -> list[TransferRow]:
    """Transfers that match ``wanted``, newest first, with an id below ``before_id``; at most
    ``limit`` (ask for one more than a page to learn whether another follows).

    Each page reads an index backwards from the cursor: the primary key, the surface's
    index, or the account's entries (``ix_entries_account_id_id``) for an account."""
    invariant(1 <= limit <= MAX_PAGE + 1, "a page is bounded")
    query = _filtered(_row_select(), wanted)
    if wanted.account_id is not None:
        query = query.join(
            entries,
            and_(
                entries.c.transfer_id == transfers.c.id, entries.c.account_id == wanted.account_id
            ),
        )
        order = entries.c.id.desc()
        if before_id is not None:
            query = query.where(entries.c.id < _entry_of(before_id, wanted.account_id))
    else:
        order = transfers.c.id.desc()
        if before_id is not None:
            query = query.where(transfers.c.id < before_id)
    return [TransferRow(*row) for row in connection.execute(query.order_by(order).limit(limit))]


def transfer_row(connection: Connection, token: str) -> TransferRow | None:
    """The transfer ``token``, as listed."""
    row = connection.execute(_row_select().where(transfers.c.token == token)).first()
    return None if row is None else TransferRow(*row)


@dataclass(frozen=True, slots=True)
class EntryLine:
    """One entry of a transfer or of an account's statement, with the running balance of
    its account after it."""

    id: int
    transfer_id: int
    transfer_token: str
    account: str
    amount_minor: int
    balance_after_minor: int
    created_at: datetime
    surface: str
    kind: str
    description: str


def _entry_select() -> Select[Any]:
    return (
        select(
            entries.c.id,
            entries.c.transfer_id,
            transfers.c.token,
            accounts.c.token,
            entries.c.amount_minor,
            entries.c.balance_after_minor,
            transfers.c.created_at,
            transfers.c.surface,
            transfers.c.kind,
            transfers.c.description,
        )
        .join(transfers, transfers.c.id == entries.c.transfer_id)
        .join(accounts, accounts.c.id == entries.c.account_id)
    )


def transfer_entries(connection: Connection, transfer_id: int) -> list[EntryLine]:
    """The entries of one transfer, in the order written."""
    query = _entry_select().where(entries.c.transfer_id == transfer_id).order_by(entries.c.id)
    return [EntryLine(*row) for row in connection.execute(query)]


def statement_page(
    connection: Connection, account_id: int, *, before_entry_id: int | None, limit: int
) -> list[EntryLine]:
    """The account's entries, newest first, below ``before_entry_id``; at most ``limit``."""
    invariant(1 <= limit <= MAX_PAGE + 1, "a page is bounded")
    query = _entry_select().where(entries.c.account_id == account_id)
    if before_entry_id is not None:
        query = query.where(entries.c.id < before_entry_id)
    query = query.order_by(entries.c.id.desc()).limit(limit)
    return [EntryLine(*row) for row in connection.execute(query)]


def _first_entries(connection: Connection, account_id: int, most: int) -> list[int]:
    """The ids of the account's first ``most + 1`` entries at most."""
    query = (
        select(entries.c.id)
        .where(entries.c.account_id == account_id)
        .order_by(entries.c.id)
        .limit(most + 1)
    )
    return [int(found) for found in connection.execute(query).scalars()]


def _spread_entries(connection: Connection, account_id: int, first: int, most: int) -> set[int]:
    """About ``most`` entry ids of the account, spread evenly over its span of ids (so over
    its time), the first and the last included: one index seek each."""
    last = int(
        connection.execute(
            select(func.max(entries.c.id)).where(entries.c.account_id == account_id)
        ).scalar_one()
    )
    step = max(1, -(-(last - first) // (most - 1)))
    chosen = {last}
    for threshold in range(first, last, step):
        found = connection.execute(
            select(entries.c.id)
            .where(entries.c.account_id == account_id, entries.c.id >= threshold)
            .order_by(entries.c.id)
            .limit(1)
        ).scalar_one()
        chosen.add(int(found))
    return chosen


def balance_points(
    connection: Connection, account_id: int, most: int
) -> list[tuple[datetime, int]]:
    """The account's running balance over time, oldest first: after each entry when it has
    at most ``most``, else after about ``most`` entries spread over its history, the first
    and the last included. Each read is a seek or a bounded range on
    ``ix_entries_account_id_id``, so a busy account costs no more than a quiet one."""
    invariant(most >= 2, "a history has a first and a last point")
    ids = _first_entries(connection, account_id, most)
    if len(ids) > most:
        ids = sorted(_spread_entries(connection, account_id, ids[0], most))
    if not ids:
        return []
    query = (
        select(transfers.c.created_at, entries.c.balance_after_minor)
        .join(transfers, transfers.c.id == entries.c.transfer_id)
        .where(entries.c.id.in_(ids))
        .order_by(entries.c.id)
    )
    return [(row[0], int(row[1])) for row in connection.execute(query)]


@dataclass(frozen=True, slots=True)
class TransferLinks:
    """What a transfer is tied to in the ledger: the hold it resolves or its resolution,
    the transfer it reverses or its reversal (tokens), and its journal hashes."""

    pending_id: int | None
    hold: TransferLine | None
    resolution: TransferLine | None
    reverses: str | None
    reversed_by: str | None
    hash: str | None
    prev_hash: str | None


def _line(connection: Connection, condition: ColumnElement[bool]) -> TransferLine | None:
    row = connection.execute(
        select(
            transfers.c.token,
            transfers.c.surface,
            transfers.c.kind,
            transfers.c.status,
            transfers.c.asset,
            transfers.c.amount_minor,
            transfers.c.created_at,
        ).where(condition)
    ).first()
    return None if row is None else TransferLine(*row)


def _token_of(connection: Connection, condition: ColumnElement[bool]) -> str | None:
    found = connection.execute(select(transfers.c.token).where(condition)).scalar_one_or_none()
    return None if found is None else str(found)


def transfer_links(connection: Connection, transfer_id: int) -> TransferLinks:
    row = connection.execute(
        select(
            transfers.c.pending_id, transfers.c.reverses_id, transfers.c.hash, transfers.c.prev_hash
        ).where(transfers.c.id == transfer_id)
    ).one()
    pending_id, reverses_id, hashed, prev_hash = row
    return TransferLinks(
        pending_id=pending_id,
        hold=None if pending_id is None else _line(connection, transfers.c.id == pending_id),
        resolution=_line(connection, transfers.c.pending_id == transfer_id),
        reverses=None
        if reverses_id is None
        else _token_of(connection, transfers.c.id == reverses_id),
        reversed_by=_token_of(connection, transfers.c.reverses_id == transfer_id),
        hash=hashed,
        prev_hash=prev_hash,
    )


def accounts_by_phone(connection: Connection, phone_number: str, limit: int) -> list[AccountView]:
    """Accounts of this phone number (``ix_accounts_phone_number``), at most ``limit``."""
    query = _account_select().where(accounts.c.phone_number == phone_number).limit(limit)
    return [AccountView(*row) for row in connection.execute(query)]
