"""The engine through its public API: batches, holds, reversals, limits, idempotency."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Connection

from caja.clients.service import create_client
from caja.core.errors import AlreadyResolved, IdempotencyConflict, NoFunds, NotFound
from caja.db.engine import Database
from caja.ledger import batching as engine
from caja.ledger.accounts import AccountKind, open_account, system_account_id
from caja.ledger.model import (
    NewTransfer,
    ResolvePending,
    Result,
    Reverse,
    TransferKind,
    TransferStatus,
    TransferView,
)
from caja.ledger.tables import accounts
from caja.ops.checks import verify

pytestmark = pytest.mark.anyio


async def _open(database: Database, overdraft_minor: int | None = 0) -> int:
    def work(connection: Connection) -> int:
        account_id, _ = open_account(
            connection,
            kind=AccountKind.CUSTOMER,
            asset="COP",
            client_id=None,
            overdraft_minor=overdraft_minor,
        )
        return account_id

    return await database.write(work)


async def _funding(database: Database) -> int:
    async with database.read() as connection:
        return await connection.run_sync(system_account_id, "COP", "funding")


async def _balances(database: Database, *ids: int) -> list[tuple[int, int]]:
    """(balance, held) of each account, in the order given."""
    async with database.read() as connection:
        rows = {
            row.id: (row.balance_minor, row.pending_out_minor)
            for row in await connection.execute(
                select(accounts.c.id, accounts.c.balance_minor, accounts.c.pending_out_minor).where(
                    accounts.c.id.in_(ids)
                )
            )
        }
    return [rows[account_id] for account_id in ids]


async def _post_one(database: Database, operation: object) -> Result:
    [result] = await engine.post(database, [operation])  # type: ignore[list-item]
    return result


def _move(debit: int, credit: int, amount: int, **options: object) -> NewTransfer:
    return NewTransfer(
        debit_account_id=debit,
        credit_account_id=credit,
        amount_minor=amount,
        **options,  # type: ignore[arg-type]
    )


def _transfer(result: Result) -> TransferView:
    assert result.error is None, result.error
    assert result.transfer is not None
    return result.transfer


async def _ledger_ok(database: Database) -> None:
    async with database.read() as connection:
        report = await verify(connection)
    assert report.ok, [(c.name, c.examples) for c in report.checks if c.violations]


@pytest.fixture
async def funded(database: Database) -> tuple[int, int, int]:
    """Funding account, a customer account holding 100.00, and an empty one."""
    funding, rich, poor = await _funding(database), await _open(database), await _open(database)
    _transfer(await _post_one(database, _move(funding, rich, 10_000)))
    return funding, rich, poor


async def test_one_underfunded_transfer_does_not_fail_the_rest_of_its_batch(
    database: Database, funded: tuple[int, int, int]
) -> None:
    _, rich, poor = funded
    results = await engine.post(
        database,
        [_move(rich, poor, 6_000), _move(rich, poor, 6_000), _move(rich, poor, 4_000)],
    )

    assert [type(result.error) for result in results] == [type(None), NoFunds, type(None)]
    assert _transfer(results[0]).debit_balance_after_minor == 4_000
    assert _transfer(results[2]).debit_balance_after_minor == 0
    assert await _balances(database, rich, poor) == [(0, 0), (10_000, 0)]
    await _ledger_ok(database)


async def test_running_balances_follow_each_entry_in_a_batch(
    database: Database, funded: tuple[int, int, int]
) -> None:
    _, rich, poor = funded
    results = await engine.post(
        database, [_move(rich, poor, 1_000), _move(poor, rich, 300), _move(rich, poor, 50)]
    )

    views = [_transfer(result) for result in results]
    assert [(v.debit_balance_after_minor, v.credit_balance_after_minor) for v in views] == [
        (9_000, 1_000),
        (700, 9_300),
        (9_250, 750),
    ]
    await _ledger_ok(database)


async def test_a_merchant_account_may_go_down_to_its_overdraft_and_no_further(
    database: Database,
) -> None:
    funding, merchant, other = (
        await _funding(database),
        await _open(database, 5_000),
        await _open(database),
    )
    _transfer(await _post_one(database, _move(funding, merchant, 1_000)))

    allowed = await _post_one(database, _move(merchant, other, 6_000))
    refused = await _post_one(database, _move(merchant, other, 1))

    assert _transfer(allowed).debit_balance_after_minor == -5_000
    assert isinstance(refused.error, NoFunds)
    await _ledger_ok(database)


async def test_a_hold_reserves_money_until_it_is_posted(
    database: Database, funded: tuple[int, int, int]
) -> None:
    _, rich, poor = funded
    hold = _transfer(await _post_one(database, _move(rich, poor, 7_000, pending=True)))
    assert hold.status is TransferStatus.PENDING
    assert await _balances(database, rich, poor) == [(10_000, 7_000), (0, 0)]

    over_available = await _post_one(database, _move(rich, poor, 3_001))
    assert isinstance(over_available.error, NoFunds)

    posted = _transfer(
        await _post_one(database, ResolvePending(pending_transfer_id=hold.id, post=True))
    )
    assert posted.kind is TransferKind.POST_PENDING
    assert await _balances(database, rich, poor) == [(3_000, 0), (7_000, 0)]
    await _ledger_ok(database)


async def test_a_voided_hold_gives_the_money_back_and_moves_nothing(
    database: Database, funded: tuple[int, int, int]
) -> None:
    _, rich, poor = funded
    hold = _transfer(await _post_one(database, _move(rich, poor, 7_000, pending=True)))

    voided = _transfer(
        await _post_one(database, ResolvePending(pending_transfer_id=hold.id, post=False))
    )

    assert voided.kind is TransferKind.VOID_PENDING
    assert await _balances(database, rich, poor) == [(10_000, 0), (0, 0)]
    await _ledger_ok(database)


@pytest.mark.parametrize("first_post", [True, False])
@pytest.mark.parametrize("second_post", [True, False])
async def test_a_hold_is_resolved_at_most_once(
    database: Database, funded: tuple[int, int, int], first_post: bool, second_post: bool
) -> None:
    _, rich, poor = funded
    hold = _transfer(await _post_one(database, _move(rich, poor, 2_000, pending=True)))
    _transfer(
        await _post_one(database, ResolvePending(pending_transfer_id=hold.id, post=first_post))
    )
    before = await _balances(database, rich, poor)

    again = await _post_one(database, ResolvePending(pending_transfer_id=hold.id, post=second_post))

    assert isinstance(again.error, AlreadyResolved)
    assert await _balances(database, rich, poor) == before
    await _ledger_ok(database)


async def test_resolving_the_same_hold_twice_in_one_batch_applies_only_the_first(
    database: Database, funded: tuple[int, int, int]
) -> None:
    _, rich, poor = funded
    hold = _transfer(await _post_one(database, _move(rich, poor, 2_000, pending=True)))

    results = await engine.post(
        database,
        [
            ResolvePending(pending_transfer_id=hold.id, post=True),
            ResolvePending(pending_transfer_id=hold.id, post=False),
        ],
    )

    assert results[0].error is None
    assert isinstance(results[1].error, AlreadyResolved)
    assert await _balances(database, rich, poor) == [(8_000, 0), (2_000, 0)]
    await _ledger_ok(database)


async def test_resolving_something_that_is_not_a_hold_is_refused(
    database: Database, funded: tuple[int, int, int]
) -> None:
    _, rich, poor = funded
    plain = _transfer(await _post_one(database, _move(rich, poor, 100)))

    result = await _post_one(database, ResolvePending(pending_transfer_id=plain.id, post=True))

    assert isinstance(result.error, NotFound)


async def test_a_reversal_moves_the_amount_back_once(
    database: Database, funded: tuple[int, int, int]
) -> None:
    _, rich, poor = funded
    original = _transfer(await _post_one(database, _move(rich, poor, 2_500)))

    reversal = _transfer(await _post_one(database, Reverse(transfer_id=original.id)))
    again = await _post_one(database, Reverse(transfer_id=original.id))

    assert reversal.kind is TransferKind.REVERSAL
    assert (reversal.debit_account_id, reversal.credit_account_id) == (poor, rich)
    assert isinstance(again.error, AlreadyResolved)
    assert await _balances(database, rich, poor) == [(10_000, 0), (0, 0)]
    await _ledger_ok(database)


async def test_a_reversal_needs_the_money_still_to_be_there(
    database: Database, funded: tuple[int, int, int]
) -> None:
    funding, rich, poor = funded
    original = _transfer(await _post_one(database, _move(rich, poor, 2_500)))
    _transfer(await _post_one(database, _move(poor, rich, 1_000)))

    result = await _post_one(database, Reverse(transfer_id=original.id))

    assert isinstance(result.error, NoFunds)
    assert await _balances(database, rich, poor) == [(8_500, 0), (1_500, 0)]
    # Once the money is back, the same reversal goes through.
    _transfer(await _post_one(database, _move(funding, poor, 1_000)))
    _transfer(await _post_one(database, Reverse(transfer_id=original.id)))
    await _ledger_ok(database)


async def test_keys_replay_within_and_across_batches_and_refuse_other_bodies(
    database: Database, funded: tuple[int, int, int]
) -> None:
    _, rich, poor = funded
    client = await create_client(database, "engine", ["ledger"])
    async with database.read() as connection:
        from caja.clients.tables import clients

        client_id = (
            await connection.execute(
                select(clients.c.id).where(clients.c.token == client.client_id)
            )
        ).scalar_one()

    def keyed(amount: int, digest: str) -> NewTransfer:
        return _move(
            rich, poor, amount, client_id=client_id, idempotency_key="k-1", request=(digest,)
        )

    first, replay, conflict = await engine.post(
        database, [keyed(1_000, "a"), keyed(1_000, "a"), keyed(2_000, "b")]
    )
    later_replay, later_conflict = await engine.post(database, [keyed(1_000, "a"), keyed(5, "c")])

    token = _transfer(first).token
    assert not first.replayed
    assert replay.replayed
    assert _transfer(replay).token == token
    assert isinstance(conflict.error, IdempotencyConflict)
    assert later_replay.replayed
    assert _transfer(later_replay).token == token
    assert _transfer(later_replay).debit_balance_after_minor == 9_000
    assert isinstance(later_conflict.error, IdempotencyConflict)
    assert await _balances(database, rich, poor) == [(9_000, 0), (1_000, 0)]
    await _ledger_ok(database)


async def test_transfers_to_a_missing_or_the_same_account_are_refused(
    database: Database, funded: tuple[int, int, int]
) -> None:
    _, rich, _ = funded
    missing = await _post_one(database, _move(rich, 999_999, 100))
    same = await _post_one(database, _move(rich, rich, 100))

    assert isinstance(missing.error, NotFound)
    assert same.error is not None
    assert same.error.code == "InvalidData"
    assert await _balances(database, rich) == [(10_000, 0)]


async def test_an_empty_batch_writes_nothing(database: Database) -> None:
    assert await engine.post(database, []) == []
