"""Concurrent transfers share transactions, and each keeps its own outcome."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from caja.clients.service import (
    authorize,
    create_client,
    key_digest,
    principals,
    revoke_client,
)
from caja.core.errors import Unavailable
from caja.customers import service as ledger_accounts
from caja.customers.service import AccountRef
from caja.db.engine import Database
from caja.ledger import batching, store
from caja.ledger.batching import Batcher
from tests.helpers import V0, V1, Caja, listening, transfer_body

pytestmark = pytest.mark.anyio


@contextmanager
def counted_commits(database: Database) -> Iterator[list[int]]:
    commits: list[int] = []

    def count(_connection: Any) -> None:
        commits.append(1)

    with listening(database, "commit", count):
        yield commits


async def _accounts(caja: Caja, count: int, funds: str) -> tuple[str, list[str]]:
    key = await caja.client_key("ledger:admin")
    tokens = [(await caja.account(key))["token"] for _ in range(count)]
    for token in tokens:
        await caja.fund(token, funds)
    return key, tokens


async def test_concurrent_transfers_share_commits_and_each_gets_its_own_answer(
    caja: Caja,
) -> None:
    key, tokens = await _accounts(caja, 4, "100.00")
    bodies = [transfer_body(tokens[n % 4], tokens[(n + 1) % 4], f"{n + 1}.00") for n in range(40)]

    with counted_commits(caja.database) as commits:
        responses = await asyncio.gather(*(caja.transfer(key, body) for body in bodies))

    assert [r.status_code for r in responses] == [201] * 40
    assert [r.json()["unique_transfer_token"] for r in responses] == [
        body["unique_transfer_token"] for body in bodies
    ]
    assert [r.json()["amount"] for r in responses] == [f"{n + 1}.00" for n in range(40)]
    assert len({r.json()["token"] for r in responses}) == 40
    assert 1 <= len(commits) < 40
    assert (await caja.verify()).ok


async def test_one_underfunded_transfer_fails_alone_in_its_batch(caja: Caja) -> None:
    key, (rich, poor, other) = await _accounts(caja, 3, "10.00")
    bodies = [transfer_body(rich, other, "1.00") for _ in range(5)]
    bodies.insert(2, transfer_body(poor, other, "50.00"))

    responses = await asyncio.gather(*(caja.transfer(key, body) for body in bodies))

    assert [r.status_code for r in responses] == [201, 201, 402, 201, 201, 201]
    assert await caja.balance(key, rich) == "5.00"
    assert await caja.balance(key, poor) == "10.00"
    assert await caja.balance(key, other) == "15.00"


async def test_the_same_token_twice_in_one_batch_moves_money_once(caja: Caja) -> None:
    key, (origin, destination) = await _accounts(caja, 2, "100.00")
    body = transfer_body(origin, destination, "7.00")
    other_body = {**body, "amount": "8.00"}

    first, again, different = await asyncio.gather(
        caja.transfer(key, body), caja.transfer(key, body), caja.transfer(key, other_body)
    )

    assert sorted([first.status_code, again.status_code]) == [201, 208]
    assert first.json() == again.json()
    assert different.status_code == 422
    assert different.json()["code"] == "UniqueTransferTokenReused"
    assert await caja.balance(key, origin) == "93.00"


async def test_a_hot_account_is_never_overdrawn_by_one_batch(caja: Caja) -> None:
    key, (hot, *others) = await _accounts(caja, 4, "10.00")
    bodies = [transfer_body(hot, others[n % 3], "1.00") for n in range(30)]

    responses = await asyncio.gather(*(caja.transfer(key, body) for body in bodies))

    assert Counter(r.status_code for r in responses) == {201: 10, 402: 20}
    assert await caja.balance(key, hot) == "0.00"
    assert (await caja.verify()).ok


async def test_keys_are_checked_per_request_inside_a_batch(caja: Caja) -> None:
    key, (origin, destination) = await _accounts(caja, 2, "100.00")
    other_key = await caja.client_key("ledger", name="other")
    gone = await create_client(caja.database, "gone", ["ledger"])
    await revoke_client(caja.database, gone.client_id)

    good, foreign, revoked, unknown = await asyncio.gather(
        caja.transfer(key, transfer_body(origin, destination, "1.00")),
        caja.transfer(other_key, transfer_body(origin, destination, "1.00")),
        caja.transfer(gone.api_key, transfer_body(origin, destination, "1.00")),
        caja.transfer("ck-nope", transfer_body(origin, destination, "1.00")),
    )

    assert good.status_code == 201
    # Another client's accounts answer as if they did not exist.
    assert foreign.status_code == 422
    assert foreign.json()["code"] == "AccountNotFound"
    assert revoked.status_code == 401
    assert unknown.status_code == 401
    assert await caja.balance(key, origin) == "99.00"


async def test_a_failed_commit_fails_the_whole_batch_and_writes_nothing(caja: Caja) -> None:
    key, (origin, destination) = await _accounts(caja, 2, "100.00")
    bodies = [transfer_body(origin, destination, "1.00") for _ in range(10)]
    before = await caja.counts()

    def fail(_connection: Any) -> None:
        raise RuntimeError("injected commit failure")

    with listening(caja.database, "commit", fail):
        failed = await asyncio.gather(*(caja.transfer(key, body) for body in bodies))

    assert {r.status_code for r in failed} == {503}
    assert await caja.counts() == before
    retried = await asyncio.gather(*(caja.transfer(key, body) for body in bodies))
    assert [r.status_code for r in retried] == [201] * 10
    assert await caja.balance(key, origin) == "90.00"


async def test_legacy_transfers_by_phone_share_the_batch_with_v1_transfers(caja: Caja) -> None:
    admin = await caja.client_key("ledger:admin")
    created = await caja.http.post(
        f"{V0}/account",
        json={
            "phone_number": "+573001234567",
            "owner_legal_id_type": "CC",
            "owner_legal_id_number": "99887766",
            "owner_full_name": "Legacy Holder",
            "owner_email": "legacy@example.com",
        },
        headers={"Authorization": admin},
    )
    assert created.status_code == 201, created.text
    holder_key = created.json()["api_key"]
    holder = created.json()["token"]
    receiver = await caja.account(admin)
    await caja.fund(holder, "50.00")
    await caja.fund(receiver["token"], "50.00")

    legacy, modern = await asyncio.gather(
        caja.http.post(
            f"{V0}/my/transfer",
            json={
                "destination_phone_number": receiver["phone_number"],
                "amount": "5.00",
                "description": "lunch",
                "unique_transfer_token": "legacy-1",
            },
            headers={"Authorization": holder_key},
        ),
        caja.http.post(
            f"{V1}/transaction",
            json=transfer_body(receiver["token"], holder, "2.00"),
            headers={"X-Account-api-key": admin},
        ),
    )

    assert legacy.status_code == 201, legacy.text
    assert modern.status_code == 201, modern.text
    assert await caja.balance(admin, holder) == "47.00"
    assert await caja.balance(admin, receiver["token"]) == "53.00"


async def test_a_batch_looks_up_only_accounts_of_clients_whose_keys_are_valid(
    caja: Caja,
) -> None:
    key, (token,) = await _accounts(caja, 1, "1.00")
    digest = key_digest(key)
    assert digest is not None

    def lookups(connection: Any) -> list[list[Any]]:
        [principal] = principals(connection, [digest]).values()
        return [
            store.account_rows(connection, tokens=[token], of_clients=clients)
            for clients in ([principal.client_id], [principal.client_id + 1000], [])
        ]

    async with caja.database.read() as connection:
        own, foreign, nobody = await connection.run_sync(lookups)

    assert [row[1] for row in own] == [token]
    assert foreign == []
    assert nobody == []


class _GatedDatabase:
    """The test's database, whose writes wait for ``gate`` and may fail or conflict."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.is_sqlite = database.is_sqlite
        self.gate = asyncio.Event()
        self.fail_before_work = False
        self.runs_of_work = 1

    async def write(self, work: Any, committed: Any = None) -> Any:
        await self.gate.wait()
        if self.fail_before_work:
            raise ConnectionError("injected: the database went away")

        def run(connection: Any) -> Any:
            # As after a conflict: the work runs again in a new transaction.
            for _ in range(self.runs_of_work - 1):
                work(connection)
            return work(connection)

        return await self.database.write(run)


async def _transfer(batcher: Batcher, key: str, tokens: list[str], number: int) -> Any:
    """1.00 from the first of ``tokens`` to the second, through ``batcher``."""
    digest = key_digest(key)
    assert digest is not None
    return await ledger_accounts.transfer(
        batcher,
        key_digest=digest,
        authorize=lambda principal: authorize(principal, "ledger"),
        surface="ledger_v1",
        origin=AccountRef("origin_account", token=tokens[0]),
        destination=AccountRef("destination_account", token=tokens[1]),
        amount_minor=100,
        description="gated",
        idempotency_key=f"gated-{number}",
    )


async def _gated_transfers(
    gated: _GatedDatabase, monkeypatch: pytest.MonkeyPatch, key: str, tokens: list[str], count: int
) -> tuple[list[asyncio.Task[Any]], list[int]]:
    """``count`` transfers through a batcher on ``gated``: the first starts a batch that
    waits at the gate, the others are queued before the gate opens."""
    batcher = Batcher(gated, principals=principals)  # type: ignore[arg-type]
    sizes: list[int] = []
    real_apply = batching._apply

    def apply(connection: Any, batch: list[Any], *rest: Any) -> Any:
        sizes.append(len(batch))
        return real_apply(connection, batch, *rest)

    monkeypatch.setattr(batching, "_apply", apply)
    tasks = [asyncio.create_task(_transfer(batcher, key, tokens, 0))]
    await asyncio.sleep(0.01)  # the first batch has started and waits at the gate
    tasks += [
        asyncio.create_task(_transfer(batcher, key, tokens, number)) for number in range(1, count)
    ]
    await asyncio.sleep(0.01)
    gated.gate.set()
    await asyncio.wait(tasks)
    return tasks, sizes


async def test_orders_queued_while_a_batch_waits_for_its_transaction_join_it(
    caja: Caja, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, tokens = await _accounts(caja, 2, "100.00")
    gated = _GatedDatabase(caja.database)
    gated.runs_of_work = 2  # and a conflict's second run posts the same orders

    tasks, sizes = await _gated_transfers(gated, monkeypatch, key, tokens, 10)

    assert [task.result().transfer is not None for task in tasks] == [True] * 10
    assert sizes == [10, 10]
    assert await caja.balance(key, tokens[0]) == "90.00"
    assert (await caja.verify()).ok


async def test_a_batch_that_fails_before_its_transaction_fails_every_order_waiting(
    caja: Caja, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, tokens = await _accounts(caja, 2, "100.00")
    gated = _GatedDatabase(caja.database)
    gated.fail_before_work = True
    before = await caja.counts()

    tasks, sizes = await _gated_transfers(gated, monkeypatch, key, tokens, 5)

    assert [type(task.exception()) for task in tasks] == [Unavailable] * 5
    assert sizes == []
    assert await caja.counts() == before


async def test_a_batch_cancelled_before_it_took_its_orders_leaves_them_to_the_next(
    caja: Caja,
) -> None:
    key, tokens = await _accounts(caja, 2, "100.00")
    gated = _GatedDatabase(caja.database)
    batcher = Batcher(gated, principals=principals)  # type: ignore[arg-type]
    order = asyncio.create_task(_transfer(batcher, key, tokens, 0))
    await asyncio.sleep(0.01)  # its batch has started and waits at the gate
    [starting] = batcher._in_flight
    starting.cancel()
    await asyncio.sleep(0.01)

    gated.gate.set()
    result = await asyncio.wait_for(order, timeout=10)

    assert result.transfer is not None
    assert await caja.balance(key, tokens[0]) == "99.00"
