"""POST /transaction/batch: many transfers in one request, each answered exactly as its own
POST /transaction would be, applied in order; all or none when atomic."""

from __future__ import annotations

import asyncio
import itertools
import re
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from caja.clients.service import authenticate
from caja.ledger import events
from caja.ledger.tables import events as events_table
from tests.helpers import V1, Caja, listening, transfer_body
from tests.security.tenants import covers

pytestmark = pytest.mark.anyio

BATCH = f"{V1}/transaction/batch"
_serial = itertools.count(1)
NOT_APPLIED = {
    "status": 424,
    "code": "NotApplied",
    "message": "Not applied: another transaction of this atomic batch was refused.",
}
UNAVAILABLE = {
    "code": "TemporarilyUnavailable",
    "message": "Temporary failure, nothing was changed; it is safe to retry the request.",
}


def headers(key: str) -> dict[str, str]:
    return {"X-Account-api-key": key}


async def post_batch(
    caja: Caja, key: str, items: list[Any], atomic: bool | None = None
) -> httpx.Response:
    body: dict[str, Any] = {"transactions": items}
    if atomic is not None:
        body["atomic"] = atomic
    return await caja.http.post(BATCH, json=body, headers=headers(key))


async def accounts(caja: Caja, key: str, count: int, funds: str | None = None) -> list[str]:
    made = [(await caja.account(key))["token"] for _ in range(count)]
    if funds is not None:
        await caja.fund(made[0], funds)
    return made


async def event_count(caja: Caja) -> int:
    async with caja.database.read() as connection:
        found = await connection.execute(select(func.count()).select_from(events_table))
        return int(found.scalar_one())


async def state(caja: Caja, key: str, tokens: list[str]) -> tuple[Any, ...]:
    """Row counts, events and balances: what a refused request must not change."""
    balances = [await caja.balance(key, token) for token in tokens]
    return await caja.counts(), await event_count(caja), balances


def utt() -> str:
    return f"bulk-{next(_serial)}"


# --- order ---------------------------------------------------------------------------------


async def test_items_apply_in_order_so_money_received_can_be_sent_on(caja: Caja) -> None:
    key = await caja.client_key()
    a, b, c = await accounts(caja, key, 3, funds="100.00")

    response = await post_batch(
        caja, key, [transfer_body(a, b, "60.00"), transfer_body(b, c, "50.00")]
    )

    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [item["status"] for item in results] == [201, 201]
    assert results[1]["transaction"]["origin_account_balance"] == 10.0
    assert [await caja.balance(key, token) for token in (a, b, c)] == ["40.00", "10.00", "50.00"]
    assert (await caja.verify()).ok


async def test_a_thousand_items_are_posted_in_one_request(caja: Caja) -> None:
    key = await caja.client_key()
    a, b = await accounts(caja, key, 2, funds="1000.00")
    items = [
        transfer_body(a, b, "1.00", description="x" * 100, unique_transfer_token=utt())
        for _ in range(1000)
    ]

    response = await post_batch(caja, key, items)

    assert response.status_code == 200, response.text
    assert len(response.content) > 64 * 1024
    results = response.json()["results"]
    assert {item["status"] for item in results} == {201}
    assert [item["transaction"]["unique_transfer_token"] for item in results] == [
        item["unique_transfer_token"] for item in items
    ]
    assert await caja.balance(key, b) == "1000.00"
    assert (await caja.verify()).ok


# --- each item as its own POST /transaction --------------------------------------------------


def scenario(a: str, b: str, c: str, stranger: str) -> list[Any]:
    """Bodies of every kind of answer; the same tokens for every client."""
    return [
        transfer_body(a, b, "30.00", unique_transfer_token="first"),
        transfer_body(a, b, "30.00", unique_transfer_token="first"),  # replay: 208
        transfer_body(a, b, "31.00", unique_transfer_token="first"),  # reused: 422
        transfer_body(a, c, "5000.00", unique_transfer_token="much"),  # 402
        transfer_body(a, "acc-doesnotexist", "1.00", unique_transfer_token="gone"),  # 422
        transfer_body(a, stranger, "1.00", unique_transfer_token="theirs"),  # 422 alike
        transfer_body(a, a, "1.00", unique_transfer_token="same"),  # 422
        transfer_body(a, b, "-1", unique_transfer_token="negative"),  # 422 invalid
        transfer_body(a, b, "1.001", unique_transfer_token="fraction"),
        {"origin_account": a, "amount": "1.00"},  # fields missing
        transfer_body(a, b, "1.00", description="nul\x00", unique_transfer_token="nul"),
        transfer_body(a, b, "1.00", unique_transfer_token="bad token!"),
        ["not", "an", "object"],
        transfer_body(b, c, "20.00", unique_transfer_token="onward"),  # 201 from received money
    ]


def normalized(text: str, *ids: str) -> str:
    """An answer with the ids of one run (tokens, times, accounts) replaced by their role."""
    for position, value in enumerate(ids):
        text = text.replace(value, f"<id {position}>")
    text = re.sub(r'"tx-[0-9a-z]+"', '"<tx>"', text)
    return re.sub(r'"\d{4}-\d\d-\d\dT[0-9:.]+Z"', '"<time>"', text)


async def test_each_item_answers_exactly_as_its_own_post_would(caja: Caja) -> None:
    """Byte for byte: the batch's answer is its items' own answers, each with its status."""
    stranger_key = await caja.client_key()
    [stranger] = await accounts(caja, stranger_key, 1)
    key = await caja.client_key()
    ids = await accounts(caja, key, 3, funds="100.00")
    batched = await post_batch(caja, key, scenario(*ids, stranger))
    key = await caja.client_key()
    alone_ids = await accounts(caja, key, 3, funds="100.00")
    items = []
    for body in scenario(*alone_ids, stranger):
        single = await caja.http.post(
            f"{V1}/transaction",
            content=orjson.dumps(body),
            headers={**headers(key), "Content-Type": "application/json"},
        )
        status = single.status_code
        items.append(
            f'{{"status":{status},"transaction":{single.text}}}'
            if status < 300
            else f'{{"status":{status},{single.text[1:]}'
        )
    expected = '{"results":[' + ",".join(items) + "]}"

    assert batched.status_code == 200, batched.text
    assert normalized(batched.text, *ids) == normalized(expected, *alone_ids)
    assert [item["status"] for item in batched.json()["results"]] == [
        201, 208, 422, 402, 422, 422, 422, 422, 422, 422, 422, 422, 422, 201
    ]  # fmt: skip


@covers("POST", BATCH, "transactions")
async def test_another_clients_account_answers_like_a_missing_one(caja: Caja) -> None:
    mine, theirs_key = await caja.client_key(), await caja.client_key()
    a, b = await accounts(caja, mine, 2, funds="100.00")
    [theirs] = await accounts(caja, theirs_key, 1, funds="100.00")
    [their_b] = await accounts(caja, theirs_key, 1)
    shared = transfer_body(theirs, their_b, "1.00", unique_transfer_token="shared")
    assert (await caja.transfer(theirs_key, shared)).status_code == 201
    before = await state(caja, theirs_key, [theirs, their_b])

    response = await post_batch(
        caja,
        mine,
        [
            transfer_body(a, theirs, "1.00", unique_transfer_token="t1"),
            transfer_body(a, "acc-missing000000000000000000", "1.00", unique_transfer_token="t1"),
            transfer_body(theirs, b, "1.00", unique_transfer_token="t2"),
            transfer_body("acc-missing000000000000000000", b, "1.00", unique_transfer_token="t2"),
            transfer_body(theirs, their_b, "1.00", unique_transfer_token="t3"),
            transfer_body(a, b, "1.00", unique_transfer_token="shared"),
        ],
    )

    results = response.json()["results"]
    assert (
        results[0]
        == results[1]
        == {
            "status": 422,
            "code": "AccountNotFound",
            "message": "The destination_account does not exist.",
        }
    )
    assert results[2] == results[3]
    assert results[2]["code"] == "AccountNotFound"
    assert results[4] == results[2]
    assert results[5]["status"] == 201  # their token names nothing of mine
    after = await state(caja, theirs_key, [theirs, their_b])
    assert after[2] == before[2]  # their balances
    assert after[0][0] == before[0][0] + 1  # my one transfer


# --- idempotency, events -----------------------------------------------------------------------


async def test_a_batch_sent_again_answers_each_item_208_with_the_same_transaction(
    caja: Caja,
) -> None:
    key = await caja.client_key()
    a, b = await accounts(caja, key, 2, funds="100.00")
    items = [transfer_body(a, b, "10.00", unique_transfer_token=utt()) for _ in range(5)]

    first = await post_batch(caja, key, items)
    before = await state(caja, key, [a, b])
    again = await post_batch(caja, key, items, atomic=True)

    assert again.status_code == 200
    assert [item["status"] for item in again.json()["results"]] == [208] * 5
    assert [item["transaction"] for item in again.json()["results"]] == [
        item["transaction"] for item in first.json()["results"]
    ]
    assert await state(caja, key, [a, b]) == before


async def test_each_new_transfer_writes_its_event_as_its_answer_none_for_others(
    caja: Caja,
) -> None:
    key = await caja.client_key()
    principal = await authenticate(caja.database, key)
    assert principal is not None
    a, b = await accounts(caja, key, 2, funds="100.00")
    replayed = transfer_body(a, b, "1.00", unique_transfer_token=utt())
    assert (await caja.transfer(key, replayed)).status_code == 201
    items = [
        transfer_body(a, b, "10.00", unique_transfer_token=utt()),
        replayed,
        transfer_body(a, b, "999.00", unique_transfer_token=utt()),
        transfer_body(a, b, "20.00", unique_transfer_token=utt()),
    ]

    response = await post_batch(caja, key, items)

    async with caja.database.read() as connection:
        rows = await connection.run_sync(
            lambda sync: events.events_of_client(
                sync, principal.client_id, types=("ledger.transfer.created",)
            )
        )
    results = response.json()["results"]
    assert [item["status"] for item in results] == [201, 208, 402, 201]
    assert len(rows) == 3
    assert [orjson.loads(row.data) for row in rows[1:]] == [
        results[0]["transaction"],
        results[3]["transaction"],
    ]
    for row in rows[1:]:
        got = await caja.http.get(
            f"{V1}/transaction/{orjson.loads(row.data)['unique_transfer_token']}",
            headers=headers(key),
        )
        assert row.data.encode() == got.content


# --- atomic -------------------------------------------------------------------------------------


async def test_an_atomic_batch_with_one_failing_item_writes_nothing(caja: Caja) -> None:
    key = await caja.client_key()
    a, b, c = await accounts(caja, key, 3, funds="100.00")
    before = await state(caja, key, [a, b, c])
    items = [
        transfer_body(a, b, "60.00"),
        transfer_body(b, c, "50.00"),
        transfer_body(a, c, "60.00"),  # only 40.00 left
        {"origin_account": a},
    ]

    response = await post_batch(caja, key, items, atomic=True)

    assert response.status_code == 409, response.text
    assert response.json() == {
        "code": "BatchRejected",
        "message": "No transaction was applied: at least one of this atomic batch was refused.",
        "results": [
            NOT_APPLIED,
            NOT_APPLIED,
            {
                "status": 402,
                "code": "NoFunds",
                "message": "Not enough funds in the origin_account.",
            },
            {
                "status": 422,
                "code": "InvalidData",
                "message": "destination_account: is required",
            },
        ],
    }
    assert await state(caja, key, [a, b, c]) == before
    # Nothing was written: the same tokens make new transfers now.
    fixed = await post_batch(caja, key, items[:2], atomic=True)
    assert [item["status"] for item in fixed.json()["results"]] == [201, 201]


async def test_an_atomic_batch_of_good_items_and_a_replay_is_written_whole(caja: Caja) -> None:
    key = await caja.client_key()
    a, b = await accounts(caja, key, 2, funds="100.00")
    done = transfer_body(a, b, "5.00")
    assert (await caja.transfer(key, done)).status_code == 201

    response = await post_batch(caja, key, [done, transfer_body(a, b, "5.00")], atomic=True)

    assert response.status_code == 200
    assert [item["status"] for item in response.json()["results"]] == [208, 201]
    assert await caja.balance(key, b) == "10.00"


# --- the envelope -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "transactions: is required"),
        ({"transactions": {}}, "transactions: must be a list of transactions"),
        ({"transactions": "x"}, "transactions: must be a list of transactions"),
        ({"transactions": []}, "transactions: must hold from 1 to 1,000 transactions"),
        ({"transactions": [{}] * 1001}, "transactions: must hold from 1 to 1,000 transactions"),
        ({"transactions": [{}], "atomic": "yes"}, "atomic: must be true or false"),
        ({"transactions": [{}], "atomic": None}, "atomic: must be true or false"),
        ({"transactions": [{}], "atomic": 1}, "atomic: must be true or false"),
    ],
)
async def test_a_malformed_envelope_answers_422_and_writes_nothing(
    caja: Caja, body: dict[str, Any], message: str
) -> None:
    key = await caja.client_key()
    before = await caja.counts()

    response = await caja.http.post(BATCH, json=body, headers=headers(key))

    assert response.status_code == 422
    assert response.json() == {"code": "InvalidData", "message": message}
    assert await caja.counts() == before


@pytest.mark.parametrize("content", [b"[]", b"not json", b'"x"'])
async def test_a_body_that_is_no_object_answers_422(caja: Caja, content: bytes) -> None:
    key = await caja.client_key()

    response = await caja.http.post(
        BATCH, content=content, headers={**headers(key), "Content-Type": "application/json"}
    )

    assert response.status_code == 422
    assert response.json() == {
        "code": "InvalidJSON",
        "message": "the body must be a JSON object",
    }


async def test_the_key_is_checked_before_the_envelope(caja: Caja) -> None:
    narrow = await caja.client_key("topup")

    missing = await caja.http.post(BATCH, json={})
    unknown = await caja.http.post(BATCH, json={}, headers=headers("ck-" + "x" * 43))
    forbidden = await caja.http.post(BATCH, json={"transactions": []}, headers=headers(narrow))
    big = await caja.http.post(
        BATCH, content=b" " * (1024 * 1024 + 1), headers={
            **headers(narrow), "Content-Type": "application/json"
        }
    )  # fmt: skip

    assert [r.status_code for r in (missing, unknown, forbidden, big)] == [401, 401, 403, 403]
    assert forbidden.json()["code"] == "Forbidden"


async def test_a_body_over_a_mebibyte_answers_413(caja: Caja) -> None:
    key = await caja.client_key()

    response = await caja.http.post(
        BATCH, content=b" " * (1024 * 1024 + 1), headers={
            **headers(key), "Content-Type": "application/json"
        }
    )  # fmt: skip

    assert response.status_code == 413


# --- failures -----------------------------------------------------------------------------------


@pytest.mark.parametrize("atomic", [False, True])
async def test_a_failed_commit_answers_503_and_writes_nothing_of_the_request(
    caja: Caja, atomic: bool
) -> None:
    key = await caja.client_key()
    a, b = await accounts(caja, key, 2, funds="100.00")
    items = [transfer_body(a, b, "1.00"), transfer_body(a, b, "2.00")]
    if not atomic:
        items.append(transfer_body(a, b, "999"))
    before = await state(caja, key, [a, b])

    def fail(_connection: Any) -> None:
        raise RuntimeError("injected commit failure")

    with listening(caja.database, "commit", fail):
        failed = await post_batch(caja, key, items, atomic=atomic)
    after = await state(caja, key, [a, b])
    retried = await post_batch(caja, key, items, atomic=atomic)

    assert failed.status_code == 503
    assert failed.json() == UNAVAILABLE
    assert failed.headers["Retry-After"] == "1"
    assert after == before
    assert [item["status"] for item in retried.json()["results"]] == [201, 201, 402][: len(items)]


async def test_concurrent_batches_and_single_transfers_on_the_same_accounts_keep_order(
    caja: Caja,
) -> None:
    """Batches over shared accounts, beside single transfers that hold the same rows: each
    batch's chain still finds the money its earlier items brought."""
    key = await caja.client_key()
    a, b, c = await accounts(caja, key, 3, funds="1000.00")

    def chain() -> list[Any]:
        # b and c start empty: each item spends what the one before it brought.
        return [
            body
            for _ in range(10)
            for body in (transfer_body(a, b, "10"), transfer_body(b, c, "10"))
        ]

    batches = [post_batch(caja, key, chain()) for _ in range(4)]
    singles = [caja.transfer(key, transfer_body(a, c, "1.00")) for _ in range(20)]
    answers = await asyncio.gather(*batches, *singles)

    for response in answers[:4]:
        assert response.status_code == 200, response.text
        assert {item["status"] for item in response.json()["results"]} == {201}
    assert {response.status_code for response in answers[4:]} == {201}
    assert [await caja.balance(key, token) for token in (a, b, c)] == ["580.00", "0.00", "420.00"]
    assert (await caja.verify()).ok
