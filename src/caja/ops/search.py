"""The ops console's search: one box for any token, phone number, account number or
client name. Every match is found through an index (or in the small clients table), so a
search costs little on a large ledger; at most MAX_RESULTS are answered."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from caja.clients.service import find_clients
from caja.core.clock import iso_utc
from caja.core.money import format_minor
from caja.db.engine import Database
from caja.deposits.stats import DepositAccountRow, find_deposit_accounts
from caja.ledger import queries
from caja.ledger.queries import AccountView
from caja.ops.console import read
from caja.topups.stats import find_purchases
from caja.wallet.service import find_profile

__all__ = ["MAX_RESULTS", "search"]

MAX_RESULTS = 50

Result = dict[str, Any]


def _result(kind: str, identifier: str, label: str, **detail: Any) -> Result:
    return {"kind": kind, "id": identifier, "label": label, "detail": detail}


def _transfers(connection: Connection, term: str) -> list[Result]:
    row = queries.transfer_row(connection, term)
    if row is None:
        return []
    amount = format_minor(row.amount_minor, row.scale)
    label = f"{row.surface} {row.kind} {amount} {row.asset} ({row.status})"
    return [
        _result(
            "transfer",
            row.token,
            label,
            created_at=iso_utc(row.created_at),
            from_account=row.from_account,
            to_account=row.to_account,
        )
    ]


def _account_result(account: AccountView) -> Result:
    balance = format_minor(account.balance_minor, account.scale)
    label = f"{account.kind} account, {balance} {account.asset}"
    if account.phone_number:
        label += f", phone {account.phone_number}"
    return _result("account", account.token, label, asset=account.asset, balance=balance)


def _accounts(connection: Connection, term: str) -> tuple[list[Result], list[int]]:
    """Accounts by token or phone number, and their ids (for the deposit accounts)."""
    found = queries.accounts_by_phone(connection, term, MAX_RESULTS)
    by_token = queries.account_by(connection, token=term)
    if by_token is not None:
        found.insert(0, by_token)
    return [_account_result(account) for account in found], [account.id for account in found]


def _profiles(connection: Connection, term: str) -> tuple[list[Result], list[int]]:
    found = find_profile(connection, term)
    if found is None:
        return [], []
    profile, account_ids = found
    accounts = queries.accounts_by_ids(connection, account_ids)
    label = f"{profile.first_name} {profile.last_name}, phone {profile.phone_number}"
    result = _result(
        "profile",
        profile.profile_id,
        label,
        wallet_account=profile.account_id,
        phone_number=profile.phone_number,
        accounts=[accounts[account_id].token for account_id in sorted(accounts)],
    )
    return [result], account_ids


def _purchases(connection: Connection, term: str) -> list[Result]:
    return [
        _result(
            row.kind,
            row.token,
            f"{row.kind} {row.amount} COP to {row.destination_number} ({row.status})",
            reference=row.reference,
            status=row.status,
            created_at=iso_utc(row.created_at),
        )
        for row in find_purchases(connection, term, MAX_RESULTS)
    ]


def _deposit_result(row: DepositAccountRow, tokens: dict[int, AccountView]) -> Result:
    token = tokens[row.account_id].token if row.account_id in tokens else None
    return _result(
        "deposit_account",
        row.number,
        f"deposit account {row.number}, {row.holder} ({row.status})",
        account=token,
        phone_number=row.mobile_phone_number,
    )


def _deposits(connection: Connection, term: str, account_ids: list[int]) -> list[Result]:
    rows = find_deposit_accounts(connection, term, account_ids, MAX_RESULTS)
    tokens = queries.accounts_by_ids(connection, [row.account_id for row in rows])
    return [_deposit_result(row, tokens) for row in rows]


def _clients(connection: Connection, term: str) -> list[Result]:
    return [
        _result("client", token, name, name=name)
        for _id, token, name in find_clients(connection, term, (), MAX_RESULTS)
    ]


def _search(connection: Connection, term: str) -> list[Result]:
    accounts, account_ids = _accounts(connection, term)
    profiles, _wallet_ids = _profiles(connection, term)
    found = [
        *_transfers(connection, term),
        *accounts,
        *profiles,
        *_purchases(connection, term),
        *_deposits(connection, term, account_ids),
        *_clients(connection, term),
    ]
    unique: dict[tuple[str, str], Result] = {}
    for result in found:
        unique.setdefault((result["kind"], result["id"]), result)
    return list(unique.values())[:MAX_RESULTS]


async def search(database: Database, term: str) -> list[Result]:
    """What ``term`` names: transfers, accounts, wallet profiles, purchases, deposit
    accounts and clients, in that order, at most MAX_RESULTS."""
    return await read(database, _search, term.strip())
