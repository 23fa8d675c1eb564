"""Reads: accounts and transfers as the surfaces show them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, select
from sqlalchemy.engine import Connection

from caja.core.invariant import invariant
from caja.ledger.model import TransferKind, TransferStatus, TransferView
from caja.ledger.tables import accounts, assets, entries, transfers

__all__ = [
    "AccountView",
    "account_by_token",
    "account_history",
    "account_of_client",
    "accounts_by_id",
    "find_account",
    "moved_between",
    "reversed_among",
    "standard_transfers_of",
    "transfer_views",
    "transfers_by_id",
    "transfers_by_key",
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


# --- for the products, which do not read the ledger's tables themselves --------------------


def accounts_by_id(connection: Connection, ids: Iterable[int]) -> dict[int, AccountView]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = connection.execute(_account_select().where(accounts.c.id.in_(wanted))).all()
    return {row.id: AccountView(*row) for row in rows}


def account_by_token(connection: Connection, token: str) -> AccountView | None:
    return find_account(connection, accounts.c.token == token)


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


def account_of_client(connection: Connection, client_id: int, kind: str) -> AccountView | None:
    """The client's one account of ``kind`` (a top-up client's merchant account)."""
    return find_account(connection, accounts.c.client_id == client_id, accounts.c.kind == kind)
