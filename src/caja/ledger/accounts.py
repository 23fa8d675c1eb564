"""Opening accounts, and finding the system accounts money enters and leaves through."""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from caja.core.clock import utcnow
from caja.core.errors import NotFound
from caja.core.tokens import new_token
from caja.ledger.tables import accounts

__all__ = [
    "SYSTEM_TOKEN_PREFIX",
    "AccountKind",
    "is_system_token",
    "lock_account",
    "open_account",
    "set_overdraft",
    "system_account_id",
]

# System accounts are made by the migrations with tokens such as ``sys-funding-cop``.
SYSTEM_TOKEN_PREFIX = "sys-"


def is_system_token(token: str) -> bool:
    return token.startswith(SYSTEM_TOKEN_PREFIX)


class AccountKind:
    """Kinds of account; the kind fixes who may hold it and how low it may go."""

    CUSTOMER = "customer"
    # A top-up client's balance: whole pesos, down to minus the client's max loan.
    MERCHANT = "merchant"
    SYSTEM = "system"


def open_account(
    connection: Connection,
    *,
    kind: str,
    asset: str,
    client_id: int | None,
    overdraft_minor: int | None,
    owner_id: int | None = None,
    phone_number: str | None = None,
    token_prefix: str = "acc",
) -> tuple[int, str]:
    """Insert an empty account; returns its id and public token."""
    token = new_token(token_prefix)
    row = (
        connection.execute(
            insert(accounts)
            .values(
                token=token,
                kind=kind,
                asset=asset,
                client_id=client_id,
                owner_id=owner_id,
                phone_number=phone_number,
                balance_minor=0,
                pending_out_minor=0,
                overdraft_minor=overdraft_minor,
                version=0,
                created_at=utcnow(),
            )
            .returning(accounts.c.id)
        )
    ).one()
    return int(row.id), token


def system_account_id(connection: Connection, asset: str, name: str) -> int:
    """The system account ``name`` of ``asset`` (created by the migrations)."""
    account_id = (
        connection.execute(
            select(accounts.c.id).where(
                accounts.c.asset == asset,
                accounts.c.name == name,
                accounts.c.kind == AccountKind.SYSTEM,
            )
        )
    ).scalar_one_or_none()
    if account_id is None:
        raise NotFound(f"No system account {name!r} for {asset}.", code="SystemAccountMissing")
    return int(account_id)


def lock_account(connection: Connection, client_id: int, kind: str) -> tuple[int, int] | None:
    """The id and available balance of the client's account of ``kind``, its row locked
    until the transaction ends; None when the client has none."""
    row = connection.execute(
        select(accounts.c.id, accounts.c.balance_minor, accounts.c.pending_out_minor)
        .where(accounts.c.client_id == client_id, accounts.c.kind == kind)
        .with_for_update()
    ).first()
    if row is None:
        return None
    return int(row.id), row.balance_minor - row.pending_out_minor


def set_overdraft(connection: Connection, account_id: int, overdraft_minor: int | None) -> None:
    """Change how far below zero an account's available balance may go."""
    connection.execute(
        update(accounts).where(accounts.c.id == account_id).values(overdraft_minor=overdraft_minor)
    )
