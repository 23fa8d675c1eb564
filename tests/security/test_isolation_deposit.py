"""Tenant isolation on the electronic deposit surface: client B naming client A's
accounts or transfers is answered as for ones that do not exist, B cannot revert A's
transfer, and a holder or token A uses is B's to use too, apart from A's."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from caja.clients.service import create_client
from caja.core.money import parse_amount
from caja.core.tokens import new_token
from caja.db.engine import Database
from caja.deposits import service as deposits
from caja.providers.bank import SandboxBank
from tests.helpers import SANDBOX_HOLDER
from tests.security.tenants import answer, covers, every_row, unique

pytestmark = pytest.mark.anyio

API = "/api/coopcentral/v1"
WHOLE_HISTORY = {"initial_date": "2000-01-01", "final_date": "2099-12-31"}
# A statement covers at most 366 days.
ONE_YEAR = {"initial_date": "2026-01-01", "final_date": "2026-12-31"}
_serial = itertools.count(1)


@dataclass(frozen=True)
class Coop:
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.key}"}


def holder_body(**overrides: Any) -> dict[str, Any]:
    n = next(_serial)
    body = {
        **SANDBOX_HOLDER,
        "identification_number": f"{n:04d}45678",
        "email": f"sec-holder{n}@example.com",
    }
    body.update(overrides)
    return body


async def _open(http: httpx.AsyncClient, who: Coop, body: dict[str, Any] | None = None) -> str:
    response = await http.post(
        f"{API}/accounts/create", json=body or holder_body(), headers=who.headers
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


async def _receive(database: Database, token: str, amount: str) -> None:
    number = await deposits.account_number(database, token)
    incoming = SandboxBank().transfer_in(
        number,
        parse_amount(amount, 2),
        bank_slug="bancolombia",
        sender_name="Alonso Herrera",
        sender_id_number="1089876456",
    )
    await deposits.receive(database, incoming)


def _transfer(origin: str, destination: str, **overrides: Any) -> dict[str, Any]:
    body = {
        "origin_account": origin,
        "destination_account": destination,
        "unique_transfer_token": unique("utt-"),
        "amount": "10.00",
        "description": "rent",
        "channel": "wallet",
    }
    body.update(overrides)
    return body


@dataclass(frozen=True)
class Coops:
    a: Coop
    a_accounts: tuple[str, str]
    a_holder: dict[str, Any]
    a_transfer: dict[str, Any]
    b: Coop
    b_accounts: tuple[str, str]


@pytest.fixture
async def coops(http: httpx.AsyncClient, database: Database) -> Coops:
    a, b = [
        Coop((await create_client(database, name, ["deposit"])).api_key)
        for name in ("coop a", "coop b")
    ]
    a_holder = holder_body()
    a_accounts = (await _open(http, a, a_holder), await _open(http, a))
    b_accounts = (await _open(http, b), await _open(http, b))
    for token in (a_accounts[0], b_accounts[0]):
        await _receive(database, token, "100.00")
    made = await http.post(
        f"{API}/transactions/create", json=_transfer(*a_accounts), headers=a.headers
    )
    assert made.status_code == 201, made.text
    return Coops(a, a_accounts, a_holder, made.json(), b, b_accounts)


async def _balance(http: httpx.AsyncClient, who: Coop, token: str) -> str:
    response = await http.get(
        f"{API}/accounts/balance", params={"account_token": token}, headers=who.headers
    )
    assert response.status_code == 200, response.text
    balance: str = response.json()["balance"]
    return balance


async def _balances(http: httpx.AsyncClient, coops: Coops) -> list[str]:
    return [await _balance(http, coops.a, token) for token in coops.a_accounts] + [
        await _balance(http, coops.b, token) for token in coops.b_accounts
    ]


@covers("GET", f"{API}/accounts/balance", "account_token")
@covers("GET", f"{API}/accounts/statement", "account_token")
@covers("GET", f"{API}/transactions", "account_token")
@pytest.mark.parametrize("path", ["/accounts/balance", "/accounts/statement", "/transactions"])
async def test_another_clients_account_reads_as_a_missing_one(
    http: httpx.AsyncClient, database: Database, coops: Coops, path: str
) -> None:
    theirs = coops.a_accounts[0]
    missing = new_token("coopacc")
    before = await every_row(database)

    taken, absent = [
        await http.get(
            f"{API}{path}",
            params={"account_token": token, **(ONE_YEAR if "statement" in path else WHOLE_HISTORY)},
            headers=coops.b.headers,
        )
        for token in (theirs, missing)
    ]

    assert taken.status_code == 422, taken.text
    assert taken.json()["error_code"] == "AccountNotFound"
    assert answer(taken, theirs) == answer(absent, missing)
    assert await every_row(database) == before


@covers("POST", f"{API}/transactions/create", "origin_account", "destination_account")
@pytest.mark.parametrize("side", ["origin_account", "destination_account"])
async def test_a_transfer_naming_another_clients_account_answers_as_a_missing_one(
    http: httpx.AsyncClient, database: Database, coops: Coops, side: str
) -> None:
    theirs = coops.a_accounts[0] if side == "origin_account" else coops.a_accounts[1]
    missing = new_token("coopacc")
    body = _transfer(*coops.b_accounts)
    before = await every_row(database)

    taken = await http.post(
        f"{API}/transactions/create", json={**body, side: theirs}, headers=coops.b.headers
    )
    after = await every_row(database)
    absent = await http.post(
        f"{API}/transactions/create", json={**body, side: missing}, headers=coops.b.headers
    )

    assert taken.status_code == 422, taken.text
    assert taken.json()["field"] == side
    assert answer(taken, theirs) == answer(absent, missing)
    assert after == before
    assert await _balances(http, coops) == ["90.00", "10.00", "100.00", "0.00"]


@covers("POST", f"{API}/transactions/revert", "idempotency_token")
async def test_reverting_another_clients_transfer_answers_as_a_missing_one(
    http: httpx.AsyncClient, database: Database, coops: Coops
) -> None:
    theirs = coops.a_transfer["idempotency_token"]
    missing = unique("utt-missing-")
    before = await every_row(database)

    taken, absent = [
        await http.post(
            f"{API}/transactions/revert", json={"idempotency_token": token}, headers=coops.b.headers
        )
        for token in (theirs, missing)
    ]

    assert taken.status_code == 422, taken.text
    assert taken.json()["error_code"] == "TransactionNotFound"
    assert answer(taken, theirs) == answer(absent, missing)
    assert await every_row(database) == before
    # Its owner can still revert it.
    reverted = await http.post(
        f"{API}/transactions/revert", json={"idempotency_token": theirs}, headers=coops.a.headers
    )
    assert reverted.status_code == 200, reverted.text
    assert await _balances(http, coops) == ["100.00", "0.00", "100.00", "0.00"]


@covers("POST", f"{API}/transactions/create", "unique_transfer_token")
async def test_another_clients_unique_transfer_token_is_free_for_this_one(
    http: httpx.AsyncClient, coops: Coops
) -> None:
    shared = coops.a_transfer["idempotency_token"]

    made = await http.post(
        f"{API}/transactions/create",
        json=_transfer(*coops.b_accounts, unique_transfer_token=shared, amount="7.00"),
        headers=coops.b.headers,
    )

    assert made.status_code == 201, made.text
    assert made.json()["token"] != coops.a_transfer["token"]
    assert await _balances(http, coops) == ["90.00", "10.00", "93.00", "7.00"]


@covers(
    "POST",
    f"{API}/accounts/create",
    "identification_type",
    "identification_number",
    "identification_issued_at",
    "mobile_phone_number",
    "email",
)
async def test_another_clients_holder_gets_an_account_of_this_client(
    http: httpx.AsyncClient, coops: Coops
) -> None:
    """B opening an account for A's holder gets a new account of its own (201), not A's
    account (208) nor a conflict telling that A knows the person."""
    opened = await http.post(f"{API}/accounts/create", json=coops.a_holder, headers=coops.b.headers)

    assert opened.status_code == 201, opened.text
    assert opened.json()["token"] not in coops.a_accounts
    assert opened.json()["balance"] == "0.00"
    assert await _balance(http, coops.b, opened.json()["token"]) == "0.00"
    # A's account is still A's, and B cannot read it.
    assert await _balance(http, coops.a, coops.a_accounts[0]) == "90.00"
    listed = await http.get(
        f"{API}/transactions",
        params={"account_token": opened.json()["token"], **WHOLE_HISTORY},
        headers=coops.b.headers,
    )
    assert listed.json() == {"transactions": []}
