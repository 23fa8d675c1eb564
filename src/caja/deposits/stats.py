"""Deposit figures for the ops dashboard, and deposit accounts as the ops console finds
them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.engine import Connection

from caja.deposits.tables import deposit_accounts, deposit_holders, deposit_transfers

__all__ = [
    "DepositAccountRow",
    "DepositOfTransfer",
    "account_count",
    "deposit_of_transfer",
    "find_deposit_accounts",
]


def account_count(connection: Connection) -> int:
    """How many electronic deposit accounts there are."""
    return int(connection.execute(select(func.count()).select_from(deposit_accounts)).scalar_one())


@dataclass(frozen=True, slots=True)
class DepositAccountRow:
    account_id: int  # the ledger account
    number: str
    status: str
    holder: str
    mobile_phone_number: str


def find_deposit_accounts(
    connection: Connection, term: str, account_ids: list[int], limit: int
) -> list[DepositAccountRow]:
    """Deposit accounts whose number or holder's phone is ``term``, or whose ledger
    account is one of ``account_ids`` (each indexed)."""
    holder = func.trim(deposit_holders.c.names + " " + deposit_holders.c.first_last_name)
    query = (
        select(
            deposit_accounts.c.account_id,
            deposit_accounts.c.number,
            deposit_accounts.c.status,
            holder,
            deposit_holders.c.mobile_phone_number,
        )
        .join(deposit_holders, deposit_holders.c.id == deposit_accounts.c.holder_id)
        .where(
            or_(
                deposit_accounts.c.number == term,
                deposit_holders.c.mobile_phone_number == term,
                deposit_accounts.c.account_id.in_(account_ids),
            )
        )
        .order_by(deposit_accounts.c.account_id)
        .limit(limit)
    )
    return [DepositAccountRow(*row) for row in connection.execute(query)]


@dataclass(frozen=True, slots=True)
class DepositOfTransfer:
    """The electronic deposit movement a transfer belongs to: the movement itself or its
    fee."""

    transfer_id: int
    role: str  # transfer | fee
    channel: str
    coopcentral_id: str
    sender_name: str | None


def deposit_of_transfer(connection: Connection, transfer_id: int) -> DepositOfTransfer | None:
    row = connection.execute(
        select(
            deposit_transfers.c.transfer_id,
            deposit_transfers.c.fee_transfer_id,
            deposit_transfers.c.channel,
            deposit_transfers.c.coopcentral_id,
            deposit_transfers.c.sender_name,
        ).where(
            or_(
                deposit_transfers.c.transfer_id == transfer_id,
                deposit_transfers.c.fee_transfer_id == transfer_id,
            )
        )
    ).first()
    if row is None:
        return None
    role = "transfer" if row.transfer_id == transfer_id else "fee"
    return DepositOfTransfer(
        row.transfer_id, role, row.channel, row.coopcentral_id, row.sender_name
    )
