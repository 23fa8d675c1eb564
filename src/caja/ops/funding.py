"""Putting money into an account from the funding system account (sandbox top-up).

The target is an account token, a top-up client's id (``cli-…``) for its merchant
account, which moves whole pesos only, or a wallet account (``wac-…``) with the asset to
credit.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Connection

from caja.clients.service import client_id_of
from caja.core.errors import InvalidInput, NotFound
from caja.core.money import parse_amount
from caja.db.engine import Database
from caja.ledger import batching
from caja.ledger.accounts import AccountKind, system_account_id
from caja.ledger.model import NewTransfer
from caja.ledger.queries import (
    AccountView,
    account_by,
    accounts_by_ids,
)
from caja.wallet.service import ledger_account_of

__all__ = ["Funded", "fund"]


@dataclass(frozen=True, slots=True)
class Funded:
    account: str
    transfer: str
    amount_minor: int
    balance_minor: int
    scale: int
    asset: str


async def fund(database: Database, target: str, amount: str, asset: str = "COP") -> Funded:
    """Credit ``target`` (an account token) with ``amount`` taken from the funding account."""
    async with database.read() as connection:
        account, funding_id = await connection.run_sync(_target, target, asset.upper())
    if account.kind == AccountKind.MERCHANT:
        amount_minor = parse_amount(amount, 0) * 10**account.scale
    else:
        amount_minor = parse_amount(amount, account.scale)
    [result] = await batching.post(
        database,
        [
            NewTransfer(
                surface="funding",
                description="funding",
                debit_account_id=funding_id,
                credit_account_id=account.id,
                amount_minor=amount_minor,
            )
        ],
    )
    if result.error is not None:
        raise result.error
    assert result.transfer is not None
    assert result.transfer.credit_balance_after_minor is not None
    return Funded(
        # A wallet account or a client is shown as it was named, not by its ledger account.
        target if target.startswith(("wac-", "cli-")) else account.token,
        result.transfer.token,
        amount_minor,
        result.transfer.credit_balance_after_minor,
        account.scale,
        account.asset,
    )


def _target(connection: Connection, token: str, asset: str) -> tuple[AccountView, int]:
    """The account to credit, and the funding account of its asset."""
    account = _account(connection, token, asset)
    if account is None:
        raise NotFound(f"No account {token}.", code="AccountNotFound")
    if account.kind == "deposit":
        # Its money comes from its bank, within its limits: `caja deposits receive`.
        raise InvalidInput(
            "account", "is an electronic deposit account: use `caja deposits receive`"
        )
    return account, system_account_id(connection, account.asset, "funding")


def _account(connection: Connection, token: str, asset: str) -> AccountView | None:
    """The ledger account ``token`` names: a wallet account's for ``asset``, a top-up
    client's merchant account, or an account that is not a system one."""
    if token.startswith("wac-"):
        account_id = ledger_account_of(connection, token, asset)
        return accounts_by_ids(connection, [account_id]).get(account_id) if account_id else None
    if token.startswith("cli-"):
        client_id = client_id_of(connection, token)
        if client_id is None:
            return None
        return account_by(connection, client_id=client_id, kind=AccountKind.MERCHANT)
    account = account_by(connection, token=token)
    return account if account is not None and account.kind != AccountKind.SYSTEM else None
