"""Putting money into an account from the funding system account (sandbox top-up).

The target is an account token, a top-up client's id (``cli-…``) for its merchant
account, which moves whole pesos only, or a wallet account (``wac-…``) with the asset to
credit.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Connection

from caja.clients.tables import clients
from caja.core.errors import InvalidInput, NotFound
from caja.core.money import parse_amount
from caja.db.engine import Database
from caja.ledger import engine
from caja.ledger.accounts import AccountKind, system_account_id
from caja.ledger.model import NewTransfer
from caja.ledger.queries import AccountView, find_account
from caja.ledger.tables import accounts
from caja.wallet.tables import wallet_accounts, wallet_balances

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
    [result] = await engine.post(
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
    if token.startswith("wac-"):
        account = find_account(
            connection,
            accounts.c.id
            == select(wallet_balances.c.account_id)
            .join(wallet_accounts, wallet_accounts.c.id == wallet_balances.c.wallet_account_id)
            .where(wallet_accounts.c.token == token, wallet_balances.c.asset == asset)
            .scalar_subquery(),
        )
    elif token.startswith("cli-"):
        account = find_account(
            connection,
            accounts.c.kind == AccountKind.MERCHANT,
            accounts.c.client_id
            == select(clients.c.id).where(clients.c.token == token).scalar_subquery(),
        )
    else:
        account = find_account(
            connection, accounts.c.token == token, accounts.c.kind != AccountKind.SYSTEM
        )
    if account is None:
        raise NotFound(f"No account {token}.", code="AccountNotFound")
    if account.kind == "deposit":
        # Its money comes from its bank, within its limits: `caja deposits receive`.
        raise InvalidInput(
            "account", "is an electronic deposit account: use `caja deposits receive`"
        )
    return account, system_account_id(connection, account.asset, "funding")
