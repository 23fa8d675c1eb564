"""Tenant isolation on the two ledger surfaces: client B naming client A's accounts,
transfers, phone numbers and tokens is answered exactly as if they did not exist, and
nothing moves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from caja.core.tokens import new_token
from tests.helpers import V0, V1, Caja, account_body, transfer_body
from tests.security.tenants import answer, covers, every_row, unique

pytestmark = pytest.mark.anyio

ACCOUNT = f"{V1}/account/{{account_token}}"
HISTORY = f"{V1}/account/{{account_token}}/transactions"
STATEMENT = f"{V1}/account/{{account_token}}/statement"
TRANSACTION = f"{V1}/transaction/{{unique_transfer_token}}"


def v1(key: str) -> dict[str, str]:
    return {"X-Account-api-key": key}


@dataclass(frozen=True)
class Ledger:
    """Two clients, each with two accounts of 100.00 and 0.00 and one transfer of 10.00
    between them made with the same unique_transfer_token."""

    a_key: str
    a_accounts: tuple[dict[str, Any], dict[str, Any]]
    a_transfer: dict[str, Any]
    b_key: str
    b_accounts: tuple[dict[str, Any], dict[str, Any]]


@pytest.fixture
async def ledger(caja: Caja) -> Ledger:
    keys = [await caja.client_key("ledger:admin", name=name) for name in ("alpha", "beta")]
    accounts = []
    for key in keys:
        pair = (await caja.account(key), await caja.account(key))
        await caja.fund(pair[0]["token"], "100.00")
        accounts.append(pair)
    a_transfer = await caja.transfer(
        keys[0], transfer_body(accounts[0][0]["token"], accounts[0][1]["token"], "10.00")
    )
    assert a_transfer.status_code == 201, a_transfer.text
    return Ledger(keys[0], accounts[0], a_transfer.json(), keys[1], accounts[1])


async def _balances(caja: Caja, ledger: Ledger) -> list[str]:
    pairs = ((ledger.a_key, ledger.a_accounts), (ledger.b_key, ledger.b_accounts))
    return [await caja.balance(key, acc["token"]) for key, pair in pairs for acc in pair]


@covers("GET", ACCOUNT, "account_token")
async def test_another_clients_account_reads_as_a_missing_one(
    http: httpx.AsyncClient, caja: Caja, ledger: Ledger
) -> None:
    theirs = ledger.a_accounts[0]["token"]
    missing = new_token("acc")
    before = await every_row(caja.database)

    taken = await http.get(f"{V1}/account/{theirs}", headers=v1(ledger.b_key))
    absent = await http.get(f"{V1}/account/{missing}", headers=v1(ledger.b_key))

    assert taken.status_code == 422, taken.text
    assert taken.json()["code"] == "AccountNotFound"
    assert answer(taken, theirs) == answer(absent, missing)
    assert "100.00" not in taken.text
    assert await every_row(caja.database) == before


@covers("GET", HISTORY, "account_token")
async def test_another_clients_history_reads_as_a_missing_one(
    http: httpx.AsyncClient, caja: Caja, ledger: Ledger
) -> None:
    theirs = ledger.a_accounts[0]["token"]
    missing = new_token("acc")
    before = await every_row(caja.database)

    taken = await http.get(f"{V1}/account/{theirs}/transactions", headers=v1(ledger.b_key))
    absent = await http.get(f"{V1}/account/{missing}/transactions", headers=v1(ledger.b_key))

    assert taken.status_code == 422, taken.text
    assert answer(taken, theirs) == answer(absent, missing)
    assert ledger.a_transfer["token"] not in taken.text
    assert await every_row(caja.database) == before


@covers("GET", STATEMENT, "account_token")
@pytest.mark.parametrize("answer_format", ["json", "csv"])
async def test_another_clients_statement_reads_as_a_missing_one(
    http: httpx.AsyncClient, caja: Caja, ledger: Ledger, answer_format: str
) -> None:
    theirs = ledger.a_accounts[0]["token"]
    missing = new_token("acc")
    days = {"from": "2000-01-01", "to": "2000-12-31", "format": answer_format}
    mine = await http.get(
        f"{V1}/account/{ledger.b_accounts[0]['token']}/statement",
        params=days,
        headers=v1(ledger.b_key),
    )
    before = await every_row(caja.database)

    taken, absent = [
        await http.get(f"{V1}/account/{token}/statement", params=days, headers=v1(ledger.b_key))
        for token in (theirs, missing)
    ]

    assert mine.status_code == 200, mine.text
    assert taken.status_code == 422, taken.text
    assert taken.json()["code"] == "AccountNotFound"
    assert answer(taken, theirs) == answer(absent, missing)
    assert await every_row(caja.database) == before


@covers("GET", HISTORY, "cursor")
async def test_a_cursor_from_another_clients_history_reads_as_a_missing_one(
    http: httpx.AsyncClient, caja: Caja, ledger: Ledger
) -> None:
    mine = ledger.b_accounts[0]["token"]
    theirs = ledger.a_transfer["token"]
    missing = new_token("tx")
    path = f"{V1}/account/{mine}/transactions"

    taken = await http.get(path, params={"cursor": theirs}, headers=v1(ledger.b_key))
    absent = await http.get(path, params={"cursor": missing}, headers=v1(ledger.b_key))

    assert taken.status_code == 422, taken.text
    assert answer(taken, theirs) == answer(absent, missing)


@covers("GET", TRANSACTION, "unique_transfer_token")
async def test_another_clients_transfer_reads_as_a_missing_one(
    http: httpx.AsyncClient, caja: Caja, ledger: Ledger
) -> None:
    theirs = ledger.a_transfer["unique_transfer_token"]
    missing = unique("utt-missing-")
    before = await every_row(caja.database)

    taken = await http.get(f"{V1}/transaction/{theirs}", headers=v1(ledger.b_key))
    absent = await http.get(f"{V1}/transaction/{missing}", headers=v1(ledger.b_key))

    assert taken.status_code == 422, taken.text
    assert taken.json()["code"] == "TransactionNotFound"
    assert answer(taken, theirs) == answer(absent, missing)
    assert await every_row(caja.database) == before


@covers("POST", f"{V1}/transaction", "origin_account", "destination_account")
@pytest.mark.parametrize(
    "side", ["from their account", "into their account", "between their accounts"]
)
async def test_a_transfer_naming_another_clients_account_answers_as_a_missing_one(
    http: httpx.AsyncClient, caja: Caja, ledger: Ledger, side: str
) -> None:
    mine, theirs = ledger.b_accounts, ledger.a_accounts
    missing = new_token("acc")
    named = {
        "from their account": (theirs[0]["token"], mine[1]["token"]),
        "into their account": (mine[0]["token"], theirs[1]["token"]),
        "between their accounts": (theirs[0]["token"], theirs[1]["token"]),
    }[side]
    taken_id = theirs[0]["token"] if side != "into their account" else theirs[1]["token"]
    replaced = tuple(missing if token == taken_id else token for token in named)
    body = transfer_body(*named, "5.00")
    before = await every_row(caja.database)

    taken = await caja.transfer(ledger.b_key, body)
    after = await every_row(caja.database)
    absent = await caja.transfer(ledger.b_key, {**body, **dict(zip(
        ("origin_account", "destination_account"), replaced, strict=True
    ))})  # fmt: skip

    assert taken.status_code == 422, taken.text
    assert taken.json()["code"] == "AccountNotFound"
    assert answer(taken, taken_id) == answer(absent, missing)
    assert after == before
    assert await _balances(caja, ledger) == ["90.00", "10.00", "100.00", "0.00"]


@covers("POST", f"{V1}/transaction", "unique_transfer_token")
async def test_a_unique_transfer_token_of_another_client_is_free_for_this_one(
    http: httpx.AsyncClient, caja: Caja, ledger: Ledger
) -> None:
    shared = ledger.a_transfer["unique_transfer_token"]
    mine = ledger.b_accounts

    made = await caja.transfer(
        ledger.b_key,
        transfer_body(mine[0]["token"], mine[1]["token"], "3.00", unique_transfer_token=shared),
    )

    assert made.status_code == 201, made.text
    assert made.json()["token"] != ledger.a_transfer["token"]
    assert await _balances(caja, ledger) == ["90.00", "10.00", "97.00", "3.00"]
    # Each client reads its own transfer under the shared token.
    for key, amount in ((ledger.a_key, "10.00"), (ledger.b_key, "3.00")):
        found = await http.get(f"{V1}/transaction/{shared}", headers=v1(key))
        assert found.status_code == 200, found.text
        assert found.json()["amount"] == amount


@covers("POST", f"{V1}/account", "phone_number", "owner_legal_id_type", "owner_legal_id_number")
@covers("POST", f"{V0}/account", "phone_number", "owner_legal_id_type", "owner_legal_id_number")
@pytest.mark.parametrize("surface", ["v1", "v0"])
async def test_another_clients_phone_and_owner_are_free_for_this_one(
    http: httpx.AsyncClient, caja: Caja, ledger: Ledger, surface: str
) -> None:
    """An owner and a phone number belong to one client: another client opening an
    account for the same person and phone gets a new account of its own, as for a
    person it never saw, not a conflict that would tell the first client's secrets."""
    theirs = ledger.a_accounts[0]
    body = account_body(
        phone_number=theirs["phone_number"],
        owner_legal_id_type=theirs["owner"]["legal_id_type"],
        owner_legal_id_number=theirs["owner"]["legal_id_number"],
    )
    path, headers = (
        (f"{V1}/account", v1(ledger.b_key))
        if surface == "v1"
        else (f"{V0}/account", {"Authorization": ledger.b_key})
    )

    opened = await http.post(path, json=body, headers=headers)
    fresh = await http.post(path, json=account_body(), headers=headers)

    assert opened.status_code == fresh.status_code == 201, opened.text
    assert set(opened.json()) == set(fresh.json())
    assert opened.json()["token"] != theirs["token"]
    assert opened.json()["owner"]["token"] != theirs["owner"]["token"]
    assert opened.json()["balance"] == "0.00"
    # The first client's account is as it was.
    assert await caja.balance(ledger.a_key, theirs["token"]) == "90.00"


# --- the legacy surface's transfers, by phone number, with a key per account ------------


async def _legacy_account(http: httpx.AsyncClient, admin_key: str) -> dict[str, Any]:
    response = await http.post(
        f"{V0}/account", json=account_body(), headers={"Authorization": admin_key}
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


@covers("POST", f"{V0}/my/transfer", "destination_phone_number")
async def test_a_legacy_transfer_to_another_clients_phone_answers_as_an_unknown_phone(
    http: httpx.AsyncClient, caja: Caja, ledger: Ledger
) -> None:
    mine = await _legacy_account(http, ledger.b_key)
    await caja.fund(mine["token"], "50.00")
    theirs = ledger.a_accounts[1]["phone_number"]
    missing = "+57399" + unique("")[-7:]
    body = {"amount": "5.00", "description": "lunch", "unique_transfer_token": unique("lg-")}
    headers = {"Authorization": mine["api_key"]}
    before = await every_row(caja.database)

    taken = await http.post(
        f"{V0}/my/transfer", json={**body, "destination_phone_number": theirs}, headers=headers
    )
    after = await every_row(caja.database)
    absent = await http.post(
        f"{V0}/my/transfer", json={**body, "destination_phone_number": missing}, headers=headers
    )

    assert taken.status_code == 422, taken.text
    assert taken.json()["code"] == "AccountNotFound"
    assert answer(taken, theirs) == answer(absent, missing)
    assert after == before
    assert await caja.balance(ledger.a_key, ledger.a_accounts[1]["token"]) == "10.00"


@covers("POST", f"{V0}/my/transfer", "unique_transfer_token")
async def test_a_legacy_token_of_another_account_is_free_for_this_one(
    http: httpx.AsyncClient, caja: Caja, ledger: Ledger
) -> None:
    """Legacy tokens belong to the account whose key sends: another client's account,
    or another account of the same client, may use the same one."""
    senders = [
        await _legacy_account(http, ledger.a_key),
        await _legacy_account(http, ledger.b_key),
    ]
    receivers = [await _legacy_account(http, ledger.a_key), ledger.b_accounts[1]]
    for sender in senders:
        await caja.fund(sender["token"], "20.00")
    body = {"amount": "4.00", "description": "lunch", "unique_transfer_token": "legacy-shared"}

    answers = [
        await http.post(
            f"{V0}/my/transfer",
            json={**body, "destination_phone_number": receiver["phone_number"]},
            headers={"Authorization": sender["api_key"]},
        )
        for sender, receiver in zip(senders, receivers, strict=True)
    ]

    assert [response.status_code for response in answers] == [201, 201], answers[1].text
    assert answers[0].json()["token"] != answers[1].json()["token"]
    assert await caja.balance(ledger.b_key, ledger.b_accounts[1]["token"]) == "4.00"
