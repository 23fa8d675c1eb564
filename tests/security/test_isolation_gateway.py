"""Tenant isolation on the top-up and package gateway, under both spellings of its path:
merchant B reading merchant A's purchases is answered as for a token never used, B may
use A's idempotency tokens for purchases of its own, and A's money and purchases stay
as they were."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import pytest

from caja.db.engine import Database
from tests.gateway import GATEWAY, GATEWAY_ALIAS, Merchant, merchant, package_body, topup_body
from tests.security.tenants import answer, covers, every_row, unique

pytestmark = pytest.mark.anyio

F = TypeVar("F", bound=Callable[..., Any])

PREFIXES = [GATEWAY, GATEWAY_ALIAS]
GET_TOPUP = "/topup_account/{idempotency_token}"
GET_PACKAGE = "/package_buy/{idempotency_token}"


def covers_both(method: str, path: str, *inputs: str) -> Callable[[F], F]:
    """``covers`` for the route under both spellings of the gateway's path."""

    def register(test: F) -> F:
        for prefix in PREFIXES:
            test = covers(method, prefix + path, *inputs)(test)
        return test

    return register


@dataclass(frozen=True)
class Merchants:
    a: Merchant
    b: Merchant
    a_topup: dict[str, Any]
    a_package: dict[str, Any]


async def _buy(
    http: httpx.AsyncClient, prefix: str, who: Merchant, path: str, body: dict[str, Any]
) -> httpx.Response:
    return await http.post(f"{prefix}{path}", json=body, headers=who.headers)


@pytest.fixture
async def merchants(http: httpx.AsyncClient, database: Database) -> Merchants:
    a = await merchant(database, funds=50_000)
    b = await merchant(database, funds=50_000)
    topup = await _buy(http, GATEWAY, a, "/topup_account", topup_body(amount=3000))
    package = await _buy(http, GATEWAY, a, "/package_buy", package_body())
    assert (topup.status_code, package.status_code) == (200, 200), (topup.text, package.text)
    return Merchants(a, b, topup.json(), package.json())


async def _balance(http: httpx.AsyncClient, who: Merchant) -> int:
    response = await http.get(f"{GATEWAY}/merchant/balance", headers=who.headers)
    assert response.status_code == 200, response.text
    balance: int = response.json()["balance"]
    return balance


@covers_both("GET", GET_TOPUP, "idempotency_token")
@covers_both("GET", GET_PACKAGE, "idempotency_token")
@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("kind", ["topup_account", "package_buy"])
async def test_another_merchants_purchase_reads_as_a_missing_one(
    http: httpx.AsyncClient, database: Database, merchants: Merchants, prefix: str, kind: str
) -> None:
    bought = merchants.a_topup if kind == "topup_account" else merchants.a_package
    theirs = bought["idempotency_token"]
    missing = unique("idtk-missing-")
    before = await every_row(database)

    taken = await http.get(f"{prefix}/{kind}/{quote(theirs)}", headers=merchants.b.headers)
    absent = await http.get(f"{prefix}/{kind}/{missing}", headers=merchants.b.headers)

    assert taken.status_code == 422, taken.text
    assert taken.json()["field"] == "idempotency_token"
    assert answer(taken, theirs) == answer(absent, missing)
    assert bought["token"] not in taken.text
    assert await every_row(database) == before


@covers_both("POST", "/topup_account", "idempotency_token")
@covers_both("POST", "/package_buy", "idempotency_token")
@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("kind", ["topup_account", "package_buy"])
async def test_another_merchants_idempotency_token_is_free_for_this_one(
    http: httpx.AsyncClient, merchants: Merchants, prefix: str, kind: str
) -> None:
    """B's purchase with A's token is a new purchase of B's, as with a token nobody used:
    not A's purchase answered back, nor a refusal telling that A used the token."""
    theirs = merchants.a_topup if kind == "topup_account" else merchants.a_package
    make = topup_body if kind == "topup_account" else package_body
    a_balance = await _balance(http, merchants.a)

    reused = await _buy(
        http, prefix, merchants.b, f"/{kind}", make(idempotency_token=theirs["idempotency_token"])
    )
    fresh = await _buy(http, prefix, merchants.b, f"/{kind}", make())

    assert reused.status_code == fresh.status_code == 200, reused.text
    assert set(reused.json()) == set(fresh.json())
    assert reused.json()["token"] != theirs["token"]
    assert await _balance(http, merchants.a) == a_balance
    spent = reused.json()["amount"] + fresh.json()["amount"]
    assert await _balance(http, merchants.b) == 50_000 - spent
    # A still reads its own purchase under the token, unchanged.
    again = await http.get(
        f"{prefix}/{kind}/{quote(theirs['idempotency_token'])}", headers=merchants.a.headers
    )
    assert again.status_code == 200, again.text
    assert again.json()["token"] == theirs["token"]


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_a_merchant_lists_and_spends_only_its_own(
    http: httpx.AsyncClient, merchants: Merchants, prefix: str
) -> None:
    for kind in ("topup_account", "package_buy"):
        listed = await http.get(f"{prefix}/{kind}/transactions", headers=merchants.b.headers)
        assert listed.status_code == 200, listed.text
        assert listed.json() == {"count": 0, "transactions": []}
    balance = await http.get(f"{prefix}/merchant/balance", headers=merchants.b.headers)
    assert balance.json()["balance"] == 50_000
