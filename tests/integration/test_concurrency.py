"""Races and failures over HTTP: nothing lost, nothing invented, nothing doubled."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import update

from caja.ledger.tables import accounts
from tests.helpers import V1, Caja, listening, transfer_body

pytestmark = pytest.mark.anyio


async def _pair(caja: Caja, funds: str) -> tuple[str, str, str]:
    key = await caja.client_key("ledger:admin")
    origin = (await caja.account(key))["token"]
    destination = (await caja.account(key))["token"]
    await caja.fund(origin, funds)
    return key, origin, destination


async def test_fifty_racing_transfers_from_an_account_funded_for_twenty(caja: Caja) -> None:
    key, origin, destination = await _pair(caja, "20000.00")

    responses = await asyncio.gather(
        *(caja.transfer(key, transfer_body(origin, destination, "1000.00")) for _ in range(50))
    )

    statuses = Counter(response.status_code for response in responses)
    assert statuses == {201: 20, 402: 30}
    assert all(
        r.json() == {"code": "NoFunds", "message": "Not enough funds in the origin_account."}
        for r in responses
        if r.status_code == 402
    )
    assert await caja.balance(key, origin) == "0.00"
    assert await caja.balance(key, destination) == "20000.00"
    # Each success saw its own running balance: 19000.00 down to 0.00, each exactly once.
    seen = sorted(r.json()["origin_account_balance"] for r in responses if r.status_code == 201)
    assert seen == [1000 * n for n in range(20)]
    assert (await caja.verify()).ok


async def test_twenty_identical_racing_requests_make_one_transfer(caja: Caja) -> None:
    key, origin, destination = await _pair(caja, "5000.00")
    body = transfer_body(origin, destination, "1000.00", unique_transfer_token="same-token")
    transfers_before, _, _ = await caja.counts()

    responses = await asyncio.gather(*(caja.transfer(key, body) for _ in range(20)))

    statuses = Counter(response.status_code for response in responses)
    assert statuses == {201: 1, 208: 19}
    assert len({response.json()["token"] for response in responses}) == 1
    assert {response.json()["origin_account_balance"] for response in responses} == {4000}
    transfers_after, _, _ = await caja.counts()
    assert transfers_after == transfers_before + 1
    assert await caja.balance(key, origin) == "4000.00"
    assert (await caja.verify()).ok


async def test_a_failed_commit_answers_503_leaves_nothing_and_the_retry_succeeds_once(
    caja: Caja,
) -> None:
    key, origin, destination = await _pair(caja, "5000.00")
    body = transfer_body(origin, destination, "1000.00")
    before = await caja.counts()

    def fail(_connection: Any) -> None:
        raise RuntimeError("injected commit failure")

    with listening(caja.database, "commit", fail):
        failed = await caja.transfer(key, body)

    assert failed.status_code == 503
    assert failed.json()["code"] == "TemporarilyUnavailable"
    assert await caja.counts() == before
    assert await caja.balance(key, origin) == "5000.00"

    retried = await caja.transfer(key, body)
    replayed = await caja.transfer(key, body)

    assert retried.status_code == 201
    assert replayed.status_code == 208
    assert replayed.json()["token"] == retried.json()["token"]
    assert (await caja.counts())[0] == before[0] + 1
    assert await caja.balance(key, origin) == "4000.00"
    assert (await caja.verify()).ok


async def test_racing_transfers_in_both_directions_do_not_deadlock(caja: Caja) -> None:
    key, first, second = await _pair(caja, "10000.00")
    await caja.fund(second, "10000.00")

    responses = await asyncio.gather(
        *(
            caja.transfer(key, transfer_body(a, b, "100.00"))
            for _ in range(20)
            for a, b in ((first, second), (second, first))
        )
    )

    assert Counter(r.status_code for r in responses) == {201: 40}
    assert await caja.balance(key, first) == "10000.00"
    assert await caja.balance(key, second) == "10000.00"
    assert (await caja.verify()).ok


async def test_a_client_cannot_read_or_move_another_clients_account(caja: Caja) -> None:
    owner_key, origin, _destination = await _pair(caja, "5000.00")
    intruder_key = await caja.client_key("ledger:admin", name="intruder")
    intruder_account = (await caja.account(intruder_key))["token"]
    headers = {"X-Account-api-key": intruder_key}
    missing = "acc-doesnotexist0000000000000000"

    own_read = await caja.http.get(f"{V1}/account/{origin}", headers=headers)
    absent_read = await caja.http.get(f"{V1}/account/{missing}", headers=headers)
    steal = await caja.transfer(intruder_key, transfer_body(origin, intruder_account, "1.00"))
    steal_absent = await caja.transfer(
        intruder_key, transfer_body(missing, intruder_account, "1.00")
    )
    history = await caja.http.get(f"{V1}/account/{origin}/transactions", headers=headers)

    assert own_read.status_code == absent_read.status_code == 422
    assert own_read.json() == absent_read.json()
    assert steal.status_code == steal_absent.status_code == 422
    assert steal.json() == steal_absent.json()
    assert history.status_code == 422
    assert await caja.balance(owner_key, origin) == "5000.00"


async def test_verify_passes_after_the_scenarios_and_fails_on_a_corrupted_balance(
    caja: Caja,
) -> None:
    key, origin, destination = await _pair(caja, "3000.00")
    for amount in ("1000.00", "500.50", "0.01"):
        assert (await caja.transfer(key, transfer_body(origin, destination, amount))).is_success
    assert (await caja.verify()).ok

    def corrupt(connection: Any) -> None:
        connection.execute(
            update(accounts)
            .where(accounts.c.token == destination)
            .values(balance_minor=accounts.c.balance_minor + 1)
        )

    await caja.database.write(corrupt)
    report = await caja.verify()

    assert not report.ok
    failed = {check.name for check in report.checks if check.violations}
    assert "every balance equals the sum of its entries" in failed
    assert "every asset sums to zero" in failed
