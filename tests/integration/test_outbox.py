"""Events are written with the money, and balance monitors fire once per crossing."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select

from caja.clients.service import authenticate
from caja.ledger import batching, events, monitors
from caja.ledger.batching import Order
from caja.ledger.model import NewTransfer, Result
from caja.ledger.queries import account_by
from caja.ledger.tables import transfers
from tests.helpers import Caja, transfer_body

pytestmark = pytest.mark.anyio


async def _client_and_accounts(caja: Caja, count: int) -> tuple[str, int, list[dict[str, Any]]]:
    key = await caja.client_key("ledger:admin")
    principal = await authenticate(caja.database, key)
    assert principal is not None
    return key, principal.client_id, [await caja.account(key) for _ in range(count)]


async def _monitor(caja: Caja, client_id: int, token: str, direction: str, threshold: int) -> str:
    def add(connection: Any) -> str:
        return monitors.add_monitor(
            connection, client_id, token, monitors.Direction(direction), threshold
        ).token

    return await caja.database.write(add)


async def _crossings(caja: Caja, client_id: int) -> list[dict[str, Any]]:
    async with caja.database.read() as connection:
        rows = await connection.run_sync(events.events_of_client, client_id, limit=500)
    return [orjson.loads(row.data) for row in rows if row.type == "balance.crossed"]


async def test_a_monitor_fires_on_each_crossing_down_and_not_while_below(caja: Caja) -> None:
    key, client_id, (watched, other) = await _client_and_accounts(caja, 2)
    await caja.fund(other["token"], "100000.00")
    await caja.fund(watched["token"], "1500.00")
    monitor = await _monitor(caja, client_id, watched["token"], "below", 100_000)

    # 1,500 → 900 → 800 → 1,100 → 950
    for source, target, amount in (
        (watched, other, "600.00"),
        (watched, other, "100.00"),
        (other, watched, "300.00"),
        (watched, other, "150.00"),
    ):
        response = await caja.transfer(key, transfer_body(source["token"], target["token"], amount))
        assert response.status_code == 201, response.text

    fired = await _crossings(caja, client_id)
    assert [(f["balance_before"], f["balance_after"]) for f in fired] == [
        (1500.0, 900.0),
        (1100.0, 950.0),
    ]
    assert {f["monitor_id"] for f in fired} == {monitor}
    assert {f["account"] for f in fired} == {watched["token"]}
    assert {f["direction"] for f in fired} == {"below"}


async def test_a_monitor_fires_once_per_crossing_under_concurrent_transfers(caja: Caja) -> None:
    key, client_id, (watched, other) = await _client_and_accounts(caja, 2)
    await caja.fund(watched["token"], "1000.00")
    await caja.fund(other["token"], "1.00")
    await _monitor(caja, client_id, watched["token"], "below", 100_000)
    await _monitor(caja, client_id, watched["token"], "above", 100_000)

    # 20 concurrent transfers of 10.00 out, then 20 in: the balance crosses 1,000 down
    # once, at the first one out, and up once, past the last one in.
    out = [transfer_body(watched["token"], other["token"], "10.00") for _ in range(20)]
    back = [transfer_body(other["token"], watched["token"], "10.00") for _ in range(20)]
    for bodies in (out, back):
        answers = await asyncio.gather(*(caja.transfer(key, body) for body in bodies))
        assert [a.status_code for a in answers] == [201] * 20
    await caja.transfer(key, transfer_body(other["token"], watched["token"], "0.01"))

    fired = await _crossings(caja, client_id)
    assert [f["direction"] for f in fired] == ["below", "above"]
    assert fired[0]["balance_before"] == 1000.0
    assert fired[1]["balance_after"] == 1000.01
    assert (await caja.verify()).ok


async def test_order_events_commit_with_their_transfer_or_not_at_all(caja: Caja) -> None:
    _key, client_id, (first, second) = await _client_and_accounts(caja, 2)
    await caja.fund(first["token"], "10.00")
    async with caja.database.read() as connection:
        debit = await connection.run_sync(account_by, token=first["token"])
        credit = await connection.run_sync(account_by, token=second["token"])
    assert debit is not None
    assert credit is not None

    def order(amount: int) -> Order:
        def build(_lookups: batching.Lookups) -> NewTransfer:
            return NewTransfer(
                client_id=client_id,
                debit_account_id=debit.id,
                credit_account_id=credit.id,
                amount_minor=amount,
            )

        def made(result: Result) -> list[events.NewEvent]:
            assert result.transfer is not None
            return [
                events.NewEvent(
                    "ledger.transfer.created",
                    client_id,
                    {"token": result.transfer.token},
                    result.transfer.id,
                )
            ]

        return Order(build, events=made)

    posted, refused = await batching.run(caja.database, [order(500), order(5_000)])
    assert posted.transfer is not None
    assert refused.error is not None

    async with caja.database.read() as connection:
        rows = await connection.run_sync(events.events_of_client, client_id)
        transfer_count = (
            await connection.execute(select(func.count()).select_from(transfers))
        ).scalar_one()
    assert len(rows) == 1
    [row] = rows
    assert row.token.startswith("evt_")
    assert row.transfer_id == posted.transfer.id
    assert row.created_at == posted.transfer.created_at
    body = orjson.loads(row.body())
    assert body == {
        "id": row.token,
        "type": "ledger.transfer.created",
        "created_at": body["created_at"],
        "data": {"token": posted.transfer.token},
    }
    assert transfer_count >= 2
