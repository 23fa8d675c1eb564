"""Data for a run, made in-process with caja's own services: clients and funded accounts."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import date

from sqlalchemy import text

from caja.clients.service import client_id_of, create_client
from caja.customers.service import ASSET, OwnerData, open_customer_account
from caja.db.engine import Database
from caja.deposits import service as deposits
from caja.ledger import batching
from caja.ledger.accounts import system_account_id
from caja.ledger.model import NewTransfer
from caja.providers.bank import Holder, SandboxBank

__all__ = [
    "DEPOSIT_ACCOUNTS",
    "DEPOSIT_BALANCE_MINOR",
    "HOT_BALANCE_MINOR",
    "OTHER_BALANCE_MINOR",
    "DepositAccounts",
    "Prepared",
    "prepare",
]

# Minor units (centavos). The hot account pays every transfer of the hot workload.
HOT_BALANCE_MINOR = 10**13
OTHER_BALANCE_MINOR = 10**10
OPEN_CONCURRENCY = 16

# The deposit workload's accounts, each funded with one million pesos from the funding
# system account; the limits count that as money in. Within the default limits (11,024,727
# pesos a month in, out and held; docs/deposit-api.md) an account can then send 90,909
# transfers of at most 10.00 pesos plus a fee of at most 1.00, and receive 1,002,472 of at
# most 10.00: no run comes near (at 5,000 transfers/s for an hour, an account sends about
# 18,000 on average).
DEPOSIT_ACCOUNTS = 1000
DEPOSIT_BALANCE_MINOR = 10**8
# The sandbox bank opens accounts only for the API document's test data
# (docs/deposit-api.md, "The sandbox bank"): an identification ending in 45678, a phone
# starting with 352 and a birth date before 2000.
_SANDBOX_ID_SUFFIX = "45678"
_ISSUED = date(2019, 3, 19)
_BORN = date(1999, 1, 25)


@dataclass(frozen=True, slots=True)
class DepositAccounts:
    api_key: str
    account_tokens: list[str]
    open_seconds: float
    fund_seconds: float


@dataclass(frozen=True, slots=True)
class Prepared:
    api_key: str
    # The first token is the hot account.
    account_tokens: list[str]
    open_seconds: float
    fund_seconds: float
    # For the deposit workload; None when it is not run.
    deposit: DepositAccounts | None


async def _client_id(database: Database, token: str) -> int:
    async with database.read() as connection:
        found = await connection.run_sync(client_id_of, token)
    assert found is not None
    return found


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


async def _fund(database: Database, fundings: list[tuple[int, int]]) -> None:
    """Credit each (account id, minor units) from the funding system account, in batches."""
    async with database.read() as connection:
        funding_id = await connection.run_sync(system_account_id, ASSET, "funding")
    for start in range(0, len(fundings), batching.MAX_BATCH):
        batch = [
            NewTransfer(
                surface="funding",
                description="bench funding",
                debit_account_id=funding_id,
                credit_account_id=account_id,
                amount_minor=amount_minor,
            )
            for account_id, amount_minor in fundings[start : start + batching.MAX_BATCH]
        ]
        for result in await batching.post(database, batch):
            if result.error is not None:
                raise RuntimeError(f"funding failed: {result.error.message}")


def _sandbox_holder(number: int) -> Holder:
    """The ``number``-th holder the sandbox bank accepts, with its own id, phone and email."""
    return Holder(
        identification_type="CC",
        identification_number=f"{1000 + number}{_SANDBOX_ID_SUFFIX}",
        identification_issued_at=_ISSUED,
        mobile_phone_number=f"352{number:07d}",
        email=f"holder{number}@bench.example",
        names="Nigerio",
        first_last_name="Numa",
        second_last_names=None,
        sex="M",
        date_of_birth=_BORN,
    )


async def _open_deposit_accounts(
    database: Database, bank: SandboxBank, client_id: int, count: int
) -> list[deposits.DepositAccount]:
    """Open ``count`` deposit accounts at the sandbox bank, one holder each, in order."""
    gate = asyncio.Semaphore(OPEN_CONCURRENCY)

    async def open_one(number: int) -> deposits.DepositAccount:
        async with gate:
            account, created = await deposits.open_deposit_account(
                database, bank, client_id, _sandbox_holder(number)
            )
        if not created:
            raise RuntimeError(f"deposit account {number} existed already")
        return account

    return list(await asyncio.gather(*(open_one(number) for number in range(count))))


async def _prepare_deposits(database: Database, count: int) -> DepositAccounts:
    created = await create_client(database, "bench deposit", ["deposit"], numbered=True)
    client_id = await _client_id(database, created.client_id)
    bank = SandboxBank()
    started = time.perf_counter()
    opened = await _open_deposit_accounts(database, bank, client_id, count)
    opened_at = time.perf_counter()
    await _fund(database, [(account.id, DEPOSIT_BALANCE_MINOR) for account in opened])
    return DepositAccounts(
        api_key=created.api_key,
        account_tokens=[account.token for account in opened],
        open_seconds=opened_at - started,
        fund_seconds=time.perf_counter() - opened_at,
    )


async def _prepare(url: str, accounts: int, deposit_accounts: int) -> Prepared:
    database = Database(url, pool_size=OPEN_CONCURRENCY)
    try:
        created = await create_client(database, "bench", ["ledger"], numbered=True)
        client_id = await _client_id(database, created.client_id)
        started = time.perf_counter()
        opened = await _open_accounts(database, client_id, accounts)
        opened_at = time.perf_counter()
        await _fund(
            database,
            [
                (account_id, HOT_BALANCE_MINOR if number == 0 else OTHER_BALANCE_MINOR)
                for number, (account_id, _) in enumerate(opened)
            ],
        )
        funded_at = time.perf_counter()
        deposit = await _prepare_deposits(database, deposit_accounts) if deposit_accounts else None
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
        deposit=deposit,
    )


def prepare(url: str, accounts: int, deposit_accounts: int = 0) -> Prepared:
    """Make one ``ledger`` client and ``accounts`` funded accounts in the database at ``url``;
    with ``deposit_accounts``, also a ``deposit`` client and that many funded deposit
    accounts."""
    if accounts < 2 or deposit_accounts == 1:
        raise ValueError("a transfer needs at least two accounts")
    return asyncio.run(_prepare(url, accounts, deposit_accounts))
