"""The electronic deposit surface (/api/coopcentral/v1) over HTTP: every status code of
every endpoint, the limits at their edges and across the Bogotá month, fees, reverts,
idempotency under concurrency, and the history."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from caja.app import create_app
from caja.clients.service import create_client, revoke_client
from caja.core.clock import BOGOTA
from caja.core.money import format_minor, parse_amount
from caja.db.engine import Database
from caja.deposits import service as deposits
from caja.deposits.service import LimitExceeded
from caja.ledger import store
from caja.ledger.tables import accounts
from caja.providers import bank as bank_module
from caja.providers.bank import SandboxBank
from tests.helpers import SANDBOX_HOLDER, Caja, Clock, listening

pytestmark = pytest.mark.anyio

API = "/api/coopcentral/v1"
FEES = "sys-fees-cop"
MISSING: Any = object()
_serial = itertools.count(1)

# 2026-03-31 23:30 in Bogotá is already April 1 in UTC.
MARCH_END = datetime(2026, 3, 31, 23, 30, tzinfo=BOGOTA)
APRIL_START = datetime(2026, 4, 1, 0, 30, tzinfo=BOGOTA)


# --- fixtures and helpers ------------------------------------------------------------------


@pytest.fixture
def bank() -> SandboxBank:
    return SandboxBank(timeout=0.5)


@pytest.fixture
def app(database: Database, bank: SandboxBank) -> FastAPI:
    return create_app(database, bank=bank)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fixed = Clock(datetime(2026, 3, 15, 10, 0, tzinfo=BOGOTA))
    monkeypatch.setattr(deposits, "utcnow", fixed)
    monkeypatch.setattr(store, "fixed_clock", fixed)
    return fixed


@pytest.fixture
def bank_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """When the sandbox bank says it confirmed an account."""
    fixed = Clock(datetime(2026, 3, 20, 12, 0, 0, 123456, tzinfo=UTC))
    monkeypatch.setattr(bank_module, "utcnow", fixed)
    return fixed


@dataclass(frozen=True)
class Coop:
    """A client of the deposit surface."""

    client_id: str  # cli-…
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.key}"}


async def coop_client(database: Database, *scopes: str) -> Coop:
    created = await create_client(database, f"coop {next(_serial)}", list(scopes or ("deposit",)))
    return Coop(created.client_id, created.api_key)


@pytest.fixture
async def coop(database: Database) -> Coop:
    return await coop_client(database)


def apply(body: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    for name, value in overrides.items():
        if value is MISSING:
            body.pop(name, None)
        else:
            body[name] = value
    return body


def holder(**overrides: Any) -> dict[str, Any]:
    """A body the sandbox bank accepts, unique per call unless overridden."""
    n = next(_serial)
    body = {
        **SANDBOX_HOLDER,
        "identification_number": f"{n:03d}45678",
        "email": f"holder{n}@example.com",
    }
    return apply(body, overrides)


async def open_account(http: httpx.AsyncClient, who: Coop, **overrides: Any) -> str:
    response = await http.post(
        f"{API}/accounts/create", json=holder(**overrides), headers=who.headers
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


async def funded_account(
    http: httpx.AsyncClient, database: Database, who: Coop, amount: str | None = None
) -> str:
    """A new account; with ``amount`` pesos received from another bank (deposit accounts
    are funded only that way)."""
    token = await open_account(http, who)
    if amount is not None:
        await receive(database, token, amount)
    return token


def transfer_body(
    origin: str, destination: str, amount: Any = "100.00", **overrides: Any
) -> dict[str, Any]:
    body = {
        "origin_account": origin,
        "destination_account": destination,
        "unique_transfer_token": f"utt-{next(_serial)}",
        "amount": amount,
        "description": "Test transaction",
        "channel": "wallet",
    }
    return apply(body, {"amount": amount, **overrides})


async def send(http: httpx.AsyncClient, who: Coop, body: dict[str, Any]) -> httpx.Response:
    return await http.post(f"{API}/transactions/create", json=body, headers=who.headers)


async def revert(http: httpx.AsyncClient, who: Coop, token: str) -> httpx.Response:
    return await http.post(
        f"{API}/transactions/revert", json={"idempotency_token": token}, headers=who.headers
    )


async def info(http: httpx.AsyncClient, who: Coop, token: str) -> dict[str, Any]:
    response = await http.get(
        f"{API}/accounts/balance", params={"account_token": token}, headers=who.headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def history(
    http: httpx.AsyncClient, who: Coop, token: str, first: str, last: str
) -> list[dict[str, Any]]:
    response = await http.get(
        f"{API}/transactions",
        params={"account_token": token, "initial_date": first, "final_date": last},
        headers=who.headers,
    )
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["transactions"]
    return found


async def balances(database: Database, *tokens: str) -> list[str]:
    """The stored balances of ``tokens`` (any account, system ones included)."""
    async with database.read() as connection:
        rows = dict(
            (
                await connection.execute(
                    select(accounts.c.token, accounts.c.balance_minor).where(
                        accounts.c.token.in_(tokens)
                    )
                )
            ).all()
        )
    return [format_minor(rows[token], 2) for token in tokens]


async def receive(
    database: Database,
    token: str,
    amount: str,
    *,
    bank_slug: str = "bancolombia",
    sender_name: str = "Alonso Herrera",
    sender_id_number: str = "1089876456",
) -> deposits.DepositTransfer:
    """Money another bank sends to the account, as the bank's feed reports it."""
    number = await deposits.account_number(database, token)
    incoming = SandboxBank().transfer_in(
        number,
        parse_amount(amount, 2),
        bank_slug=bank_slug,
        sender_name=sender_name,
        sender_id_number=sender_id_number,
    )
    return await deposits.receive(database, incoming)


def bogota_today() -> date:
    return datetime.now(BOGOTA).date()


def assert_invalid(response: httpx.Response, field: str, code: str, value: Any) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["field"] == field
    assert body["error_code"] == code
    assert isinstance(body["error_message"], str)
    assert body["error_message"]
    if value is MISSING:
        assert body.get("value") is None
    else:
        assert body["value"] == value


# --- authentication ------------------------------------------------------------------------


@dataclass
class World:
    """Two funded accounts and a transfer between them, for requests that would work."""

    origin: str
    destination: str
    transfer_token: str


@pytest.fixture
async def world(http: httpx.AsyncClient, database: Database, coop: Coop) -> World:
    origin = await funded_account(http, database, coop, "1000.00")
    destination = await funded_account(http, database, coop)
    body = transfer_body(origin, destination)
    assert (await send(http, coop, body)).status_code == 201
    return World(origin, destination, body["unique_transfer_token"])


ENDPOINTS = ["create", "balance", "transfer", "revert", "history"]


def request_for(endpoint: str, world: World) -> tuple[str, str, dict[str, Any]]:
    """A request to ``endpoint`` that succeeds with the right key."""
    if endpoint == "create":
        return "POST", "/accounts/create", {"json": holder()}
    if endpoint == "balance":
        return "GET", "/accounts/balance", {"params": {"account_token": world.origin}}
    if endpoint == "transfer":
        return (
            "POST",
            "/transactions/create",
            {"json": transfer_body(world.origin, world.destination)},
        )
    if endpoint == "revert":
        return "POST", "/transactions/revert", {"json": {"idempotency_token": world.transfer_token}}
    params = {
        "account_token": world.origin,
        "initial_date": "2020-01-01",
        "final_date": "2099-12-31",
    }
    return "GET", "/transactions", {"params": params}


BAD_HEADERS = {
    "missing": lambda key: None,
    "bearer scheme": lambda key: f"Bearer {key}",
    "basic scheme": lambda key: f"Basic {key}",
    "key without scheme": lambda key: key,
    "scheme without key": lambda key: "Token",
    "unknown key": lambda key: "Token ck_" + "0" * 40,
    "revoked client": lambda key: f"Token {key}",
}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("case", list(BAD_HEADERS))
async def test_every_endpoint_answers_401_to_a_bad_authorization(
    http: httpx.AsyncClient, caja: Caja, coop: Coop, world: World, endpoint: str, case: str
) -> None:
    key = coop.key
    if case == "revoked client":
        revoked = await coop_client(caja.database)
        await revoke_client(caja.database, revoked.client_id)
        key = revoked.key
    header = BAD_HEADERS[case](key)
    headers = {"Authorization": header} if header is not None else {}
    method, path, options = request_for(endpoint, world)
    before = (await caja.counts(), await balances(caja.database, world.origin, world.destination))

    response = await http.request(method, f"{API}{path}", headers=headers, **options)

    assert response.status_code == 401, response.text
    assert response.json()["error_code"] == "Unauthorized"
    assert response.json()["error_message"]
    after = (await caja.counts(), await balances(caja.database, world.origin, world.destination))
    assert after == before


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("scopes", [("ledger",), ("ledger:admin",), ("topup",)])
async def test_a_key_without_the_deposit_scope_gets_403(
    http: httpx.AsyncClient, caja: Caja, world: World, endpoint: str, scopes: tuple[str, ...]
) -> None:
    other = await coop_client(caja.database, *scopes)
    method, path, options = request_for(endpoint, world)
    before = (await caja.counts(), await balances(caja.database, world.origin, world.destination))

    response = await http.request(method, f"{API}{path}", headers=other.headers, **options)

    assert response.status_code == 403, response.text
    assert response.json()["error_code"] == "Forbidden"
    after = (await caja.counts(), await balances(caja.database, world.origin, world.destination))
    assert after == before


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_the_same_requests_succeed_with_the_right_key(
    http: httpx.AsyncClient, coop: Coop, world: World, endpoint: str
) -> None:
    method, path, options = request_for(endpoint, world)

    response = await http.request(method, f"{API}{path}", headers=coop.headers, **options)

    assert response.status_code in (200, 201), response.text


# --- /accounts/create ----------------------------------------------------------------------


async def test_create_account_answers_201_with_a_new_empty_account(
    http: httpx.AsyncClient, caja: Caja, coop: Coop
) -> None:
    before = await caja.counts()

    response = await http.post(
        f"{API}/accounts/create",
        json=holder(second_last_names="Herrera", sex="F"),
        headers=coop.headers,
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["token"].startswith("coopacc-")
    assert len(body["number"]) == 9
    assert body["number"].isdigit()
    assert {k: v for k, v in body.items() if k not in ("token", "number")} == {
        "account_type": "deposito_electronico",
        "balance": "0.00",
        "expected_balance": "0.00",
        "awaited_amount": None,
        "overdraft_amount": "0.00",
        "deposited_this_month": None,
        "withdrawn_this_month": None,
    }
    transfers_, entries_, accounts_ = await caja.counts()
    assert (transfers_, entries_, accounts_) == (before[0], before[1], before[2] + 1)
    assert await deposits.account_number(caja.database, body["token"]) == body["number"]
    assert (await info(http, coop, body["token"]))["account_status"] == "active"


@pytest.mark.parametrize(
    "again",
    [
        {},
        {"email": "another-address@example.com", "mobile_phone_number": "3520000000"},
        {"names": "NIGERIO", "first_last_name": "numa"},
    ],
    ids=["same body", "new email and phone", "names in other case"],
)
async def test_the_same_person_again_gets_208_and_the_same_account(
    http: httpx.AsyncClient, caja: Caja, coop: Coop, again: dict[str, Any]
) -> None:
    first_body = holder()
    first = await http.post(f"{API}/accounts/create", json=first_body, headers=coop.headers)
    assert first.status_code == 201
    await receive(caja.database, first.json()["token"], "70.00")
    before = await caja.counts()

    second = await http.post(
        f"{API}/accounts/create", json={**first_body, **again}, headers=coop.headers
    )

    assert second.status_code == 208, second.text
    assert second.json()["token"] == first.json()["token"]
    assert second.json()["number"] == first.json()["number"]
    assert second.json()["balance"] == "70.00"
    assert await caja.counts() == before


async def test_concurrent_requests_for_one_person_open_one_account(
    http: httpx.AsyncClient, caja: Caja, coop: Coop
) -> None:
    body = holder()
    before = await caja.counts()

    answers = await asyncio.gather(
        *(http.post(f"{API}/accounts/create", json=body, headers=coop.headers) for _ in range(5))
    )

    assert Counter(answer.status_code for answer in answers) == {201: 1, 208: 4}, [
        a.text for a in answers
    ]
    assert len({answer.json()["token"] for answer in answers}) == 1
    assert len({answer.json()["number"] for answer in answers}) == 1
    assert (await caja.counts())[2] == before[2] + 1


async def test_the_same_person_at_another_client_gets_an_account_of_that_client(
    http: httpx.AsyncClient, database: Database, coop: Coop
) -> None:
    other = await coop_client(database)
    body = holder()
    first = await http.post(f"{API}/accounts/create", json=body, headers=coop.headers)
    second = await http.post(f"{API}/accounts/create", json=body, headers=other.headers)

    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["token"] != second.json()["token"]


def _years_ago(years: int) -> str:
    today = bogota_today()
    return date(today.year - years, 1, 1).isoformat()


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"date_of_birth": "under-age"}, "UnderAge"),
        ({"identification_number": "12345679"}, "RefusedByBank"),
        ({"mobile_phone_number": "3101234567"}, "RefusedByBank"),
        ({"date_of_birth": "2001-05-05"}, "RefusedByBank"),
    ],
    ids=["under age", "id outside test data", "phone outside test data", "born 2000 or later"],
)
async def test_the_bank_refuses_holders_with_409(
    http: httpx.AsyncClient, caja: Caja, coop: Coop, overrides: dict[str, Any], code: str
) -> None:
    if overrides.get("date_of_birth") == "under-age":
        overrides = {"date_of_birth": _years_ago(10)}
    before = await caja.counts()

    response = await http.post(
        f"{API}/accounts/create", json=holder(**overrides), headers=coop.headers
    )

    assert response.status_code == 409, response.text
    assert response.json()["error_code"] == code
    assert response.json()["error_message"]
    assert await caja.counts() == before


async def test_an_email_used_by_another_person_is_409(
    http: httpx.AsyncClient, caja: Caja, coop: Coop
) -> None:
    await open_account(http, coop, email="shared@example.com")
    before = await caja.counts()

    response = await http.post(
        f"{API}/accounts/create", json=holder(email="Shared@Example.com"), headers=coop.headers
    )

    assert response.status_code == 409, response.text
    assert response.json()["error_code"] == "EmailAlreadyUsed"
    assert await caja.counts() == before


@pytest.mark.parametrize(
    "other_person",
    [{"date_of_birth": "1988-02-10"}, {"names": "Alonso"}, {"first_last_name": "Herrera"}],
    ids=["other birth date", "other names", "other last name"],
)
async def test_an_identification_used_by_another_person_is_409(
    http: httpx.AsyncClient, caja: Caja, coop: Coop, other_person: dict[str, Any]
) -> None:
    first = holder()
    await open_account(http, coop, **first)
    before = await caja.counts()

    response = await http.post(
        f"{API}/accounts/create",
        json=holder(identification_number=first["identification_number"], **other_person),
        headers=coop.headers,
    )

    assert response.status_code == 409, response.text
    assert response.json()["error_code"] == "IdentificationAlreadyUsed"
    assert await caja.counts() == before


HOLDER_FIELDS = [
    "identification_number",
    "identification_type",
    "identification_issued_at",
    "mobile_phone_number",
    "email",
    "names",
    "first_last_name",
    "sex",
    "date_of_birth",
]
STRING_FIELDS = [
    "identification_number",
    "identification_type",
    "mobile_phone_number",
    "email",
    "names",
    "first_last_name",
    "sex",
]
FUTURE = "future"  # replaced by a date two days ahead

INVALID_HOLDERS: list[Any] = [
    *(
        pytest.param(name, MISSING, "required", MISSING, id=f"{name} missing")
        for name in HOLDER_FIELDS
    ),
    *(
        pytest.param(name, None, "required", MISSING, id=f"{name} null")
        for name in ("names", "sex")
    ),
    *(pytest.param(name, "   ", "blank", "", id=f"{name} blank") for name in STRING_FIELDS),
    pytest.param("identification_issued_at", "", "required", MISSING, id="issued empty"),
    pytest.param("date_of_birth", "  ", "invalid_date", "  ", id="birth blank"),
    pytest.param("identification_number", 99945678, "invalid", 99945678, id="number as int"),
    pytest.param("mobile_phone_number", 3528881234, "invalid", 3528881234, id="phone as int"),
    pytest.param("names", ["Nigerio"], "invalid", "['Nigerio']", id="names as list"),
    pytest.param("email", True, "invalid", True, id="email as bool"),
    pytest.param("sex", {"value": "M"}, "invalid", "{'value': 'M'}", id="sex as object"),
    pytest.param("second_last_names", 7, "invalid", 7, id="second last names as int"),
    pytest.param("date_of_birth", 19990125, "invalid_date", 19990125, id="birth as int"),
    pytest.param("identification_type", "TI", "invalid_choice", "TI", id="type TI"),
    pytest.param("identification_type", "cc", "invalid_choice", "cc", id="type lower case"),
    pytest.param("identification_type", "CCCCC", "max_length", "CCCCC", id="type too long"),
    pytest.param("identification_number", "12", "invalid", "12", id="number too short"),
    pytest.param("identification_number", "999-45678", "invalid", "999-45678", id="number dash"),
    pytest.param(
        "identification_number",
        "1" * 16 + "45678",
        "max_length",
        "1" * 16 + "45678",
        id="number too long",
    ),
    pytest.param(
        "identification_issued_at", "2019-02-30", "invalid_date", "2019-02-30", id="issued Feb 30"
    ),
    pytest.param(
        "identification_issued_at", "2019/03/19", "invalid_date", "2019/03/19", id="issued slashes"
    ),
    pytest.param(
        "identification_issued_at",
        "19-03-2019",
        "invalid_date",
        "19-03-2019",
        id="issued DD-MM-YYYY",
    ),
    pytest.param(
        "identification_issued_at", FUTURE, "invalid_date", FUTURE, id="issued in the future"
    ),
    pytest.param("date_of_birth", "1999-13-01", "invalid_date", "1999-13-01", id="birth month 13"),
    pytest.param("date_of_birth", "1999-1-25", "invalid_date", "1999-1-25", id="birth short month"),
    pytest.param("date_of_birth", FUTURE, "invalid_date", FUTURE, id="birth in the future"),
    pytest.param("mobile_phone_number", "352888123", "invalid", "352888123", id="phone 9 digits"),
    pytest.param(
        "mobile_phone_number", "35288812345", "max_length", "35288812345", id="phone 11 digits"
    ),
    pytest.param(
        "mobile_phone_number",
        "+573528881234",
        "max_length",
        "+573528881234",
        id="phone with country code",
    ),
    pytest.param(
        "mobile_phone_number", "2528881234", "invalid", "2528881234", id="phone not starting 3"
    ),
    pytest.param(
        "mobile_phone_number", "35288a1234", "invalid", "35288a1234", id="phone with letter"
    ),
    pytest.param("email", "nobody", "invalid", "nobody", id="email without at"),
    pytest.param("email", "a@b", "invalid", "a@b", id="email without dot"),
    pytest.param(
        "email", "two words@example.com", "invalid", "two words@example.com", id="email space"
    ),
    pytest.param("email", "@example.com", "invalid", "@example.com", id="email without user"),
    pytest.param(
        "email",
        "x" * 243 + "@example.com",
        "max_length",
        "x" * 243 + "@example.com",
        id="email too long",
    ),
    pytest.param("sex", "X", "invalid_choice", "X", id="sex X"),
    pytest.param("sex", "m", "invalid_choice", "m", id="sex lower case"),
    pytest.param("sex", "MF", "max_length", "MF", id="sex too long"),
    pytest.param("names", "N" * 101, "max_length", "N" * 101, id="names too long"),
    pytest.param("first_last_name", "N" * 101, "max_length", "N" * 101, id="last name too long"),
    pytest.param(
        "second_last_names", "N" * 101, "max_length", "N" * 101, id="second last names too long"
    ),
]


@pytest.mark.parametrize(("field", "sent", "code", "value"), INVALID_HOLDERS)
async def test_create_account_answers_422_naming_the_bad_field(
    http: httpx.AsyncClient, caja: Caja, coop: Coop, field: str, sent: Any, code: str, value: Any
) -> None:
    if sent == FUTURE:
        sent = value = (bogota_today() + timedelta(days=2)).isoformat()
    before = await caja.counts()

    response = await http.post(
        f"{API}/accounts/create", json=holder(**{field: sent}), headers=coop.headers
    )

    assert_invalid(response, field, code, value)
    assert await caja.counts() == before


@pytest.mark.parametrize(
    "content", [b"[]", b'"text"', b"{", b""], ids=["array", "string", "broken", "empty"]
)
async def test_create_account_refuses_a_body_that_is_not_an_object(
    http: httpx.AsyncClient, caja: Caja, coop: Coop, content: bytes
) -> None:
    before = await caja.counts()

    response = await http.post(
        f"{API}/accounts/create",
        content=content,
        headers={**coop.headers, "Content-Type": "application/json"},
    )

    assert response.status_code == 422, response.text
    assert response.json()["error_code"] == "InvalidJSON"
    assert response.json()["field"] == "non_field_errors"
    assert await caja.counts() == before


@pytest.mark.parametrize("fault", ["down", "slow"])
async def test_create_account_answers_503_and_creates_nothing_when_the_bank_fails(
    http: httpx.AsyncClient, caja: Caja, coop: Coop, bank: SandboxBank, fault: str
) -> None:
    if fault == "down":
        bank.down = True
    else:
        bank.timeout, bank.delay = 0.01, 0.5
    body = holder()
    before = await caja.counts()

    response = await http.post(f"{API}/accounts/create", json=body, headers=coop.headers)

    assert response.status_code == 503, response.text
    assert response.json()["error_code"] == "TemporarilyUnavailable"
    assert await caja.counts() == before
    # Nothing was kept: once the bank answers, the same request opens the account.
    bank.down, bank.delay = False, 0.0
    retried = await http.post(f"{API}/accounts/create", json=body, headers=coop.headers)
    assert retried.status_code == 201, retried.text


# --- /accounts/balance ---------------------------------------------------------------------


async def test_balance_answers_every_field_confirmed_by_the_bank(
    http: httpx.AsyncClient, caja: Caja, coop: Coop, clock: Clock, bank_clock: Clock
) -> None:
    origin = await funded_account(http, caja.database, coop, "500.00")
    token = await open_account(http, coop)
    assert (await send(http, coop, transfer_body(origin, token, "120.50"))).status_code == 201
    moved = await send(http, coop, transfer_body(token, origin, "20.25", fee_amount="0.25"))
    assert moved.status_code == 201, moved.text
    number = await deposits.account_number(caja.database, token)

    body = await info(http, coop, token)

    assert body == {
        "token": token,
        "account_type": "deposito_electronico",
        "number": number,
        "balance": "100.00",
        "expected_balance": "100.00",
        "awaited_amount": "0.00",
        "overdraft_amount": "0.00",
        "deposited_this_month": "120.50",
        "withdrawn_this_month": "20.50",
        "account_status": "active",
        "updated_at": "2026-03-20T07:00:00.123456-05:00",
        "updated_from_source": True,
    }


async def test_balance_falls_back_to_the_last_sync_when_the_bank_is_down_or_slow(
    http: httpx.AsyncClient,
    caja: Caja,
    coop: Coop,
    bank: SandboxBank,
    clock: Clock,
    bank_clock: Clock,
) -> None:
    token = await funded_account(http, caja.database, coop, "42.00")
    created_at = "2026-03-15T10:00:00.000000-05:00"

    bank.down = True
    never_confirmed = await info(http, coop, token)
    assert (never_confirmed["updated_from_source"], never_confirmed["updated_at"]) == (
        False,
        created_at,
    )
    assert never_confirmed["balance"] == "42.00"

    bank.down = False
    confirmed = await info(http, coop, token)
    assert (confirmed["updated_from_source"], confirmed["updated_at"]) == (
        True,
        "2026-03-20T07:00:00.123456-05:00",
    )

    bank_clock.now = datetime(2026, 3, 21, tzinfo=UTC)  # the bank would say a later time
    bank.timeout, bank.delay = 0.01, 0.5
    slow = await info(http, coop, token)
    bank.timeout, bank.delay = 0.5, 0.0
    bank.down = True
    down = await info(http, coop, token)

    for stale in (slow, down):
        assert stale["updated_from_source"] is False
        assert stale["updated_at"] == "2026-03-20T07:00:00.123456-05:00"
        assert stale["balance"] == "42.00"
        assert stale["deposited_this_month"] == "42.00"


async def test_balance_shows_a_cancelled_account(
    http: httpx.AsyncClient, database: Database, coop: Coop
) -> None:
    token = await funded_account(http, database, coop, "10.00")

    await deposits.cancel(database, token)

    body = await info(http, coop, token)
    assert body["account_status"] == "cancelled"
    assert body["balance"] == "10.00"


@pytest.mark.parametrize("params", [{}, {"account_token": ""}, {"account_token": "  "}])
async def test_balance_without_an_account_token_is_422(
    http: httpx.AsyncClient, coop: Coop, params: dict[str, str]
) -> None:
    response = await http.get(f"{API}/accounts/balance", params=params, headers=coop.headers)

    assert_invalid(response, "account_token", "required", MISSING)


async def test_another_clients_account_answers_exactly_like_an_unknown_one(
    http: httpx.AsyncClient, database: Database, coop: Coop
) -> None:
    other = await coop_client(database)
    theirs = await funded_account(http, database, other, "10.00")
    unknown = "coopacc-" + "0" * 32

    answers = []
    for token in (theirs, unknown):
        response = await http.get(
            f"{API}/accounts/balance", params={"account_token": token}, headers=coop.headers
        )
        assert_invalid(response, "account_token", "AccountNotFound", token)
        answers.append({**response.json(), "value": None})

    assert answers[0] == answers[1]


# --- /transactions/create ------------------------------------------------------------------


async def test_a_transfer_answers_201_and_moves_the_money(
    http: httpx.AsyncClient, caja: Caja, coop: Coop, clock: Clock
) -> None:
    origin = await funded_account(http, caja.database, coop, "1000.00")
    destination = await open_account(http, coop)
    body = transfer_body(origin, destination, 100, unique_transfer_token="some-token.124:~_")

    response = await send(http, coop, body)

    assert response.status_code == 201, response.text
    answer = response.json()
    assert answer["token"].startswith("cooptx-")
    assert {k: v for k, v in answer.items() if k != "token"} == {
        "status": "approved",
        "idempotency_token": "some-token.124:~_",
        "origin_account": origin,
        "destination_account": destination,
        "amount": "100.00",
        "fee_amount": "0.00",
        "description": "Test transaction",
        "created_at": "2026-03-15T10:00:00.000000-05:00",
        "result_message": "Proceso Exitoso",
        "error_code": None,
        "channel": "wallet",
    }
    assert await balances(caja.database, origin, destination, FEES) == ["900.00", "100.00", "0.00"]
    assert (await caja.verify()).ok


@pytest.mark.parametrize(
    ("amount", "moved"),
    [("0.01", "0.01"), (1, "1.00"), ("250.5", "250.50"), ("999.99", "999.99")],
)
async def test_amounts_are_exact(
    http: httpx.AsyncClient, database: Database, coop: Coop, amount: Any, moved: str
) -> None:
    origin = await funded_account(http, database, coop, "1000.00")
    destination = await open_account(http, coop)

    response = await send(http, coop, transfer_body(origin, destination, amount))

    assert response.status_code == 201, response.text
    assert response.json()["amount"] == moved
    assert (await balances(database, destination)) == [moved]


async def test_a_json_number_with_a_fraction_is_read_exactly(
    http: httpx.AsyncClient, database: Database, coop: Coop
) -> None:
    origin = await funded_account(http, database, coop, "1.00")
    destination = await open_account(http, coop)
    body = transfer_body(origin, destination, "AMOUNT")
    raw = json.dumps(body).encode().replace(b'"AMOUNT"', b"0.29")

    response = await http.post(
        f"{API}/transactions/create",
        content=raw,
        headers={**coop.headers, "Content-Type": "application/json"},
    )

    assert response.status_code == 201, response.text
    assert await balances(database, origin, destination) == ["0.71", "0.29"]


@pytest.mark.parametrize(
    "retry",
    [
        {},
        {"amount": "999.00", "description": "other", "channel": "external", "fee_amount": "5"},
        {"destination_account": "<third>"},
    ],
    ids=["same body", "other amount and fields", "other destination"],
)
async def test_the_same_unique_transfer_token_answers_208_with_the_stored_transfer(
    http: httpx.AsyncClient, caja: Caja, coop: Coop, retry: dict[str, Any]
) -> None:
    origin = await funded_account(http, caja.database, coop, "1000.00")
    destination = await open_account(http, coop)
    third = await open_account(http, coop)
    body = transfer_body(origin, destination, "100.00", fee_amount="1.00")
    first = await send(http, coop, body)
    assert first.status_code == 201
    before = (await caja.counts(), await balances(caja.database, origin, destination, third, FEES))
    again = {k: (third if v == "<third>" else v) for k, v in {**body, **retry}.items()}

    response = await send(http, coop, again)

    assert response.status_code == 208, response.text
    assert response.json() == first.json()
    after = (await caja.counts(), await balances(caja.database, origin, destination, third, FEES))
    assert after == before
    assert before[1] == ["899.00", "100.00", "0.00", "1.00"]


async def test_two_clients_may_use_the_same_unique_transfer_token(
    http: httpx.AsyncClient, database: Database, coop: Coop
) -> None:
    other = await coop_client(database)
    mine = [await funded_account(http, database, coop, "10.00"), await open_account(http, coop)]
    theirs = [await funded_account(http, database, other, "10.00"), await open_account(http, other)]

    first = await send(http, coop, transfer_body(*mine, "1.00", unique_transfer_token="shared"))
    second = await send(http, other, transfer_body(*theirs, "2.00", unique_transfer_token="shared"))

    assert (first.status_code, second.status_code) == (201, 201)
    assert await balances(database, mine[1], theirs[1]) == ["1.00", "2.00"]


async def test_twenty_concurrent_requests_with_one_token_make_one_transfer(
    http: httpx.AsyncClient, caja: Caja, coop: Coop
) -> None:
    origin = await funded_account(http, caja.database, coop, "1000.00")
    destination = await open_account(http, coop)
    body = transfer_body(origin, destination, "100.00", fee_amount="1.00")
    before = await caja.counts()

    answers = await asyncio.gather(*(send(http, coop, body) for _ in range(20)))

    assert Counter(answer.status_code for answer in answers) == {201: 1, 208: 19}
    assert len({answer.json()["token"] for answer in answers}) == 1
    transfers_, entries_, accounts_ = await caja.counts()
    # The transfer and its fee, each with two entries.
    assert (transfers_, entries_, accounts_) == (before[0] + 2, before[1] + 4, before[2])
    assert await balances(caja.database, origin, destination, FEES) == [
        "899.00",
        "100.00",
        "1.00",
    ]
    assert len(await history(http, coop, destination, "2000-01-01", "2099-12-31")) == 1
    assert (await caja.verify()).ok


async def test_a_transfer_without_funds_is_409_and_moves_nothing(
    http: httpx.AsyncClient, caja: Caja, coop: Coop
) -> None:
    origin = await funded_account(http, caja.database, coop, "99.99")
    destination = await open_account(http, coop)
    before = await caja.counts()

    response = await send(http, coop, transfer_body(origin, destination, "100.00"))

    assert response.status_code == 409, response.text
    assert response.json()["error_code"] == "InsufficientFunds"
    assert response.json()["error_message"]
    assert await caja.counts() == before
    assert await balances(caja.database, origin, destination) == ["99.99", "0.00"]


@pytest.mark.parametrize("cancelled", ["origin", "destination"])
async def test_a_transfer_with_a_cancelled_account_is_409(
    http: httpx.AsyncClient, caja: Caja, coop: Coop, cancelled: str
) -> None:
    origin = await funded_account(http, caja.database, coop, "100.00")
    destination = await funded_account(http, caja.database, coop, "100.00")
    await deposits.cancel(caja.database, origin if cancelled == "origin" else destination)
    before = await caja.counts()

    response = await send(http, coop, transfer_body(origin, destination, "10.00"))

    assert response.status_code == 409, response.text
    assert response.json()["error_code"] == "AccountCancelled"
    assert await caja.counts() == before
    assert await balances(caja.database, origin, destination) == ["100.00", "100.00"]


INVALID_TRANSFERS: list[Any] = [
    pytest.param("amount", "1.001", "invalid_amount", "1.001", id="amount three decimals"),
    pytest.param("amount", "0.00", "invalid_amount", "0.00", id="amount zero text"),
    pytest.param("amount", 0, "invalid_amount", 0, id="amount zero"),
    pytest.param("amount", -5, "invalid_amount", -5, id="amount negative"),
    pytest.param("amount", "-5.00", "invalid_amount", "-5.00", id="amount negative text"),
    pytest.param("amount", "NaN", "invalid_amount", "NaN", id="amount NaN text"),
    pytest.param("amount", "Infinity", "invalid_amount", "Infinity", id="amount infinity text"),
    pytest.param("amount", "abc", "invalid_amount", "abc", id="amount garbage"),
    pytest.param("amount", "1,000.00", "invalid_amount", "1,000.00", id="amount with comma"),
    pytest.param("amount", "", "invalid_amount", "", id="amount empty"),
    pytest.param("amount", True, "invalid_amount", True, id="amount bool"),
    pytest.param("amount", [100], "invalid_amount", "[100]", id="amount list"),
    pytest.param("amount", 10**16, "invalid_amount", 10**16, id="amount too large"),
    pytest.param("amount", MISSING, "required", MISSING, id="amount missing"),
    pytest.param("amount", None, "required", MISSING, id="amount null"),
    pytest.param("fee_amount", "-1.00", "invalid_amount", "-1.00", id="fee negative"),
    pytest.param("fee_amount", "0.001", "invalid_amount", "0.001", id="fee three decimals"),
    pytest.param("fee_amount", "free", "invalid_amount", "free", id="fee garbage"),
    pytest.param("origin_account", MISSING, "required", MISSING, id="origin missing"),
    pytest.param("destination_account", MISSING, "required", MISSING, id="destination missing"),
    pytest.param("unique_transfer_token", MISSING, "required", MISSING, id="token missing"),
    pytest.param("channel", MISSING, "required", MISSING, id="channel missing"),
    pytest.param("description", MISSING, "required", MISSING, id="description missing"),
    pytest.param("origin_account", "", "blank", "", id="origin blank"),
    pytest.param("channel", " ", "blank", "", id="channel blank"),
    pytest.param("description", "  ", "blank", "", id="description blank"),
    pytest.param("unique_transfer_token", "", "blank", "", id="token blank"),
    pytest.param("origin_account", 12, "invalid", 12, id="origin as int"),
    pytest.param(
        "unique_transfer_token", "has space", "invalid", "has space", id="token with space"
    ),
    pytest.param("unique_transfer_token", "t" * 65, "max_length", "t" * 65, id="token too long"),
    pytest.param("description", "d" * 256, "max_length", "d" * 256, id="description too long"),
    pytest.param("channel", "c" * 41, "max_length", "c" * 41, id="channel too long"),
    pytest.param(
        "origin_account",
        "coopacc-unknown",
        "AccountNotFound",
        "coopacc-unknown",
        id="origin unknown",
    ),
    pytest.param(
        "destination_account",
        "coopacc-unknown",
        "AccountNotFound",
        "coopacc-unknown",
        id="destination unknown",
    ),
    pytest.param(
        "origin_account", "<theirs>", "AccountNotFound", "<theirs>", id="origin of another client"
    ),
    pytest.param(
        "destination_account",
        "<theirs>",
        "AccountNotFound",
        "<theirs>",
        id="destination of another client",
    ),
    pytest.param(
        "destination_account",
        "<origin>",
        "SameAccount",
        "<origin>",
        id="same origin and destination",
    ),
]


@pytest.mark.parametrize(("field", "sent", "code", "value"), INVALID_TRANSFERS)
async def test_a_transfer_with_bad_data_is_422_and_moves_nothing(
    http: httpx.AsyncClient, caja: Caja, coop: Coop, field: str, sent: Any, code: str, value: Any
) -> None:
    other = await coop_client(caja.database)
    theirs = await funded_account(http, caja.database, other, "1000.00")
    origin = await funded_account(http, caja.database, coop, "1000.00")
    destination = await open_account(http, coop)
    names = {"<theirs>": theirs, "<origin>": origin}
    sent, value = (names.get(x, x) if isinstance(x, str) else x for x in (sent, value))
    before = (await caja.counts(), await balances(caja.database, origin, destination, theirs))

    response = await send(http, coop, transfer_body(origin, destination, **{field: sent}))

    assert_invalid(response, field, code, value)
    after = (await caja.counts(), await balances(caja.database, origin, destination, theirs))
    assert after == before


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
async def test_a_non_finite_json_number_is_422_and_moves_nothing(
    http: httpx.AsyncClient, caja: Caja, coop: Coop, literal: bytes
) -> None:
    origin = await funded_account(http, caja.database, coop, "1000.00")
    destination = await open_account(http, coop)
    raw = json.dumps(transfer_body(origin, destination, "AMOUNT")).encode()
    before = await caja.counts()

    response = await http.post(
        f"{API}/transactions/create",
        content=raw.replace(b'"AMOUNT"', literal),
        headers={**coop.headers, "Content-Type": "application/json"},
    )

    assert response.status_code == 422, response.text
    assert response.json()["error_code"] == "InvalidJSON"
    assert await caja.counts() == before


# --- fees ----------------------------------------------------------------------------------


async def test_a_fee_moves_with_its_transfer_or_nothing_moves(
    http: httpx.AsyncClient, caja: Caja, coop: Coop
) -> None:
    origin = await funded_account(http, caja.database, coop, "1000.00")
    destination = await open_account(http, coop)

    paid = await send(http, coop, transfer_body(origin, destination, "100.00", fee_amount="5.50"))

    assert paid.status_code == 201, paid.text
    assert paid.json()["fee_amount"] == "5.50"
    assert await balances(caja.database, origin, destination, FEES) == [
        "894.50",
        "100.00",
        "5.50",
    ]
    before = await caja.counts()

    # 890 fits in the 894.50 left, 890 + 10 does not.
    refused = await send(
        http, coop, transfer_body(origin, destination, "890.00", fee_amount="10.00")
    )

    assert refused.status_code == 409, refused.text
    assert refused.json()["error_code"] == "InsufficientFunds"
    assert await caja.counts() == before
    assert await balances(caja.database, origin, destination, FEES) == [
        "894.50",
        "100.00",
        "5.50",
    ]
    exact = await send(http, coop, transfer_body(origin, destination, "884.50", fee_amount="10.00"))
    assert exact.status_code == 201, exact.text
    assert await balances(caja.database, origin, destination, FEES) == [
        "0.00",
        "984.50",
        "15.50",
    ]
    assert (await caja.verify()).ok


# --- limits --------------------------------------------------------------------------------


async def test_the_monthly_withdrawal_limit_counts_fees_and_holds_at_its_edge(
    http: httpx.AsyncClient, caja: Caja, coop: Coop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAJA_DEPOSIT_MONTHLY_OUT", "1000")
    origin = await funded_account(http, caja.database, coop, "5000.00")
    destination = await open_account(http, coop)
    first = await send(http, coop, transfer_body(origin, destination, "600.00", fee_amount="10"))
    assert first.status_code == 201, first.text

    # 380 + 10 more would make 1000 without the fees; with them it is 1001.
    over_by_fee = await send(
        http, coop, transfer_body(origin, destination, "381.00", fee_amount="10")
    )
    assert over_by_fee.status_code == 409, over_by_fee.text
    assert over_by_fee.json()["error_code"] == "MonthlyWithdrawalLimitExceeded"

    at_limit = await send(http, coop, transfer_body(origin, destination, "380.00", fee_amount="10"))
    assert at_limit.status_code == 201, at_limit.text
    before = await caja.counts()

    one_more = await send(http, coop, transfer_body(origin, destination, "1.00"))

    assert one_more.status_code == 409, one_more.text
    assert one_more.json()["error_code"] == "MonthlyWithdrawalLimitExceeded"
    assert await caja.counts() == before
    assert await balances(caja.database, origin, destination, FEES) == [
        "4000.00",
        "980.00",
        "20.00",
    ]
    assert (await info(http, coop, origin))["withdrawn_this_month"] == "1000.00"
    # Money may still come in.
    back = await send(http, coop, transfer_body(destination, origin, "1.00"))
    assert back.status_code == 201, back.text


async def test_the_monthly_deposit_limit_holds_at_its_edge(
    http: httpx.AsyncClient, caja: Caja, coop: Coop, monkeypatch: pytest.MonkeyPatch
) -> None:
    origin = await funded_account(http, caja.database, coop, "5000.00")
    destination = await open_account(http, coop)
    monkeypatch.setenv("CAJA_DEPOSIT_MONTHLY_IN", "1000")
    assert (await send(http, coop, transfer_body(origin, destination, "899.00"))).status_code == 201
    await receive(caja.database, destination, "100.00")  # from another bank: 999.00

    over = await send(http, coop, transfer_body(origin, destination, "2.00"))
    assert over.status_code == 409, over.text
    assert over.json()["error_code"] == "MonthlyDepositLimitExceeded"

    at_limit = await send(http, coop, transfer_body(origin, destination, "1.00"))
    assert at_limit.status_code == 201, at_limit.text
    before = await caja.counts()

    one_more = await send(http, coop, transfer_body(origin, destination, "1.00"))

    assert one_more.status_code == 409, one_more.text
    assert one_more.json()["error_code"] == "MonthlyDepositLimitExceeded"
    with pytest.raises(LimitExceeded) as refused:
        await receive(caja.database, destination, "1.00")
    assert refused.value.code == "MonthlyDepositLimitExceeded"
    assert await caja.counts() == before
    assert await balances(caja.database, origin, destination) == ["4100.00", "1000.00"]
    assert (await info(http, coop, destination))["deposited_this_month"] == "1000.00"


async def test_the_balance_cap_holds_at_its_edge(
    http: httpx.AsyncClient, caja: Caja, coop: Coop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAJA_DEPOSIT_MAX_BALANCE", "1000")
    origin = await funded_account(http, caja.database, coop, "900.00")
    destination = await funded_account(http, caja.database, coop, "400.00")

    at_cap = await send(http, coop, transfer_body(origin, destination, "600.00", fee_amount="5"))
    assert at_cap.status_code == 201, at_cap.text
    before = await caja.counts()

    one_more = await send(http, coop, transfer_body(origin, destination, "1.00"))

    assert one_more.status_code == 409, one_more.text
    assert one_more.json()["error_code"] == "BalanceLimitExceeded"
    assert await caja.counts() == before
    assert await balances(caja.database, origin, destination) == ["295.00", "1000.00"]
    # The cap is on the balance: once money leaves, it may come in again.
    assert (await send(http, coop, transfer_body(destination, origin, "1.00"))).status_code == 201
    assert (await send(http, coop, transfer_body(origin, destination, "1.00"))).status_code == 201


LIMIT_VARIABLES = {
    "CAJA_DEPOSIT_MONTHLY_OUT",
    "CAJA_DEPOSIT_MONTHLY_IN",
    "CAJA_DEPOSIT_MAX_BALANCE",
}


@pytest.mark.parametrize(
    ("variable", "code"),
    [
        ("CAJA_DEPOSIT_MONTHLY_OUT", "MonthlyWithdrawalLimitExceeded"),
        ("CAJA_DEPOSIT_MONTHLY_IN", "MonthlyDepositLimitExceeded"),
        ("CAJA_DEPOSIT_MAX_BALANCE", "BalanceLimitExceeded"),
    ],
)
async def test_each_default_limit_is_210_50_uvt(
    http: httpx.AsyncClient,
    caja: Caja,
    coop: Coop,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    code: str,
) -> None:
    monkeypatch.delenv("CAJA_DEPOSIT_UVT", raising=False)
    for name in LIMIT_VARIABLES:
        monkeypatch.setenv(name, "99999999")
    origin = await funded_account(http, caja.database, coop, "20000000.00")
    spare_origin = await funded_account(http, caja.database, coop, "20000000.00")
    target = await open_account(http, coop)
    spare_target = await open_account(http, coop)
    amount = "11024727.00"  # 210.50 UVT of 52,374 pesos
    if variable == "CAJA_DEPOSIT_MAX_BALANCE":
        await receive(caja.database, target, "11024726.00")
        amount = "1.00"
    monkeypatch.delenv(variable)  # only this limit at its default

    at_limit = await send(http, coop, transfer_body(origin, target, amount))
    if variable == "CAJA_DEPOSIT_MONTHLY_OUT":
        one_more = await send(http, coop, transfer_body(origin, spare_target, "1.00"))
    else:
        one_more = await send(http, coop, transfer_body(spare_origin, target, "1.00"))

    assert at_limit.status_code == 201, at_limit.text
    assert one_more.status_code == 409, one_more.text
    assert one_more.json()["error_code"] == code
    assert (await balances(caja.database, target))[0] == "11024727.00"


async def test_monthly_totals_restart_with_the_bogota_month(
    http: httpx.AsyncClient,
    caja: Caja,
    coop: Coop,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CAJA_DEPOSIT_MONTHLY_OUT", "1000")
    clock.now = datetime(2026, 3, 10, 9, 0, tzinfo=BOGOTA)
    origin = await funded_account(http, caja.database, coop, "5000.00")
    destination = await open_account(http, coop)
    assert (await send(http, coop, transfer_body(origin, destination, "400.00"))).status_code == 201

    # Still March in Bogotá, April in UTC: March's totals apply.
    clock.now = MARCH_END
    march = await send(http, coop, transfer_body(origin, destination, "600.00"))
    assert march.status_code == 201, march.text
    refused = await send(http, coop, transfer_body(origin, destination, "1.00"))
    assert refused.status_code == 409
    assert refused.json()["error_code"] == "MonthlyWithdrawalLimitExceeded"
    origin_march = await info(http, coop, origin)
    destination_march = await info(http, coop, destination)
    assert (origin_march["deposited_this_month"], origin_march["withdrawn_this_month"]) == (
        "5000.00",
        "1000.00",
    )
    assert (
        destination_march["deposited_this_month"],
        destination_march["withdrawn_this_month"],
    ) == ("1000.00", "0.00")

    # April in Bogotá: the totals start again.
    clock.now = APRIL_START
    fresh = await info(http, coop, origin)
    assert (fresh["deposited_this_month"], fresh["withdrawn_this_month"]) == ("0.00", "0.00")
    assert fresh["balance"] == "4000.00"
    april = await send(http, coop, transfer_body(origin, destination, "1000.00"))
    assert april.status_code == 201, april.text
    again = await send(http, coop, transfer_body(origin, destination, "1.00"))
    assert again.status_code == 409
    assert again.json()["error_code"] == "MonthlyWithdrawalLimitExceeded"
    origin_april = await info(http, coop, origin)
    destination_april = await info(http, coop, destination)
    assert origin_april["withdrawn_this_month"] == "1000.00"
    assert destination_april["deposited_this_month"] == "1000.00"
    assert destination_april["balance"] == "2000.00"
    # Back in March (a late read): only March's movements count there.
    clock.now = MARCH_END
    assert (await info(http, coop, origin))["withdrawn_this_month"] == "1000.00"
    assert (await info(http, coop, destination))["deposited_this_month"] == "1000.00"
    assert (await caja.verify()).ok


async def test_a_late_evening_counts_in_its_bogota_month(
    http: httpx.AsyncClient,
    caja: Caja,
    coop: Coop,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock.now = datetime(2026, 3, 1, 0, 30, tzinfo=BOGOTA)  # 05:30 UTC, March everywhere
    origin = await funded_account(http, caja.database, coop, "1000.00")
    destination = await open_account(http, coop)
    monkeypatch.setenv("CAJA_DEPOSIT_MONTHLY_IN", "100")
    assert (await send(http, coop, transfer_body(origin, destination, "100.00"))).status_code == 201

    clock.now = datetime(2026, 2, 28, 23, 30, tzinfo=BOGOTA)  # March 1 04:30 UTC
    february = await send(http, coop, transfer_body(origin, destination, "100.00"))

    assert february.status_code == 201, february.text
    assert (await info(http, coop, destination))["deposited_this_month"] == "100.00"
    clock.now = datetime(2026, 3, 31, 23, 59, tzinfo=BOGOTA)
    march = await send(http, coop, transfer_body(origin, destination, "0.01"))
    assert march.status_code == 409
    assert march.json()["error_code"] == "MonthlyDepositLimitExceeded"


# --- /transactions/revert ------------------------------------------------------------------


async def test_a_revert_restores_both_balances_and_the_fee_exactly_once(
    http: httpx.AsyncClient, caja: Caja, coop: Coop, clock: Clock
) -> None:
    origin = await funded_account(http, caja.database, coop, "1000.00")
    destination = await funded_account(http, caja.database, coop, "50.00")
    body = transfer_body(origin, destination, "123.45", fee_amount="1.55")
    created = await send(http, coop, body)
    assert created.status_code == 201, created.text
    assert await balances(caja.database, origin, destination, FEES) == [
        "875.00",
        "173.45",
        "1.55",
    ]
    clock.now += timedelta(minutes=5)

    reverted = await revert(http, coop, body["unique_transfer_token"])

    assert reverted.status_code == 200, reverted.text
    assert reverted.json() == {**created.json(), "status": "reverted"}
    assert await balances(caja.database, origin, destination, FEES) == [
        "1000.00",
        "50.00",
        "0.00",
    ]
    before = await caja.counts()

    twice = await revert(http, coop, body["unique_transfer_token"])

    assert twice.status_code == 409, twice.text
    assert twice.json()["error_code"] == "AlreadyReverted"
    assert await caja.counts() == before
    assert await balances(caja.database, origin, destination, FEES) == [
        "1000.00",
        "50.00",
        "0.00",
    ]
    funding, shown = reversed(await history(http, coop, origin, "2026-03-15", "2026-03-15"))
    assert (funding["channel"], funding["status"]) == ("external", "approved")
    assert (shown["status"], shown["direction"], shown["amount"]) == (
        "reverted",
        "withdrawal",
        "123.45",
    )
    seen, _ = await history(http, coop, destination, "2026-03-15", "2026-03-15")
    assert (seen["status"], seen["direction"]) == ("reverted", "deposit")
    # The token stays used: a retry answers the reverted transfer, nothing moves.
    replay = await send(http, coop, body)
    assert replay.status_code == 208
    assert replay.json()["status"] == "reverted"
    assert await caja.counts() == before
    assert (await caja.verify()).ok


async def test_a_revert_the_destination_cannot_pay_back_is_409_and_moves_nothing(
    http: httpx.AsyncClient, caja: Caja, coop: Coop
) -> None:
    origin = await funded_account(http, caja.database, coop, "1000.00")
    destination = await open_account(http, coop)
    onward = await open_account(http, coop)
    body = transfer_body(origin, destination, "100.00", fee_amount="2.00")
    assert (await send(http, coop, body)).status_code == 201
    assert (await send(http, coop, transfer_body(destination, onward, "0.01"))).status_code == 201
    before = (await caja.counts(), await balances(caja.database, origin, destination, onward, FEES))

    response = await revert(http, coop, body["unique_transfer_token"])

    assert response.status_code == 409, response.text
    assert response.json()["error_code"] == "DestinationLacksFunds"
    after = (await caja.counts(), await balances(caja.database, origin, destination, onward, FEES))
    assert after == before
    assert before[1] == ["898.00", "99.99", "0.01", "2.00"]
    # Once the money is back, the revert goes through, fee included.
    assert (await send(http, coop, transfer_body(onward, destination, "0.01"))).status_code == 201
    assert (await revert(http, coop, body["unique_transfer_token"])).status_code == 200
    assert await balances(caja.database, origin, destination, onward, FEES) == [
        "1000.00",
        "0.00",
        "0.00",
        "0.00",
    ]
    assert (await caja.verify()).ok


async def test_a_deposit_from_another_bank_cannot_be_reverted(
    http: httpx.AsyncClient, caja: Caja, coop: Coop
) -> None:
    token = await open_account(http, coop)
    received = await receive(caja.database, token, "200000.00")
    [shown] = await history(http, coop, token, "2000-01-01", "2099-12-31")
    before = await caja.counts()

    response = await revert(http, coop, shown["idempotency_token"])

    assert response.status_code == 409, response.text
    assert response.json()["error_code"] == "ExternalDepositNotRevertible"
    assert shown["idempotency_token"] == received.coopcentral_id
    assert await caja.counts() == before
    assert await balances(caja.database, token) == ["200000.00"]


@pytest.mark.parametrize(
    ("body", "code", "value"),
    [
        ({}, "required", MISSING),
        ({"idempotency_token": None}, "required", MISSING),
        ({"idempotency_token": ""}, "blank", ""),
        ({"idempotency_token": 5}, "invalid", 5),
        ({"idempotency_token": "never-used"}, "TransactionNotFound", "never-used"),
        ({"idempotency_token": "<theirs>"}, "TransactionNotFound", "<theirs>"),
    ],
    ids=["missing", "null", "blank", "int", "unknown", "another client's"],
)
async def test_a_revert_of_an_unknown_transfer_is_422(
    http: httpx.AsyncClient,
    caja: Caja,
    coop: Coop,
    body: dict[str, Any],
    code: str,
    value: Any,
) -> None:
    other = await coop_client(caja.database)
    theirs = transfer_body(
        await funded_account(http, caja.database, other, "10.00"),
        await open_account(http, other),
        "1.00",
    )
    assert (await send(http, other, theirs)).status_code == 201
    if body.get("idempotency_token") == "<theirs>":
        body = {"idempotency_token": theirs["unique_transfer_token"]}
        value = theirs["unique_transfer_token"]
    before = await caja.counts()

    response = await http.post(f"{API}/transactions/revert", json=body, headers=coop.headers)

    assert_invalid(response, "idempotency_token", code, value)
    assert await caja.counts() == before


# --- /transactions -------------------------------------------------------------------------


async def test_history_lists_the_accounts_transfers_in_bogota_days_newest_first(
    http: httpx.AsyncClient, caja: Caja, coop: Coop, clock: Clock
) -> None:
    clock.now = datetime(2026, 2, 20, 8, 0, tzinfo=BOGOTA)
    a = await funded_account(http, caja.database, coop, "1000.00")
    b = await open_account(http, coop)
    c = await open_account(http, coop)

    clock.now = datetime(2026, 3, 15, 10, 0, 0, 250000, tzinfo=BOGOTA)
    first = transfer_body(a, b, "100.00", fee_amount="2.00", description="first")
    assert (await send(http, coop, first)).status_code == 201
    clock.now = MARCH_END
    external = await receive(
        caja.database, a, "50.00", sender_name="Alonso Herrera", sender_id_number="1089876456"
    )
    clock.now = datetime(2026, 3, 31, 23, 45, tzinfo=BOGOTA)
    back = transfer_body(b, a, "20.00", description="back", channel="external")
    assert (await send(http, coop, back)).status_code == 201
    clock.now = APRIL_START
    later = transfer_body(a, c, "10.00", description="later")
    assert (await send(http, coop, later)).status_code == 201
    assert (await revert(http, coop, later["unique_transfer_token"])).status_code == 200
    not_a = transfer_body(b, c, "5.00", description="not a")
    assert (await send(http, coop, not_a)).status_code == 201

    march = await history(http, coop, a, "2026-03-01", "2026-03-31")

    assert [item["idempotency_token"] for item in march] == [
        back["unique_transfer_token"],
        external.coopcentral_id,
        first["unique_transfer_token"],
    ]
    newest, received, oldest = march
    assert newest["token"].startswith("cooptx-")
    assert len(newest["coopcentral_id"]) == 30
    assert newest["coopcentral_id"].isdigit()
    assert {k: v for k, v in newest.items() if k not in ("token", "coopcentral_id")} == {
        "status": "approved",
        "direction": "deposit",
        "idempotency_token": back["unique_transfer_token"],
        "channel": "external",
        "amount": "20.00",
        "description": "back",
        "created_at": "2026-03-31T23:45:00.000000-05:00",
        "origin_bank": None,
    }
    assert {k: v for k, v in received.items() if k != "token"} == {
        "status": "approved",
        "direction": "deposit",
        "idempotency_token": external.coopcentral_id,
        "channel": "external",
        "coopcentral_id": external.coopcentral_id,
        "amount": "50.00",
        "description": "NC TRANSACCION ELECT",
        "created_at": "2026-03-31T23:30:00.000000-05:00",
        "origin_bank": {"name": "BANCOLOMBIA", "slug": "bancolombia"},
        "sender_data": {"customer_name": "Alonso Herrera", "customer_id_number": "1089876456"},
    }
    assert (oldest["direction"], oldest["status"], oldest["channel"], oldest["amount"]) == (
        "withdrawal",
        "approved",
        "wallet",
        "100.00",
    )
    assert oldest["created_at"] == "2026-03-15T10:00:00.250000-05:00"
    assert "sender_data" not in oldest
    assert len({item["coopcentral_id"] for item in march}) == 3

    # The last Bogotá day of March holds 23:30 and 23:45 (already April in UTC).
    last_day = await history(http, coop, a, "2026-03-31", "2026-03-31")
    assert [item["description"] for item in last_day] == ["back", "NC TRANSACCION ELECT"]
    april = await history(http, coop, a, "2026-04-01", "2026-04-30")
    assert [(item["description"], item["status"], item["direction"]) for item in april] == [
        ("later", "reverted", "withdrawal")
    ]
    assert await history(http, coop, a, "2026-03-16", "2026-03-30") == []
    [funding] = await history(http, coop, a, "2026-02-01", "2026-02-28")
    assert (funding["amount"], funding["direction"], funding["created_at"]) == (
        "1000.00",
        "deposit",
        "2026-02-20T08:00:00.000000-05:00",
    )
    assert await history(http, coop, a, "2026-04-02", "2026-04-02") == []
    seen_by_b = await history(http, coop, b, "2026-01-01", "2026-12-31")
    assert [(item["description"], item["direction"]) for item in seen_by_b] == [
        ("not a", "withdrawal"),
        ("back", "withdrawal"),
        ("first", "deposit"),
    ]
    seen_by_c = await history(http, coop, c, "2026-04-01", "2026-04-01")
    assert [(item["description"], item["direction"], item["status"]) for item in seen_by_c] == [
        ("not a", "deposit", "approved"),
        ("later", "deposit", "reverted"),
    ]
    assert await balances(caja.database, a, b, c, FEES) == ["968.00", "75.00", "5.00", "2.00"]
    assert (await caja.verify()).ok


async def test_history_of_an_account_without_transfers_is_empty(
    http: httpx.AsyncClient, database: Database, coop: Coop
) -> None:
    token = await open_account(http, coop)
    origin = await funded_account(http, database, coop, "10.00")
    destination = await open_account(http, coop)
    assert (await send(http, coop, transfer_body(origin, destination, "1.00"))).status_code == 201

    assert await history(http, coop, token, "2000-01-01", "2099-12-31") == []
    assert len(await history(http, coop, origin, "2000-01-01", "2099-12-31")) == 2


@pytest.mark.parametrize(
    ("params", "field", "code", "value"),
    [
        ({"account_token": MISSING}, "account_token", "required", MISSING),
        ({"account_token": ""}, "account_token", "required", MISSING),
        ({"initial_date": MISSING}, "initial_date", "required", MISSING),
        ({"final_date": MISSING}, "final_date", "required", MISSING),
        ({"initial_date": ""}, "initial_date", "required", MISSING),
        ({"initial_date": "2026-13-01"}, "initial_date", "invalid_date", "2026-13-01"),
        ({"initial_date": "yesterday"}, "initial_date", "invalid_date", "yesterday"),
        ({"final_date": "2026-02-30"}, "final_date", "invalid_date", "2026-02-30"),
        ({"final_date": "31/03/2026"}, "final_date", "invalid_date", "31/03/2026"),
        (
            {"initial_date": "2026-04-01", "final_date": "2026-03-31"},
            "initial_date",
            "invalid_range",
            "2026-04-01",
        ),
        (
            {"account_token": "coopacc-unknown"},
            "account_token",
            "AccountNotFound",
            "coopacc-unknown",
        ),
        ({"account_token": "<theirs>"}, "account_token", "AccountNotFound", "<theirs>"),
    ],
    ids=[
        "account missing",
        "account blank",
        "initial missing",
        "final missing",
        "initial blank",
        "initial month 13",
        "initial word",
        "final Feb 30",
        "final DD/MM/YYYY",
        "initial after final",
        "unknown account",
        "another client's account",
    ],
)
async def test_history_with_bad_parameters_is_422(
    http: httpx.AsyncClient,
    database: Database,
    coop: Coop,
    params: dict[str, Any],
    field: str,
    code: str,
    value: Any,
) -> None:
    other = await coop_client(database)
    theirs = await funded_account(http, database, other, "10.00")
    mine = await open_account(http, coop)
    query = apply(
        {"account_token": mine, "initial_date": "2026-03-01", "final_date": "2026-03-31"}, params
    )
    if query.get("account_token") == "<theirs>":
        query["account_token"] = value = theirs

    response = await http.get(f"{API}/transactions", params=query, headers=coop.headers)

    assert_invalid(response, field, code, value)


# --- the whole ledger ----------------------------------------------------------------------


async def test_the_ledger_verifies_after_a_month_of_deposits(
    http: httpx.AsyncClient, caja: Caja, coop: Coop
) -> None:
    a = await funded_account(http, caja.database, coop, "10000.00")
    b = await open_account(http, coop)
    c = await open_account(http, coop)
    await receive(caja.database, b, "3000.00", bank_slug="davivienda")
    tokens = []
    for index, (origin, destination, amount, fee) in enumerate(
        [(a, b, "1500.00", "3.00"), (b, c, "2000.00", "0"), (c, a, "700.00", "1.50")]
    ):
        body = transfer_body(origin, destination, amount, fee_amount=fee)
        assert (await send(http, coop, body)).status_code == 201, index
        tokens.append(body["unique_transfer_token"])
    assert (await revert(http, coop, tokens[2])).status_code == 200
    assert (await revert(http, coop, tokens[0])).status_code == 200

    report = await caja.verify()

    assert report.ok, [check for check in report.checks if check.violations]
    assert await balances(caja.database, a, b, c, FEES) == [
        "10000.00",
        "1000.00",
        "2000.00",
        "0.00",
    ]


async def test_a_clients_token_equal_to_a_banks_id_is_a_new_transfer(
    http: httpx.AsyncClient, database: Database, coop: Coop
) -> None:
    origin = await funded_account(http, database, coop)
    received = await receive(database, origin, "5000.00")
    destination = await open_account(http, coop)

    response = await send(
        http,
        coop,
        transfer_body(origin, destination, unique_transfer_token=received.coopcentral_id),
    )

    assert response.status_code == 201, response.text
    assert await balances(database, origin, destination) == ["4900.00", "100.00"]
    # Reverting by that token reverts the client's transfer, not the bank's deposit.
    reverted = await revert(http, coop, received.coopcentral_id)
    assert reverted.status_code == 200, reverted.text
    assert await balances(database, origin, destination) == ["5000.00", "0.00"]


async def test_a_transfer_touching_a_cancelled_account_cannot_be_reverted(
    http: httpx.AsyncClient, database: Database, coop: Coop
) -> None:
    origin = await funded_account(http, database, coop, "5000.00")
    destination = await open_account(http, coop)
    body = transfer_body(origin, destination)
    assert (await send(http, coop, body)).status_code == 201
    await deposits.cancel(database, destination)

    response = await revert(http, coop, body["unique_transfer_token"])

    assert response.status_code == 409
    assert response.json()["error_code"] == "AccountCancelled"
    assert await balances(database, origin, destination) == ["4900.00", "100.00"]


# --- 5XX: nothing changed, safe to retry ---------------------------------------------------


def _fail(*_args: Any, **_kwargs: Any) -> None:
    raise OperationalError("COMMIT", {}, Exception("injected"))


@pytest.mark.parametrize("endpoint", ["create", "transfer", "revert"])
async def test_a_write_whose_commit_fails_answers_503_changes_nothing_and_can_be_retried(
    http: httpx.AsyncClient, caja: Caja, coop: Coop, world: World, endpoint: str
) -> None:
    method, path, options = request_for(endpoint, world)
    before = await caja.counts()
    money = await balances(caja.database, world.origin, world.destination)

    with listening(caja.database, "commit", _fail):
        failed = await http.request(method, f"{API}{path}", headers=coop.headers, **options)

    assert failed.status_code == 503, failed.text
    assert failed.json()["error_code"] == "TemporarilyUnavailable"
    assert await caja.counts() == before
    assert await balances(caja.database, world.origin, world.destination) == money
    retried = await http.request(method, f"{API}{path}", headers=coop.headers, **options)
    assert retried.status_code in (200, 201), retried.text
    assert (await caja.verify()).ok


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_every_endpoint_answers_503_while_the_database_fails(
    http: httpx.AsyncClient, caja: Caja, coop: Coop, world: World, endpoint: str
) -> None:
    method, path, options = request_for(endpoint, world)

    with listening(caja.database, "before_cursor_execute", _fail):
        failed = await http.request(method, f"{API}{path}", headers=coop.headers, **options)

    assert failed.status_code == 503, failed.text
    assert set(failed.json()) == {"error_code", "error_message"}
    answered = await http.request(method, f"{API}{path}", headers=coop.headers, **options)
    assert answered.status_code in (200, 201), answered.text
