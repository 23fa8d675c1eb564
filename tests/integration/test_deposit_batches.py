"""Deposit transfers are orders of the ledger's batches: they share a batch's transaction
with other orders, see the batch's earlier orders for their limits, and post a transfer
and its fee all or none."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from caja.clients.service import authorize, client_id_of, key_digest, principals
from caja.core.errors import NoFunds
from caja.customers import service as ledger_accounts
from caja.customers.service import AccountRef
from caja.db.engine import Database
from caja.deposits import service as deposits
from caja.deposits.service import LimitExceeded, TransferData
from caja.ledger import batching
from caja.ledger.batching import Batcher, Order
from caja.ledger.model import NewTransfer
from caja.ledger.queries import account_by
from tests.helpers import Caja
from tests.integration.test_deposits import (
    FEES,
    Coop,
    balances,
    coop_client,
    funded_account,
    open_account,
)

pytestmark = pytest.mark.anyio


async def _client_id(database: Database, coop: Coop) -> int:
    async with database.read() as connection:
        found = await connection.run_sync(client_id_of, coop.client_id)
    assert found is not None
    return found


def _data(origin: str, destination: str, amount_minor: int, **fields: Any) -> TransferData:
    values: dict[str, Any] = {
        "unique_transfer_token": f"batch-{origin[-6:]}-{amount_minor}",
        "origin_account": origin,
        "destination_account": destination,
        "channel": "wallet",
        "amount_minor": amount_minor,
        "description": "batched",
        **fields,
    }
    return TransferData(**values)


def _batch_sizes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of orders of each batch posted from now on."""
    sizes: list[int] = []
    real_apply = batching._apply

    def apply(connection: Any, batch: list[Any], *rest: Any) -> Any:
        sizes.append(len(batch))
        return real_apply(connection, batch, *rest)

    monkeypatch.setattr(batching, "_apply", apply)
    return sizes


@pytest.fixture
async def coop(database: Database) -> Coop:
    return await coop_client(database)


async def test_two_transfers_of_one_batch_share_the_monthly_withdrawal_limit(
    http: httpx.AsyncClient, caja: Caja, coop: Coop, monkeypatch: pytest.MonkeyPatch
) -> None:
    origin = await funded_account(http, caja.database, coop, "1500.00")
    destination = await open_account(http, coop)
    client_id = await _client_id(caja.database, coop)
    monkeypatch.setenv("CAJA_DEPOSIT_MONTHLY_OUT", "1000")
    sizes = _batch_sizes(monkeypatch)
    batcher = Batcher(caja.database, max_wait=0.5)

    outcomes = await asyncio.gather(
        deposits.transfer(batcher, client_id, _data(origin, destination, 60_000)),
        deposits.transfer(batcher, client_id, _data(origin, destination, 50_000)),
        return_exceptions=True,
    )

    assert sizes == [2]
    refused = [outcome for outcome in outcomes if isinstance(outcome, LimitExceeded)]
    assert [error.code for error in refused] == ["MonthlyWithdrawalLimitExceeded"]
    assert await balances(caja.database, origin) == [
        "900.00" if outcomes[0] is not refused[0] else "1000.00"
    ]
    assert (await caja.verify()).ok


async def test_two_transfers_of_one_batch_share_the_balance_cap(
    http: httpx.AsyncClient, caja: Caja, coop: Coop, monkeypatch: pytest.MonkeyPatch
) -> None:
    origin = await funded_account(http, caja.database, coop, "1500.00")
    destination = await open_account(http, coop)
    client_id = await _client_id(caja.database, coop)
    monkeypatch.setenv("CAJA_DEPOSIT_MAX_BALANCE", "1000")
    sizes = _batch_sizes(monkeypatch)
    batcher = Batcher(caja.database, max_wait=0.5)

    outcomes = await asyncio.gather(
        deposits.transfer(batcher, client_id, _data(origin, destination, 60_000)),
        deposits.transfer(batcher, client_id, _data(origin, destination, 50_000)),
        return_exceptions=True,
    )

    assert sizes == [2]
    refused = [outcome for outcome in outcomes if isinstance(outcome, LimitExceeded)]
    assert [error.code for error in refused] == ["BalanceLimitExceeded"]
    assert (await balances(caja.database, destination))[0] in ("600.00", "500.00")
    assert (await caja.verify()).ok


async def test_a_fee_the_batch_cannot_cover_refuses_its_transfer_too(
    http: httpx.AsyncClient, caja: Caja, coop: Coop, monkeypatch: pytest.MonkeyPatch
) -> None:
    origin = await funded_account(http, caja.database, coop, "1000.00")
    destination = await open_account(http, coop)
    client_id = await _client_id(caja.database, coop)
    sizes = _batch_sizes(monkeypatch)
    batcher = Batcher(caja.database, max_wait=0.5)
    first = _data(origin, destination, 50_000, fee_minor=1_000)
    second = _data(origin, destination, 48_000, fee_minor=2_000)  # 500.00 of the 490.00 left

    outcomes = await asyncio.gather(
        deposits.transfer(batcher, client_id, first),
        deposits.transfer(batcher, client_id, second),
        return_exceptions=True,
    )

    assert sizes == [2]
    assert isinstance(outcomes[1], LimitExceeded)
    assert outcomes[1].code == "InsufficientFunds"
    assert await balances(caja.database, origin, destination, FEES) == [
        "490.00",
        "500.00",
        "10.00",
    ]
    assert (await caja.verify()).ok


async def test_an_order_of_a_transfer_and_its_fee_is_posted_all_or_none(
    http: httpx.AsyncClient, caja: Caja, coop: Coop
) -> None:
    origin = await funded_account(http, caja.database, coop, "1000.00")
    destination = await open_account(http, coop)
    async with caja.database.read() as connection:
        debit = await connection.run_sync(lambda sync: account_by(sync, token=origin))
        credit = await connection.run_sync(lambda sync: account_by(sync, token=destination))
        fees = await connection.run_sync(lambda sync: account_by(sync, token=FEES))
    assert debit is not None
    assert credit is not None
    assert fees is not None
    before = await caja.counts()

    def both(amount: int, fee: int) -> Order:
        return Order(
            lambda _lookups: (
                NewTransfer(debit_account_id=debit.id, credit_account_id=credit.id,
                            amount_minor=amount),
                NewTransfer(debit_account_id=debit.id, credit_account_id=fees.id,
                            amount_minor=fee),
            )
        )  # fmt: skip

    # The transfer fits, its fee does not: neither is written; the next order still is.
    refused, posted = await batching.run(caja.database, [both(60_000, 50_000), both(100, 1)])

    assert isinstance(refused.error, NoFunds)
    assert refused.transfer is None
    assert posted.error is None
    assert posted.transfer is not None
    assert [view.amount_minor for view in posted.more] == [1]
    transfers_, entries_, _ = await caja.counts()
    assert (transfers_, entries_) == (before[0] + 2, before[1] + 4)
    assert await balances(caja.database, origin, destination, FEES) == [
        "998.99",
        "1.00",
        "0.01",
    ]
    assert (await caja.verify()).ok


async def test_duplicate_tokens_in_one_batch_make_one_transfer(
    http: httpx.AsyncClient, caja: Caja, coop: Coop, monkeypatch: pytest.MonkeyPatch
) -> None:
    origin = await funded_account(http, caja.database, coop, "1000.00")
    destination = await open_account(http, coop)
    client_id = await _client_id(caja.database, coop)
    sizes = _batch_sizes(monkeypatch)
    batcher = Batcher(caja.database, max_wait=0.5)
    data = _data(origin, destination, 10_000, fee_minor=100)
    before = await caja.counts()

    outcomes = await asyncio.gather(
        *(deposits.transfer(batcher, client_id, data) for _ in range(3))
    )

    assert sizes == [3]
    assert sorted(replayed for _, replayed in outcomes) == [False, True, True]
    assert len({stored.transfer.token for stored, _ in outcomes}) == 1
    transfers_, entries_, _ = await caja.counts()
    assert (transfers_, entries_) == (before[0] + 2, before[1] + 4)
    assert await balances(caja.database, origin, destination, FEES) == [
        "899.00",
        "100.00",
        "1.00",
    ]
    assert (await caja.verify()).ok


async def test_a_deposit_transfer_shares_a_batch_with_a_ledger_transfer(
    http: httpx.AsyncClient, caja: Caja, coop: Coop, monkeypatch: pytest.MonkeyPatch
) -> None:
    origin = await funded_account(http, caja.database, coop, "1000.00")
    destination = await open_account(http, coop)
    client_id = await _client_id(caja.database, coop)
    key = await caja.client_key("ledger:admin")
    tokens = [(await caja.account(key))["token"] for _ in range(2)]
    await caja.fund(tokens[0], "10.00")
    digest = key_digest(key)
    assert digest is not None
    sizes = _batch_sizes(monkeypatch)
    batcher = Batcher(caja.database, principals=principals, max_wait=0.5)

    deposit, ledger = await asyncio.gather(
        deposits.transfer(batcher, client_id, _data(origin, destination, 25_000)),
        ledger_accounts.transfer(
            batcher,
            key_digest=digest,
            authorize=lambda principal: authorize(principal, "ledger"),
            surface="ledger_v1",
            origin=AccountRef("origin_account", token=tokens[0]),
            destination=AccountRef("destination_account", token=tokens[1]),
            amount_minor=300,
            description="beside a deposit",
            idempotency_key="beside-1",
        ),
    )

    assert sizes == [2]
    assert deposit[1] is False
    assert ledger.transfer is not None
    assert await balances(caja.database, origin, destination, *tokens) == [
        "750.00",
        "250.00",
        "7.00",
        "3.00",
    ]
    assert (await caja.verify()).ok
