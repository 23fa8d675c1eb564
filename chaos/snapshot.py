"""What the database holds after a run, read once the server has stopped: the rows the
checks compare with the journal of requests and answers."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy import select

from caja.clients.tables import clients
from caja.db.engine import Database
from caja.ledger.tables import accounts, transfers
from caja.topups.tables import purchases
from caja.wallet.tables import wallet_accounts, wallet_balances

__all__ = ["AccountRow", "PurchaseRow", "Snapshot", "TransferRow", "read_snapshot"]


@dataclass(frozen=True, slots=True)
class AccountRow:
    id: int
    token: str
    kind: str
    client_id: int | None
    balance_minor: int
    pending_out_minor: int


@dataclass(frozen=True, slots=True)
class TransferRow:
    id: int
    token: str
    client_id: int | None
    surface: str
    idempotency_key: str | None
    kind: str
    status: str
    debit_account_id: int
    credit_account_id: int
    amount_minor: int
    description: str
    pending_id: int | None


@dataclass(frozen=True, slots=True)
class PurchaseRow:
    token: str
    client_id: int
    kind: str
    idempotency_token: str
    amount: int  # whole pesos
    status: str
    hold_transfer_id: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    client_ids: dict[str, int]  # cli-… to its row id
    accounts: dict[int, AccountRow]
    transfers: list[TransferRow]  # oldest first
    purchases: list[PurchaseRow]
    # Each wallet account (wac-…) to the ledger account of its pesos.
    wallets: dict[str, int]


async def _read(url: str) -> Snapshot:
    database = Database(url)
    try:
        async with database.read() as connection:
            client_rows = await connection.execute(select(clients.c.token, clients.c.id))
            account_rows = await connection.execute(
                select(
                    accounts.c.id,
                    accounts.c.token,
                    accounts.c.kind,
                    accounts.c.client_id,
                    accounts.c.balance_minor,
                    accounts.c.pending_out_minor,
                )
            )
            transfer_rows = await connection.execute(
                select(
                    transfers.c.id,
                    transfers.c.token,
                    transfers.c.client_id,
                    transfers.c.surface,
                    transfers.c.idempotency_key,
                    transfers.c.kind,
                    transfers.c.status,
                    transfers.c.debit_account_id,
                    transfers.c.credit_account_id,
                    transfers.c.amount_minor,
                    transfers.c.description,
                    transfers.c.pending_id,
                ).order_by(transfers.c.id)
            )
            purchase_rows = await connection.execute(
                select(
                    purchases.c.token,
                    purchases.c.client_id,
                    purchases.c.kind,
                    purchases.c.idempotency_token,
                    purchases.c.amount,
                    purchases.c.status,
                    purchases.c.hold_transfer_id,
                ).order_by(purchases.c.id)
            )
            wallet_rows = await connection.execute(
                select(wallet_accounts.c.token, wallet_balances.c.account_id)
                .join(wallet_balances, wallet_balances.c.wallet_account_id == wallet_accounts.c.id)
                .where(wallet_balances.c.asset == "COP")
            )
            return Snapshot(
                client_ids={row.token: row.id for row in client_rows},
                accounts={row.id: AccountRow(**row._mapping) for row in account_rows},
                transfers=[TransferRow(**row._mapping) for row in transfer_rows],
                purchases=[PurchaseRow(**row._mapping) for row in purchase_rows],
                wallets={row.token: row.account_id for row in wallet_rows},
            )
    finally:
        await database.dispose()


def read_snapshot(url: str) -> Snapshot:
    """Every client, account, transfer and purchase of the database at ``url``."""
    return asyncio.run(_read(url))
