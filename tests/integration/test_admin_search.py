"""The ops console's search: each kind of thing found by its token, phone or number."""

from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

import pytest
from argon2 import PasswordHasher

from caja.db.engine import Database
from caja.ops.demo import DemoReady, create_demo
from caja.wallet import service as wallet
from tests.gateway import GATEWAY, merchant, topup_body
from tests.helpers import Caja

pytestmark = pytest.mark.anyio

A = "/admin/api"


@pytest.fixture
async def demo(database: Database, monkeypatch: pytest.MonkeyPatch) -> DemoReady:
    """The demo's data: ledger, deposit and wallet accounts (cheap password hashing)."""
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(wallet, "_hasher", cheap)
    return await create_demo(database)


_ADMIN_KEYS: WeakKeyDictionary[Caja, str] = WeakKeyDictionary()


async def found(caja: Caja, term: str) -> list[dict[str, Any]]:
    """The search's results for ``term``, asked with the test's one admin key ("ops")."""
    if caja not in _ADMIN_KEYS:
        _ADMIN_KEYS[caja] = await caja.client_key("admin", name="ops")
    headers = {"X-Admin-Key": _ADMIN_KEYS[caja]}
    response = await caja.http.get(f"{A}/search", params={"q": term}, headers=headers)
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def kinds(results: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(result["kind"], result["id"]) for result in results}


async def _ledger_accounts(caja: Caja, demo: DemoReady) -> None:
    by_token = await found(caja, demo.first_account)
    assert ("account", demo.first_account) in kinds(by_token)
    assert by_token[0]["detail"]["balance"] == demo.first_balance

    by_phone = await found(caja, "+573000000002")
    assert kinds(by_phone) == {("account", demo.second_account)}
    assert "+573000000002" in by_phone[0]["label"]


async def _transfer(caja: Caja, demo: DemoReady) -> None:
    listed = await caja.http.get(
        f"{A}/transfers",
        params={"account": demo.first_account},
        headers={"X-Admin-Key": await caja.client_key("admin")},
    )
    token = listed.json()["data"][0]["token"]

    results = await found(caja, token)

    assert kinds(results) == {("transfer", token)}
    assert results[0]["detail"]["to_account"] == demo.first_account


async def _wallet_people(caja: Caja, demo: DemoReady) -> None:
    phone = demo.wallet_people[0]
    async with caja.database.read() as connection:
        person = await connection.run_sync(wallet.find_profile, phone)
    assert person is not None
    profile = person[0]

    for term in (phone, profile.profile_id, profile.account_id):
        results = await found(caja, term)
        assert ("profile", profile.profile_id) in kinds(results), term
        match = next(result for result in results if result["kind"] == "profile")
        assert match["detail"]["wallet_account"] == profile.account_id
        assert match["detail"]["phone_number"] == phone
        assert "Ana" in match["label"]


async def _deposit_accounts(caja: Caja, demo: DemoReady) -> None:
    token = demo.deposit_accounts[0]
    by_token = await found(caja, token)
    deposit = next(result for result in by_token if result["kind"] == "deposit_account")
    assert deposit["detail"]["account"] == token
    number = deposit["id"]
    assert len(number) == 9

    assert ("deposit_account", number) in kinds(await found(caja, number))
    by_phone = await found(caja, deposit["detail"]["phone_number"])
    assert ("deposit_account", number) in kinds(by_phone)


async def test_search_finds_each_kind_of_the_demo_data(caja: Caja, demo: DemoReady) -> None:
    """Accounts by token and phone, a transfer, wallet people, deposit accounts."""
    await _ledger_accounts(caja, demo)
    await _transfer(caja, demo)
    await _wallet_people(caja, demo)
    await _deposit_accounts(caja, demo)


async def test_search_finds_purchases_by_token_reference_and_number(caja: Caja) -> None:
    who = await merchant(caja.database, funds=10_000)
    body = topup_body("3209998877")
    bought = await caja.http.post(f"{GATEWAY}/topup_account", json=body, headers=who.headers)
    assert bought.status_code == 200, bought.text
    headers = {"X-Admin-Key": await caja.client_key("admin")}
    listed = await caja.http.get(f"{A}/purchases", headers=headers)
    token = listed.json()["data"][0]["token"]

    for term in (token, body["idempotency_token"], "3209998877"):
        results = await found(caja, term)
        assert kinds(results) == {("topup", token)}, term
        assert results[0]["detail"]["reference"] == body["idempotency_token"]
        assert results[0]["detail"]["status"] == "authorized"


async def test_search_finds_clients_by_name_and_id(caja: Caja) -> None:
    await caja.client_key("ledger:admin", name="Pagos 100% Andinos")
    await caja.client_key("ledger:admin", name="Otra_Empresa")

    results = await found(caja, "100% andinos")
    assert [result["label"] for result in results] == ["Pagos 100% Andinos"]
    client_id = results[0]["id"]
    assert client_id.startswith("cli")
    assert [result["id"] for result in await found(caja, client_id)] == [client_id]
    assert [result["label"] for result in await found(caja, "%")] == ["Pagos 100% Andinos"]
    assert await found(caja, "s_1") == []  # "_" is no wildcard
    assert await found(caja, "nothing-like-this") == []


async def test_search_needs_a_term_of_at_most_a_hundred_characters(caja: Caja) -> None:
    headers = {"X-Admin-Key": await caja.client_key("admin")}
    for params in ({}, {"q": ""}, {"q": "x" * 101}):
        response = await caja.http.get(f"{A}/search", params=params, headers=headers)
        assert response.status_code == 400
        assert response.json()["code"] == 400
