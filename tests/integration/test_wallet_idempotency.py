"""Wallet sends with an Idempotency-Key: one payment per key however often and however
concurrently it is sent, the first answer repeated, another body refused."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, insert, select

from caja.core.clock import utcnow
from caja.db.engine import Database
from caja.ledger.tables import transfers
from caja.ops.funding import fund
from caja.wallet import keys
from caja.wallet.tables import wallet_profiles, wallet_send_keys
from tests.helpers import Caja
from tests.integration.test_wallet import (  # noqa: F401
    API,
    Person,
    app,
    balances,
    fast_hashing,
    payments,
    person,
    send_body,
    wallet_env,
)

pytestmark = pytest.mark.anyio


async def keyed_send(
    http: httpx.AsyncClient, sender: Person, body: dict[str, object], key: str
) -> httpx.Response:
    return await http.post(
        f"{API}/profile/send-to-profile",
        json=body,
        headers={**sender.headers, "Idempotency-Key": key},
    )


async def wallet_transfers(database: Database) -> int:
    async with database.read() as connection:
        found = await connection.execute(
            select(func.count()).select_from(transfers).where(transfers.c.surface == "wallet")
        )
        return int(found.scalar_one())


async def test_twenty_concurrent_sends_with_one_key_make_one_payment(
    http: httpx.AsyncClient, caja: Caja
) -> None:
    ana = await person(http)
    beto = await person(http)
    await fund(caja.database, ana.account_id, "100.00")
    body = send_body(ana, beto, "30.00")

    answers = await asyncio.wait_for(
        asyncio.gather(*(keyed_send(http, ana, body, "retry-1") for _ in range(20))), 60
    )

    assert {(a.status_code, a.content) for a in answers} == {(200, b'{"code":200,"msg":[]}')}
    assert await wallet_transfers(caja.database) == 1
    assert await balances(http, ana) == {"COP": "70.00", "USD": "0.00"}
    assert await balances(http, beto) == {"COP": "30.00", "USD": "0.00"}
    again = await keyed_send(http, ana, body, "retry-1")
    assert (again.status_code, again.json()) == (200, {"code": 200, "msg": []})
    assert len(await payments(http, ana)) == 1
    report = await caja.verify()
    assert report.ok, [check for check in report.checks if check.violations]


async def test_concurrent_keys_each_pay_once_and_underfunded_ones_all_answer_601(
    http: httpx.AsyncClient, caja: Caja
) -> None:
    ana = await person(http)
    beto = await person(http)
    await fund(caja.database, ana.account_id, "50.00")
    body = send_body(ana, beto, "20.00")

    answers = await asyncio.wait_for(
        asyncio.gather(*(keyed_send(http, ana, body, f"k{n % 4}") for n in range(20))), 60
    )

    by_key: dict[str, set[bytes]] = {}
    for n, answer in enumerate(answers):
        assert answer.status_code == 200
        by_key.setdefault(f"k{n % 4}", set()).add(answer.content)
    assert all(len(bodies) == 1 for bodies in by_key.values()), by_key
    codes = sorted(bodies.pop().decode() for bodies in by_key.values())
    assert codes.count('{"code":200,"msg":[]}') == 2
    assert codes.count('{"code":601,"msg":["op_underfunded"]}') == 2
    assert await wallet_transfers(caja.database) == 2


async def test_an_underfunded_answer_is_replayed_even_after_funds_arrive(
    http: httpx.AsyncClient, caja: Caja
) -> None:
    ana = await person(http)
    beto = await person(http)
    body = send_body(ana, beto, "10.00")

    first = await keyed_send(http, ana, body, "short-1")
    await fund(caja.database, ana.account_id, "100.00")
    again = await keyed_send(http, ana, body, "short-1")
    fresh = await keyed_send(http, ana, body, "short-2")

    assert first.json() == again.json() == {"code": 601, "msg": ["op_underfunded"]}
    assert fresh.json() == {"code": 200, "msg": []}
    assert await wallet_transfers(caja.database) == 1


async def test_a_key_used_with_another_body_is_400_and_moves_nothing(
    http: httpx.AsyncClient, caja: Caja
) -> None:
    ana = await person(http)
    beto = await person(http)
    await fund(caja.database, ana.account_id, "100.00")
    assert (await keyed_send(http, ana, send_body(ana, beto, "10.00"), "k")).status_code == 200

    other = await keyed_send(http, ana, send_body(ana, beto, "11.00"), "k")

    assert other.status_code == 400
    assert other.json() == {
        "code": 400,
        "msg": ["Idempotency-Key: was already used with another body"],
    }
    assert await balances(http, ana) == {"COP": "90.00", "USD": "0.00"}


async def test_keys_belong_to_one_profile_and_fields_order_does_not_matter(
    http: httpx.AsyncClient, caja: Caja
) -> None:
    ana = await person(http)
    beto = await person(http)
    await fund(caja.database, ana.account_id, "100.00")
    await fund(caja.database, beto.account_id, "100.00")
    body = send_body(ana, beto, "10.00")
    reordered = dict(reversed(list(body.items())))

    assert (await keyed_send(http, ana, body, "same")).json()["code"] == 200
    assert (await keyed_send(http, ana, reordered, "same")).json()["code"] == 200
    assert (await keyed_send(http, beto, send_body(beto, ana, "5.00"), "same")).json()[
        "code"
    ] == 200

    assert await balances(http, ana) == {"COP": "95.00", "USD": "0.00"}
    assert await wallet_transfers(caja.database) == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "with space", "ñ"])
async def test_a_malformed_key_is_400(http: httpx.AsyncClient, caja: Caja, key: str) -> None:
    ana = await person(http)
    beto = await person(http)

    answer = await http.post(
        f"{API}/profile/send-to-profile",
        json=send_body(ana, beto),
        headers={**ana.headers, "Idempotency-Key": key.encode()},
    )

    assert answer.status_code == 400
    assert answer.json()["msg"] == ["Idempotency-Key: must be 1 to 255 visible ASCII characters"]


async def test_a_refused_send_frees_its_key(http: httpx.AsyncClient, caja: Caja) -> None:
    ana = await person(http)
    beto = await person(http)
    await fund(caja.database, ana.account_id, "100.00")
    body = send_body(ana, beto, "10.00", asset="EUR")

    refused = await keyed_send(http, ana, body, "again")
    body["asset_key"] = "COP"
    accepted = await keyed_send(http, ana, body, "again")

    assert refused.status_code == 400
    assert accepted.json() == {"code": 200, "msg": []}


async def _profile_id(database: Database, who: Person) -> int:
    async with database.read() as connection:
        found = await connection.execute(
            select(wallet_profiles.c.id).where(wallet_profiles.c.token == who.profile_id)
        )
        return int(found.scalar_one())


async def test_a_key_claimed_by_a_send_that_crashed_before_posting_sends_once(
    http: httpx.AsyncClient, caja: Caja
) -> None:
    """The key's row is there without an answer (the process died before the batch): the
    transfer and the answer are committed together, so no transfer was made; a retry
    sends, once."""
    ana = await person(http)
    beto = await person(http)
    await fund(caja.database, ana.account_id, "100.00")
    body = send_body(ana, beto, "10.00")
    profile = await _profile_id(caja.database, ana)
    await caja.database.write(
        lambda connection: connection.execute(
            insert(wallet_send_keys).values(
                profile_id=profile,
                key="crashed",
                body_digest=keys.body_digest(body),
                created_at=utcnow(),
            )
        )
    )

    answers = [await keyed_send(http, ana, body, "crashed") for _ in range(3)]

    assert {a.content for a in answers} == {b'{"code":200,"msg":[]}'}
    assert await balances(http, ana) == {"COP": "90.00", "USD": "0.00"}


async def test_a_key_whose_answer_was_lost_answers_200_and_moves_nothing(
    http: httpx.AsyncClient, caja: Caja
) -> None:
    """The client never saw the first answer (a timeout): the retry gets it and nothing
    moves again; the key's row names the transfer it made."""
    ana = await person(http)
    beto = await person(http)
    await fund(caja.database, ana.account_id, "100.00")
    body = send_body(ana, beto, "10.00")
    await keyed_send(http, ana, body, "lost")

    again = await keyed_send(http, ana, body, "lost")

    assert again.json() == {"code": 200, "msg": []}
    assert await balances(http, ana) == {"COP": "90.00", "USD": "0.00"}
    async with caja.database.read() as connection:
        stored = (await connection.execute(select(wallet_send_keys))).one()
    [payment] = await payments(http, ana)
    assert (stored.answer, stored.transfer_token) == (200, payment["id"])


async def test_keys_older_than_a_day_are_purged_and_may_be_used_again(
    http: httpx.AsyncClient, caja: Caja, monkeypatch: pytest.MonkeyPatch
) -> None:
    ana = await person(http)
    beto = await person(http)
    await fund(caja.database, ana.account_id, "100.00")
    body = send_body(ana, beto, "10.00")
    await keyed_send(http, ana, body, "old")
    later = utcnow() + keys.KEEP + timedelta(minutes=1)
    monkeypatch.setattr(keys, "utcnow", lambda: later)

    again = await keyed_send(http, ana, body, "old")

    assert again.json() == {"code": 200, "msg": []}
    assert await balances(http, ana) == {"COP": "80.00", "USD": "0.00"}
