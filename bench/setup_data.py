"""Data for a run, made in-process with caja's own services: a client and funded accounts."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from sqlalchemy import select, text

from caja.clients.service import create_client
from caja.clients.tables import clients
from caja.customers.service import ASSET, OwnerData, open_customer_account
from caja.db.engine import Database
from caja.ledger import batching, engine
from caja.ledger.accounts import system_account_id
from caja.ledger.model import NewTransfer

__all__ = ["HOT_BALANCE_MINOR", "OTHER_BALANCE_MINOR", "Prepared", "prepare"]

# Minor units (centavos). The hot account pays every transfer of the hot workload.
HOT_BALANCE_MINOR = 10**13
OTHER_BALANCE_MINOR = 10**10
OPEN_CONCURRENCY = 16


@dataclass(frozen=True, slots=True)
class Prepared:
    api_key: str
    # The first token is the hot account.
    account_tokens: list[str]
    open_seconds: float
    fund_seconds: float


async def _client_id(database: Database, token: str) -> int:
    async with database.read() as connection:
        found = await connection.execute(select(clients.c.id).where(clients.c.token == token))
        return int(found.scalar_one())


async def _open_accounts(database: Database, client_id: int, count: int) -> list[tuple[int, str]]:
    """Open ``count`` accounts with distinct owners and phones; (id, token) in order."""
    gate = asyncio.Semaphore(OPEN_CONCURRENCY)

    async def open_one(number: int) -> tuple[int, str]:
        owner = OwnerData(
            legal_id_type="CC",
            legal_id_number=f"{1_000_000_000 + number}",
            full_name=f"Bench Owner {number}",
            email=f"owner{number}@bench.example",
        )
        async with gate:
            opened = await open_customer_account(database, client_id, f"+57300{number:07d}", owner)
        return opened.customer.account.id, opened.customer.account.token

    return list(await asyncio.gather(*(open_one(number) for number in range(count))))


async def _fund(database: Database, account_ids: list[int]) -> None:
    async with database.read() as connection:
        funding_id = await connection.run_sync(system_account_id, ASSET, "funding")
    for start in range(0, len(account_ids), engine.MAX_BATCH):
        batch = [
            NewTransfer(
                surface="funding",
                description="bench funding",
                debit_account_id=funding_id,
                credit_account_id=account_id,
                amount_minor=HOT_BALANCE_MINOR if start + offset == 0 else OTHER_BALANCE_MINOR,
            )
            for offset, account_id in enumerate(account_ids[start : start + engine.MAX_BATCH])
        ]
        for result in await batching.post(database, batch):
            if result.error is not None:
                raise RuntimeError(f"funding failed: {result.error.message}")


async def _prepare(url: str, accounts: int) -> Prepared:
    database = Database(url, pool_size=OPEN_CONCURRENCY)
    try:
        created = await create_client(database, "bench", ["ledger"])
        client_id = await _client_id(database, created.client_id)
        started = time.perf_counter()
        opened = await _open_accounts(database, client_id, accounts)
        opened_at = time.perf_counter()
        await _fund(database, [account_id for account_id, _ in opened])
        funded_at = time.perf_counter()
        if not database.is_sqlite:
            # Planner statistics for the tables just filled, as autovacuum would gather
            # them a minute later: the load starts now.
            async with database.engine.begin() as connection:
                await connection.execute(text("ANALYZE"))
    finally:
        await database.dispose()
    return Prepared(
        api_key=created.api_key,
        account_tokens=[token for _, token in opened],
        open_seconds=opened_at - started,
        fund_seconds=funded_at - opened_at,
    )


def prepare(url: str, accounts: int) -> Prepared:
    """Make one ``ledger`` client and ``accounts`` funded accounts in the database at ``url``."""
    if accounts < 2:
        raise ValueError("a transfer needs at least two accounts")
    return asyncio.run(_prepare(url, accounts))
