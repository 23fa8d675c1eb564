"""The wallet (/api/wallet/v1) over HTTP, step by step as the send guide shows it: sign-up
and log-in, the profile, balances, finding and saving contacts, sending money and the
payment list, the common token errors, and concurrent sends from one account."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from caja.app import create_app, services_of
from caja.db.engine import Database
from caja.ledger.tables import accounts
from caja.ops.funding import fund
from caja.wallet import service as wallet_service
from caja.wallet.tables import wallet_accounts, wallet_balances, wallet_contacts, wallet_profiles
from tests.helpers import Caja, Clock

pytestmark = pytest.mark.anyio

API = "/api/wallet/v1"
SECRET = "wallet-tests-secret-" + "x" * 24
WRONG_SECRET = "not-the-wallet-secret-" + "y" * 24
PASSWORD = "correct horse battery"
MISSING: Any = object()
_serial = itertools.count(1)


# --- fixtures and helpers ------------------------------------------------------------------


@pytest.fixture
def wallet_env() -> dict[str, str]:
    """The wallet's settings for the module's app; a test parametrizes it to change them."""
    return {"CAJA_WALLET_ASSETS": "COP,USD", "CAJA_WALLET_JWT_SECRET": SECRET}


@pytest.fixture
def app(database: Database, monkeypatch: pytest.MonkeyPatch, wallet_env: dict[str, str]) -> FastAPI:
    for name in ("CAJA_WALLET_ASSETS", "CAJA_WALLET_JWT_SECRET", "CAJA_WALLET_TOKEN_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in wallet_env.items():
        monkeypatch.setenv(name, value)
    return create_app(database)


@pytest.fixture
def real_hashing() -> None:
    """Asks for the server's own Argon2 costs (see ``fast_hashing``)."""


@pytest.fixture(autouse=True)
def fast_hashing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 with small costs, so that the many sign-ups and log-ins here run fast; a test
    that asks for ``real_hashing`` gets the server's own hasher."""
    if "real_hashing" not in request.fixturenames:
        cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        monkeypatch.setattr(wallet_service, "_hasher", cheap)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fixed = Clock(datetime(2026, 3, 15, 15, 0, tzinfo=UTC))
    monkeypatch.setattr(wallet_service, "utcnow", fixed)
    return fixed


def new_phone() -> str:
    return f"300{next(_serial):07d}"


def apply(body: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    for name, value in overrides.items():
        if value is MISSING:
            body.pop(name, None)
        else:
            body[name] = value
    return body


def signup_body(**overrides: Any) -> dict[str, Any]:
    n = next(_serial)
    body = {
        "phone_number": new_phone(),
        "first_name": f"Ana{n}",
        "last_name": "Gómez",
        "password": PASSWORD,
    }
    return apply(body, overrides)


@dataclass(frozen=True)
class Person:
    profile_id: str
    account_id: str
    phone_number: str
    first_name: str
    last_name: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Authorization": self.token}

    @property
    def card(self) -> dict[str, str]:
        """How others see this person: in the payment list and the contact search."""
        return {
            "profile_id": self.profile_id,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "phone_number": self.phone_number,
        }


async def log_in(http: httpx.AsyncClient, phone: Any, password: Any) -> httpx.Response:
    return await http.post(f"{API}/auth/login", json={"phone_number": phone, "password": password})


async def person(http: httpx.AsyncClient, first: str = "Ana", last: str = "Gómez") -> Person:
    """Sign up and log in through the API."""
    body = signup_body(first_name=first, last_name=last)
    created = await http.post(f"{API}/auth/signup", json=body)
    assert created.status_code == 201, created.text
    logged = await log_in(http, body["phone_number"], PASSWORD)
    assert logged.status_code == 200, logged.text
    found = created.json()
    return Person(
        found["profile_id"],
        found["account_id"],
        found["phone_number"],
        found["first_name"],
        found["last_name"],
        logged.json()["token"],
    )


async def account(http: httpx.AsyncClient, who: Person) -> dict[str, Any]:
    response = await http.get(f"{API}/profile/account/{who.account_id}", headers=who.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def balances(http: httpx.AsyncClient, who: Person) -> dict[str, str]:
    found = await account(http, who)
    return {asset: entry["balance"] for asset, entry in found["balances"].items()}


def send_body(
    sender: Person, recipient: Person, amount: Any = "10.00", asset: str = "COP", **overrides: Any
) -> dict[str, Any]:
    body = {
        "from_account_id": sender.account_id,
        "to_profile_id": recipient.profile_id,
        "asset_key": asset,
        "amount": amount,
        "meta_data": {"notes": "test send"},
    }
    return apply(body, {"amount": amount, **overrides})


async def send(http: httpx.AsyncClient, sender: Person, body: dict[str, Any]) -> httpx.Response:
    return await http.post(f"{API}/profile/send-to-profile", json=body, headers=sender.headers)


async def payments(http: httpx.AsyncClient, who: Person) -> list[dict[str, Any]]:
    response = await http.get(
        f"{API}/profile/payment_transaction", params={"type": 1}, headers=who.headers
    )
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["data"]
    return found


async def contacts(http: httpx.AsyncClient, who: Person) -> dict[str, Any]:
    response = await http.get(f"{API}/profile/contact", headers=who.headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()["data"]
    return found


async def save_contact(
    http: httpx.AsyncClient, who: Person, other: str, first: str, last: str
) -> httpx.Response:
    return await http.post(
        f"{API}/profile/contact",
        json={"profile_id": other, "first_name": first, "last_name": last},
        headers=who.headers,
    )


async def state(database: Database) -> tuple[Any, ...]:
    """Every row count of the ledger and the wallet, and every account's balance."""
    async with database.read() as connection:
        counted = [
            (await connection.execute(select(func.count()).select_from(table))).scalar_one()
            for table in (wallet_profiles, wallet_accounts, wallet_balances, wallet_contacts)
        ]
        money = (
            await connection.execute(
                select(accounts.c.token, accounts.c.balance_minor).order_by(accounts.c.id)
            )
        ).all()
    return (*counted, [tuple(row) for row in money])


async def ledger_state(caja: Caja) -> tuple[Any, ...]:
    return (await caja.counts(), await state(caja.database))


def assert_error(response: httpx.Response, status: int, message: str | None = None) -> str:
    """The wallet's error body, ``{"code": status, "msg": [one message]}``; the message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "msg"}
    assert body["code"] == status
    [text] = body["msg"]
    assert isinstance(text, str)
    assert text
    if message is not None:
        assert text == message
    return text


async def password_hash(database: Database, phone: str) -> str:
    async with database.read() as connection:
        found = (
            await connection.execute(
                select(wallet_profiles.c.password_hash).where(
                    wallet_profiles.c.phone_number == phone
                )
            )
        ).scalar_one()
    return str(found)


# --- sign-up -------------------------------------------------------------------------------


async def test_sign_up_answers_201_with_a_new_profile_and_empty_balances(
    http: httpx.AsyncClient, caja: Caja
) -> None:
    before = await state(caja.database)
    body = signup_body(first_name="  María ", last_name="Pérez")

    response = await http.post(f"{API}/auth/signup", json=body)

    assert response.status_code == 201, response.text
    created = response.json()
    assert set(created) == {"account_id", "profile_id", "first_name", "last_name", "phone_number"}
    assert created["account_id"].startswith("wac-")
    assert created["profile_id"].startswith("prf-")
    assert created["first_name"] == "María"
    assert created["last_name"] == "Pérez"
    assert created["phone_number"] == body["phone_number"]
    after = await state(caja.database)
    # One profile, one wallet account, one balance (and ledger account) per asset.
    assert after[:4] == (before[0] + 1, before[1] + 1, before[2] + 2, before[3])
    assert len(after[4]) == len(before[4]) + 2
    logged = await log_in(http, body["phone_number"], PASSWORD)
    who = Person(
        created["profile_id"], created["account_id"], body["phone_number"], "María", "Pérez",
        logged.json()["token"],
    )  # fmt: skip
    assert await balances(http, who) == {"COP": "0.00", "USD": "0.00"}


async def test_the_stored_password_is_an_argon2_hash_never_the_password(
    http: httpx.AsyncClient, database: Database, real_hashing: None
) -> None:
    body = signup_body()
    assert (await http.post(f"{API}/auth/signup", json=body)).status_code == 201

    stored = await password_hash(database, body["phone_number"])

    assert stored.startswith("$argon2")
    assert PASSWORD not in stored
    assert PasswordHasher().verify(stored, PASSWORD)
    # Hashed with argon2-cffi's recommended costs, not weaker ones.
    assert stored.startswith("$argon2id$")
    assert not PasswordHasher().check_needs_rehash(stored)


async def test_two_people_with_one_password_get_different_hashes(
    http: httpx.AsyncClient, database: Database
) -> None:
    first, second = signup_body(), signup_body()
    for body in (first, second):
        assert (await http.post(f"{API}/auth/signup", json=body)).status_code == 201

    hashes = [await password_hash(database, body["phone_number"]) for body in (first, second)]

    assert hashes[0] != hashes[1]


REFUSED_SIGNUPS: dict[str, tuple[dict[str, Any], str]] = {
    "phone with +": ({"phone_number": "+573001234567"}, "phone_number"),
    "phone with 00": ({"phone_number": "00573001234567"}, "phone_number"),
    "phone with letters": ({"phone_number": "300abc4567"}, "phone_number"),
    "phone with spaces inside": ({"phone_number": "300 123 4567"}, "phone_number"),
    "phone with dashes": ({"phone_number": "300-123-4567"}, "phone_number"),
    "phone of non-ascii digits": ({"phone_number": "٣٠٠١٢٣٤٥٦٧"}, "phone_number"),
    "phone too short": ({"phone_number": "123456"}, "phone_number"),
    "phone too long": ({"phone_number": "1234567890123456"}, "phone_number"),
    "phone blank": ({"phone_number": "   "}, "phone_number"),
    "phone a number": ({"phone_number": 3001234567}, "phone_number"),
    "phone missing": ({"phone_number": MISSING}, "phone_number"),
    "first name missing": ({"first_name": MISSING}, "first_name"),
    "first name blank": ({"first_name": "  "}, "first_name"),
    "first name too long": ({"first_name": "a" * 101}, "first_name"),
    "last name missing": ({"last_name": MISSING}, "last_name"),
    "last name empty": ({"last_name": ""}, "last_name"),
    "last name not text": ({"last_name": 7}, "last_name"),
    "password missing": ({"password": MISSING}, "password"),
    "password too short": ({"password": "a" * 9}, "password"),
    "password too long": ({"password": "a" * 129}, "password"),
    "password not text": ({"password": 12345678901}, "password"),
}


@pytest.mark.parametrize("case", list(REFUSED_SIGNUPS))
async def test_sign_up_refuses_bad_fields_with_400_and_writes_nothing(
    http: httpx.AsyncClient, caja: Caja, case: str
) -> None:
    overrides, field = REFUSED_SIGNUPS[case]
    before = await ledger_state(caja)

    response = await http.post(f"{API}/auth/signup", json=signup_body(**overrides))

    message = assert_error(response, 400)
    assert message.startswith(f"{field}: ")
    assert await ledger_state(caja) == before


@pytest.mark.parametrize(
    "body", ["not json", "[1, 2]", '"text"', ""], ids=["text", "array", "string", "empty"]
)
async def test_sign_up_refuses_a_body_that_is_not_a_json_object(
    http: httpx.AsyncClient, caja: Caja, body: str
) -> None:
    before = await ledger_state(caja)

    response = await http.post(
        f"{API}/auth/signup", content=body, headers={"Content-Type": "application/json"}
    )

    assert_error(response, 400)
    assert await ledger_state(caja) == before


@pytest.mark.parametrize(
    "overrides",
    [
        {"phone_number": "1234567"},
        {"phone_number": "123456789012345"},
        {"phone_number": "0312345678"},
        {"password": "a" * 10},
        {"password": "ñ" * 128},
        {"first_name": "a" * 100, "last_name": "b"},
    ],
    ids=["7 digits", "15 digits", "leading single 0", "10 chars", "128 chars", "100 chars"],
)
async def test_sign_up_accepts_values_at_the_edges(
    http: httpx.AsyncClient, overrides: dict[str, Any]
) -> None:
    body = signup_body(**overrides)

    response = await http.post(f"{API}/auth/signup", json=body)

    assert response.status_code == 201, response.text
    assert response.json()["phone_number"] == body["phone_number"]
    logged = await log_in(http, body["phone_number"], body["password"])
    assert logged.status_code == 200, logged.text


async def test_the_same_phone_twice_is_409_and_keeps_the_first_profile(
    http: httpx.AsyncClient, caja: Caja
) -> None:
    first = signup_body()
    assert (await http.post(f"{API}/auth/signup", json=first)).status_code == 201
    before = await ledger_state(caja)
    second = signup_body(
        phone_number=first["phone_number"], first_name="Other", password="another password"
    )

    response = await http.post(f"{API}/auth/signup", json=second)

    assert response.status_code == 409, response.text
    assert response.json() == {"code": 409, "msg": ["phone_number_taken"]}
    assert await ledger_state(caja) == before
    assert (await log_in(http, first["phone_number"], PASSWORD)).status_code == 200
    assert (await log_in(http, first["phone_number"], "another password")).status_code == 401


async def test_concurrent_sign_ups_with_one_phone_make_one_profile(
    http: httpx.AsyncClient, caja: Caja
) -> None:
    phone = new_phone()
    before = await state(caja.database)

    answers = await asyncio.gather(
        *(http.post(f"{API}/auth/signup", json=signup_body(phone_number=phone)) for _ in range(5))
    )

    assert Counter(answer.status_code for answer in answers) == {201: 1, 409: 4}, [
        answer.text for answer in answers
    ]
    after = await state(caja.database)
    assert after[:3] == (before[0] + 1, before[1] + 1, before[2] + 2)
    assert (await caja.verify()).ok


# --- log-in --------------------------------------------------------------------------------


async def test_log_in_answers_a_token_for_the_profile(http: httpx.AsyncClient) -> None:
    body = signup_body()
    created = (await http.post(f"{API}/auth/signup", json=body)).json()

    response = await log_in(http, body["phone_number"], PASSWORD)

    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) == {"token", "expires_in"}
    assert answer["expires_in"] == 900
    claims = jwt.decode(answer["token"], SECRET, algorithms=["HS256"])
    assert claims["sub"] == created["profile_id"]
    assert claims["exp"] - claims["iat"] == 900
    profile = await http.get(f"{API}/profile/", headers={"X-Authorization": answer["token"]})
    assert profile.status_code == 200, profile.text
    assert profile.json()["profile_id"] == created["profile_id"]


@pytest.mark.parametrize(
    "wallet_env",
    [{"CAJA_WALLET_TOKEN_SECONDS": "60", "CAJA_WALLET_JWT_SECRET": SECRET}],
    ids=["token seconds 60"],
)
async def test_log_in_tokens_live_as_long_as_configured(
    http: httpx.AsyncClient, app: FastAPI
) -> None:
    body = signup_body()
    assert (await http.post(f"{API}/auth/signup", json=body)).status_code == 201

    response = await log_in(http, body["phone_number"], PASSWORD)

    assert response.status_code == 200, response.text
    assert response.json()["expires_in"] == 60
    claims = jwt.decode(response.json()["token"], SECRET, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 60
    assert services_of(app).wallet.jwt_secret == SECRET


@pytest.mark.parametrize("wallet_env", [{}], ids=["no secret"])
async def test_without_a_configured_secret_tokens_use_the_apps_own(
    http: httpx.AsyncClient, app: FastAPI
) -> None:
    body = signup_body()
    assert (await http.post(f"{API}/auth/signup", json=body)).status_code == 201

    response = await log_in(http, body["phone_number"], PASSWORD)

    assert response.status_code == 200, response.text
    secret = services_of(app).wallet.jwt_secret
    assert secret != SECRET
    assert len(secret) >= 32
    token = response.json()["token"]
    assert jwt.decode(token, secret, algorithms=["HS256"])["sub"].startswith("prf-")
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, SECRET, algorithms=["HS256"])


@pytest.mark.parametrize(
    "attempt",
    [
        {"password": "wrong password!"},
        {"password": PASSWORD[:-1]},
        {"password": PASSWORD.upper()},
        {"phone": "3999999999"},
        {"phone": "3999999999", "password": "wrong password!"},
        {"password": None},
        {"phone": None},
        {"phone": 3001234567},
    ],
    ids=[
        "wrong password",
        "password prefix",
        "password case",
        "unknown phone",
        "unknown phone, wrong password",
        "no password",
        "no phone",
        "phone a number",
    ],
)
async def test_log_in_refuses_wrong_credentials_with_one_401_body(
    http: httpx.AsyncClient, attempt: dict[str, Any]
) -> None:
    body = signup_body()
    assert (await http.post(f"{API}/auth/signup", json=body)).status_code == 201

    response = await log_in(
        http, attempt.get("phone", body["phone_number"]), attempt.get("password", PASSWORD)
    )

    assert response.status_code == 401, response.text
    assert response.json() == {"code": 401, "msg": ["invalid_credentials"]}
    assert "token" not in response.text


async def _fail_logins(http: httpx.AsyncClient, phone: str, times: int) -> None:
    for _ in range(times):
        response = await log_in(http, phone, "wrong password!")
        assert response.status_code == 401, response.text


async def test_five_failed_log_ins_lock_the_profile_until_the_lock_passes(
    http: httpx.AsyncClient, clock: Clock
) -> None:
    body = signup_body()
    other = signup_body()
    for each in (body, other):
        assert (await http.post(f"{API}/auth/signup", json=each)).status_code == 201
    await _fail_logins(http, body["phone_number"], wallet_service.MAX_FAILED_LOGINS)

    locked = [
        await log_in(http, body["phone_number"], PASSWORD),
        await log_in(http, body["phone_number"], "wrong password!"),
    ]

    for response in locked:
        assert response.status_code == 429, response.text
        assert response.json() == {"code": 429, "msg": ["too_many_attempts"]}
        assert "token" not in response.text
        assert int(response.headers["Retry-After"]) >= 1
    # Someone else is not locked out.
    assert (await log_in(http, other["phone_number"], PASSWORD)).status_code == 200
    # Still locked a moment before the lock passes.
    clock.now += timedelta(milliseconds=900)
    assert (await log_in(http, body["phone_number"], PASSWORD)).status_code == 429
    clock.now += timedelta(seconds=int(locked[0].headers["Retry-After"]))
    response = await log_in(http, body["phone_number"], PASSWORD)
    assert response.status_code == 200, response.text
    assert "token" in response.json()


async def test_the_lock_grows_with_each_failure_after_it_passes(
    http: httpx.AsyncClient, clock: Clock
) -> None:
    body = signup_body()
    assert (await http.post(f"{API}/auth/signup", json=body)).status_code == 201
    await _fail_logins(http, body["phone_number"], wallet_service.MAX_FAILED_LOGINS)
    first = await log_in(http, body["phone_number"], PASSWORD)
    assert first.status_code == 429
    clock.now += timedelta(seconds=int(first.headers["Retry-After"]))

    # One more failure locks again, for longer.
    await _fail_logins(http, body["phone_number"], 1)
    second = await log_in(http, body["phone_number"], PASSWORD)

    assert second.status_code == 429, second.text
    assert int(second.headers["Retry-After"]) > int(first.headers["Retry-After"])
    clock.now += timedelta(seconds=int(second.headers["Retry-After"]))
    assert (await log_in(http, body["phone_number"], PASSWORD)).status_code == 200


async def test_moving_locked_until_into_the_past_unlocks(
    http: httpx.AsyncClient, database: Database, clock: Clock
) -> None:
    body = signup_body()
    assert (await http.post(f"{API}/auth/signup", json=body)).status_code == 201
    await _fail_logins(http, body["phone_number"], wallet_service.MAX_FAILED_LOGINS)
    assert (await log_in(http, body["phone_number"], PASSWORD)).status_code == 429

    def unlock(connection: Connection) -> None:
        connection.execute(
            wallet_profiles.update()
            .where(wallet_profiles.c.phone_number == body["phone_number"])
            .values(locked_until=clock.now - timedelta(seconds=1))
        )

    await database.write(unlock)

    assert (await log_in(http, body["phone_number"], PASSWORD)).status_code == 200


async def test_a_successful_log_in_resets_the_failure_count(
    http: httpx.AsyncClient, clock: Clock
) -> None:
    body = signup_body()
    assert (await http.post(f"{API}/auth/signup", json=body)).status_code == 201
    phone = body["phone_number"]
    await _fail_logins(http, phone, wallet_service.MAX_FAILED_LOGINS - 1)
    assert (await log_in(http, phone, PASSWORD)).status_code == 200

    await _fail_logins(http, phone, wallet_service.MAX_FAILED_LOGINS - 1)

    assert (await log_in(http, phone, PASSWORD)).status_code == 200
    # After the lock passes, a success resets the count too: one failure does not lock.
    await _fail_logins(http, phone, wallet_service.MAX_FAILED_LOGINS)
    locked = await log_in(http, phone, PASSWORD)
    assert locked.status_code == 429
    clock.now += timedelta(seconds=int(locked.headers["Retry-After"]))
    assert (await log_in(http, phone, PASSWORD)).status_code == 200
    await _fail_logins(http, phone, 1)
    assert (await log_in(http, phone, PASSWORD)).status_code == 200


async def test_an_unknown_phone_is_never_locked(http: httpx.AsyncClient) -> None:
    for _ in range(wallet_service.MAX_FAILED_LOGINS + 2):
        response = await log_in(http, "3999999999", "wrong password!")
        assert response.status_code == 401, response.text
        assert response.json() == {"code": 401, "msg": ["invalid_credentials"]}


# --- the basic scenario: profile, assets, find, send, payments -----------------------------


async def test_the_basic_send_scenario_step_by_step(http: httpx.AsyncClient, caja: Caja) -> None:
    ana = await person(http, "Ana", "Gómez")
    beto = await person(http, "Beto", "Ruiz")
    await fund(caja.database, ana.account_id, "100.00", asset="COP")
    await fund(caja.database, ana.account_id, "20.00", asset="USD")

    # 1 Account number.
    profile = await http.get(f"{API}/profile/", headers=ana.headers)
    assert profile.status_code == 200, profile.text
    assert profile.json() == {
        "account_id": ana.account_id,
        "profile_id": ana.profile_id,
        "first_name": "Ana",
        "last_name": "Gómez",
        "phone_number": ana.phone_number,
    }
    sender_account = profile.json()["account_id"]

    # 2 Available assets and balances.
    held = await http.get(f"{API}/profile/account/{sender_account}", headers=ana.headers)
    assert held.status_code == 200, held.text
    assert [asset["asset_key"] for asset in held.json()["meta_data"]["assets"]] == ["COP", "USD"]
    assert held.json()["balances"]["COP"]["balance"] == "100.00"
    assert held.json()["balances"]["USD"]["balance"] == "20.00"
    assert await balances(http, beto) == {"COP": "0.00", "USD": "0.00"}

    # 3 Find the recipient by phone.
    found = await http.get(
        f"{API}/contact", params={"find": f"phone:{beto.phone_number}"}, headers=ana.headers
    )
    assert found.status_code == 200, found.text
    assert found.json()["profile_id"] == beto.profile_id
    assert found.json()["first_name"] == "Beto"
    assert found.json()["last_name"] == "Ruiz"
    recipient = found.json()["profile_id"]

    # 4 Send money, in each asset; and back.
    sent = await send(
        http,
        ana,
        {
            "from_account_id": sender_account,
            "to_profile_id": recipient,
            "asset_key": "COP",
            "amount": "30.50",
            "meta_data": {"notes": "almuerzo"},
        },
    )
    assert sent.status_code == 200, sent.text
    assert sent.json() == {"code": 200, "msg": []}
    usd = await send(http, ana, send_body(ana, beto, "5.25", "USD", meta_data=MISSING))
    assert usd.json() == {"code": 200, "msg": []}
    back = await send(http, beto, send_body(beto, ana, "10.00", meta_data={"notes": "vueltas"}))
    assert back.json() == {"code": 200, "msg": []}
    assert await balances(http, ana) == {"COP": "79.50", "USD": "14.75"}
    assert await balances(http, beto) == {"COP": "20.50", "USD": "5.25"}

    # 5 Payment status, newest first, for both people.
    def row(item: dict[str, Any]) -> tuple[Any, ...]:
        return (
            item["type"],
            item["status"],
            item["direction"],
            item["amount"],
            item["asset_key"],
            item["counterparty"],
            item["meta_data"],
        )

    anas = await payments(http, ana)
    assert [row(item) for item in anas] == [
        (1, "completed", "received", "10.00", "COP", beto.card, {"notes": "vueltas"}),
        (1, "completed", "sent", "5.25", "USD", beto.card, {"notes": ""}),
        (1, "completed", "sent", "30.50", "COP", beto.card, {"notes": "almuerzo"}),
    ]
    betos = await payments(http, beto)
    assert [row(item) for item in betos] == [
        (1, "completed", "sent", "10.00", "COP", ana.card, {"notes": "vueltas"}),
        (1, "completed", "received", "5.25", "USD", ana.card, {"notes": ""}),
        (1, "completed", "received", "30.50", "COP", ana.card, {"notes": "almuerzo"}),
    ]
    # One payment has one id, seen alike by both people.
    assert [item["id"] for item in anas] == [item["id"] for item in betos]
    assert len({item["id"] for item in anas}) == 3
    for item in anas:
        assert item["created_at"].endswith("Z")
        datetime.fromisoformat(item["created_at"].removesuffix("Z"))
    report = await caja.verify()
    assert report.ok, [check for check in report.checks if check.violations]


async def test_a_new_person_has_no_payments_and_funding_is_not_one(
    http: httpx.AsyncClient, caja: Caja
) -> None:
    ana = await person(http)
    await fund(caja.database, ana.account_id, "50.00")

    assert await payments(http, ana) == []
    assert await balances(http, ana) == {"COP": "50.00", "USD": "0.00"}


async def test_payment_transaction_refuses_other_types(http: httpx.AsyncClient) -> None:
    ana = await person(http)

    response = await http.get(
        f"{API}/profile/payment_transaction", params={"type": 2}, headers=ana.headers
    )

    assert_error(response, 400)


@pytest.mark.parametrize("wallet_env", [{"CAJA_WALLET_JWT_SECRET": SECRET}], ids=["COP only"])
async def test_by_default_an_account_holds_cop_only(http: httpx.AsyncClient, caja: Caja) -> None:
    ana = await person(http)
    beto = await person(http)
    await fund(caja.database, ana.account_id, "100.00")
    before = await ledger_state(caja)

    held = await account(http, ana)
    refused = await send(http, ana, send_body(ana, beto, "1.00", "USD"))

    assert held["meta_data"]["assets"] == [{"asset_key": "COP", "decimals": 2}]
    assert held["balances"] == {"COP": {"balance": "100.00"}}
    assert_error(refused, 400, "asset_not_available")
    assert await ledger_state(caja) == before


async def test_the_account_of_someone_else_is_not_found(http: httpx.AsyncClient) -> None:
    ana = await person(http)
    beto = await person(http)

    for account_id in (beto.account_id, "wac-doesnotexist", ana.profile_id):
        response = await http.get(f"{API}/profile/account/{account_id}", headers=ana.headers)
        assert_error(response, 400, "record_not_found")


@pytest.mark.parametrize(
    "find",
    [
        "phone:+57{phone}",
        "phone:0057{phone}",
        "phone:{phone}x",
        "phone:",
        "email:{phone}",
        "{phone}",
    ],
    ids=["plus prefix", "00 prefix", "letters", "empty phone", "other kind", "no kind"],
)
async def test_find_contact_refuses_what_is_not_digits_only(
    http: httpx.AsyncClient, find: str
) -> None:
    ana = await person(http)
    beto = await person(http)

    response = await http.get(
        f"{API}/contact", params={"find": find.format(phone=beto.phone_number)}, headers=ana.headers
    )

    assert_error(response, 400)


async def test_find_contact_of_an_unknown_phone_is_400(http: httpx.AsyncClient) -> None:
    ana = await person(http)

    unknown = await http.get(
        f"{API}/contact", params={"find": "phone:3999999999"}, headers=ana.headers
    )
    missing = await http.get(f"{API}/contact", headers=ana.headers)

    assert_error(unknown, 400, "record_not_found")
    assert_error(missing, 400)


async def test_find_contact_answers_the_persons_public_card(http: httpx.AsyncClient) -> None:
    ana = await person(http)
    beto = await person(http, "Beto", "Ruiz")

    response = await http.get(
        f"{API}/contact", params={"find": f"phone:{beto.phone_number}"}, headers=ana.headers
    )

    assert response.status_code == 200, response.text
    assert response.json() == beto.card
    assert "account_id" not in response.json()


async def test_sending_more_than_the_balance_is_601_and_moves_nothing(
    http: httpx.AsyncClient, caja: Caja
) -> None:
    ana = await person(http)
    beto = await person(http)
    await fund(caja.database, ana.account_id, "100.00")
    before = await ledger_state(caja)

    short = await send(http, ana, send_body(ana, beto, "100.01"))
    no_usd = await send(http, ana, send_body(ana, beto, "0.01", "USD"))

    for response in (short, no_usd):
        assert response.status_code == 200, response.text
        assert response.json() == {"code": 601, "msg": ["op_underfunded"]}
    assert await ledger_state(caja) == before
    assert await payments(http, ana) == []
    # The whole balance can be sent; then nothing more.
    assert (await send(http, ana, send_body(ana, beto, "100.00"))).json()["code"] == 200
    assert (await send(http, ana, send_body(ana, beto, "0.01"))).json() == {
        "code": 601,
        "msg": ["op_underfunded"],
    }
    assert await balances(http, ana) == {"COP": "0.00", "USD": "0.00"}
    assert await balances(http, beto) == {"COP": "100.00", "USD": "0.00"}
    assert len(await payments(http, beto)) == 1
    assert (await caja.verify()).ok


@pytest.mark.parametrize(
    ("amount", "moved"),
    [("10", "10.00"), (10, "10.00"), ("10.5", "10.50"), (10.25, "10.25"), ("0.01", "0.01")],
    ids=["whole text", "whole number", "one decimal", "json decimal", "one cent"],
)
async def test_amounts_in_every_valid_form_move_exactly(
    http: httpx.AsyncClient, caja: Caja, amount: Any, moved: str
) -> None:
    ana = await person(http)
    beto = await person(http)
    await fund(caja.database, ana.account_id, "50.00")

    response = await send(http, ana, send_body(ana, beto, amount))

    assert response.json() == {"code": 200, "msg": []}, response.text
    assert (await balances(http, beto))["COP"] == moved
    [payment] = await payments(http, beto)
    assert payment["amount"] == moved
    assert (await caja.verify()).ok


@dataclass(frozen=True)
class Trio:
    ana: Person  # the sender, with 100.00 COP and 10.00 USD
    beto: Person
    carla: Person  # signed up holding COP only


@pytest.fixture
async def trio(http: httpx.AsyncClient, app: FastAPI, database: Database) -> Trio:
    ana = await person(http, "Ana", "Gómez")
    beto = await person(http, "Beto", "Ruiz")
    settings = services_of(app).wallet
    services_of(app).wallet = replace(settings, assets=["COP"])
    carla = await person(http, "Carla", "Díaz")
    services_of(app).wallet = settings
    await fund(database, ana.account_id, "100.00", asset="COP")
    await fund(database, ana.account_id, "10.00", asset="USD")
    return Trio(ana, beto, carla)


REFUSED_SENDS: dict[str, tuple[Any, str | None]] = {
    "from someone else's account": (
        lambda t: send_body(t.ana, t.carla, from_account_id=t.beto.account_id),
        "record_not_found",
    ),
    "from an unknown account": (
        lambda t: send_body(t.ana, t.beto, from_account_id="wac-doesnotexist"),
        "record_not_found",
    ),
    "from a profile id": (
        lambda t: send_body(t.ana, t.beto, from_account_id=t.ana.profile_id),
        "record_not_found",
    ),
    "an unknown asset": (lambda t: send_body(t.ana, t.beto, asset="EUR"), "asset_not_available"),
    "an asset in lower case": (
        lambda t: send_body(t.ana, t.beto, asset="cop"),
        "asset_not_available",
    ),
    "to an unknown profile": (
        lambda t: send_body(t.ana, t.beto, to_profile_id="prf-doesnotexist"),
        "record_not_found",
    ),
    "to an account id": (
        lambda t: send_body(t.ana, t.beto, to_profile_id=t.beto.account_id),
        "record_not_found",
    ),
    "to someone without the asset": (
        lambda t: send_body(t.ana, t.carla, "1.00", "USD"),
        "record_not_found",
    ),
    "to oneself": (lambda t: send_body(t.ana, t.ana), None),
    "too many decimals": (lambda t: send_body(t.ana, t.beto, "1.001"), None),
    "too many decimals as a number": (lambda t: send_body(t.ana, t.beto, 1.001), None),
    "zero": (lambda t: send_body(t.ana, t.beto, "0"), None),
    "zero with decimals": (lambda t: send_body(t.ana, t.beto, "0.00"), None),
    "zero as a number": (lambda t: send_body(t.ana, t.beto, 0), None),
    "negative": (lambda t: send_body(t.ana, t.beto, "-1.00"), None),
    "negative number": (lambda t: send_body(t.ana, t.beto, -1), None),
    "non-numeric": (lambda t: send_body(t.ana, t.beto, "ten"), None),
    "exponent": (lambda t: send_body(t.ana, t.beto, "1e1"), None),
    "comma decimal": (lambda t: send_body(t.ana, t.beto, "1,00"), None),
    "empty amount": (lambda t: send_body(t.ana, t.beto, ""), None),
    "null amount": (lambda t: send_body(t.ana, t.beto, None), None),
    "boolean amount": (lambda t: send_body(t.ana, t.beto, True), None),
    "missing amount": (lambda t: send_body(t.ana, t.beto, amount=MISSING), None),
    "missing from_account_id": (lambda t: send_body(t.ana, t.beto, from_account_id=MISSING), None),
    "missing to_profile_id": (lambda t: send_body(t.ana, t.beto, to_profile_id=MISSING), None),
    "missing asset_key": (lambda t: send_body(t.ana, t.beto, asset_key=MISSING), None),
    "notes too long": (lambda t: send_body(t.ana, t.beto, meta_data={"notes": "n" * 256}), None),
    "notes not text": (lambda t: send_body(t.ana, t.beto, meta_data={"notes": 5}), None),
}


@pytest.mark.parametrize("case", list(REFUSED_SENDS))
async def test_a_refused_send_answers_400_and_moves_nothing(
    http: httpx.AsyncClient, caja: Caja, trio: Trio, case: str
) -> None:
    make, message = REFUSED_SENDS[case]
    before = await ledger_state(caja)

    response = await send(http, trio.ana, make(trio))

    assert_error(response, 400, message)
    assert await ledger_state(caja) == before
    assert await payments(http, trio.ana) == []


async def test_the_trio_can_send_what_the_refusals_could_not(
    http: httpx.AsyncClient, caja: Caja, trio: Trio
) -> None:
    """The refusals above are refusals of their one change: the same bodies otherwise work."""
    cop = await send(http, trio.ana, send_body(trio.ana, trio.carla, "1.00"))
    usd = await send(http, trio.ana, send_body(trio.ana, trio.beto, "1.00", "USD"))
    notes = await send(
        http, trio.ana, send_body(trio.ana, trio.beto, meta_data={"notes": "n" * 255})
    )

    for response in (cop, usd, notes):
        assert response.json() == {"code": 200, "msg": []}, response.text
    assert await balances(http, trio.ana) == {"COP": "89.00", "USD": "9.00"}
    assert await balances(http, trio.carla) == {"COP": "1.00"}
    assert (await payments(http, trio.beto))[0]["meta_data"] == {"notes": "n" * 255}
    assert (await caja.verify()).ok


# --- alternative scenarios: contacts -------------------------------------------------------


async def test_save_choose_and_delete_contacts(http: httpx.AsyncClient) -> None:
    ana = await person(http, "Ana", "Gómez")
    beto = await person(http, "Beto", "Ruiz")
    carla = await person(http, "Carla", "Díaz")
    assert await contacts(http, ana) == {}

    # 3.1 Save the contact found by phone, with the names the search answered.
    found = (
        await http.get(
            f"{API}/contact", params={"find": f"phone:{beto.phone_number}"}, headers=ana.headers
        )
    ).json()
    saved = await save_contact(
        http, ana, found["profile_id"], found["first_name"], found["last_name"]
    )
    assert saved.status_code == 200, saved.text
    assert saved.json() == {"code": 200, "msg": []}

    # 3.2 Choose it from the list.
    listed = await contacts(http, ana)
    assert listed == {beto.profile_id: beto.card}
    assert listed[beto.profile_id]["profile_id"] == beto.profile_id

    # Saving again updates the names; it stays one contact.
    again = await save_contact(http, ana, beto.profile_id, "Betico", "Mi hermano")
    assert again.json() == {"code": 200, "msg": []}
    assert await contacts(http, ana) == {
        beto.profile_id: {**beto.card, "first_name": "Betico", "last_name": "Mi hermano"}
    }
    assert (await save_contact(http, ana, carla.profile_id, "Carla", "Díaz")).status_code == 200
    assert set(await contacts(http, ana)) == {beto.profile_id, carla.profile_id}

    # 3.3 Delete it: then gone; deleting again is 400.
    deleted = await http.delete(f"{API}/profile/contact/{beto.profile_id}", headers=ana.headers)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"code": 200, "msg": []}
    assert await contacts(http, ana) == {carla.profile_id: carla.card}
    twice = await http.delete(f"{API}/profile/contact/{beto.profile_id}", headers=ana.headers)
    assert_error(twice, 400, "record_not_found")
    unknown = await http.delete(f"{API}/profile/contact/prf-doesnotexist", headers=ana.headers)
    assert_error(unknown, 400, "record_not_found")
    assert await contacts(http, ana) == {carla.profile_id: carla.card}
    # A deleted contact can be saved again.
    assert (await save_contact(http, ana, beto.profile_id, "Beto", "Ruiz")).status_code == 200
    assert set(await contacts(http, ana)) == {beto.profile_id, carla.profile_id}


async def test_a_person_sees_and_deletes_only_their_own_contacts(
    http: httpx.AsyncClient, caja: Caja
) -> None:
    ana = await person(http)
    beto = await person(http)
    carla = await person(http)
    assert (await save_contact(http, ana, beto.profile_id, "B", "R")).status_code == 200
    assert (await save_contact(http, carla, ana.profile_id, "A", "G")).status_code == 200
    before = await state(caja.database)

    betos = await contacts(http, beto)
    # Beto cannot delete Ana's contact of him, nor Carla's of Ana.
    mine = await http.delete(f"{API}/profile/contact/{beto.profile_id}", headers=beto.headers)
    theirs = await http.delete(f"{API}/profile/contact/{ana.profile_id}", headers=beto.headers)

    assert betos == {}
    assert_error(mine, 400, "record_not_found")
    assert_error(theirs, 400, "record_not_found")
    assert await state(caja.database) == before
    assert set(await contacts(http, ana)) == {beto.profile_id}
    assert set(await contacts(http, carla)) == {ana.profile_id}


@pytest.mark.parametrize(
    "body",
    [
        {"profile_id": "prf-doesnotexist", "first_name": "X", "last_name": "Y"},
        {"profile_id": "SELF", "first_name": "Me", "last_name": "Myself"},
        {"profile_id": "OTHER", "first_name": "B"},
        {"profile_id": "OTHER", "first_name": "  ", "last_name": "R"},
        {"profile_id": "OTHER", "first_name": "B", "last_name": "r" * 101},
        {"first_name": "B", "last_name": "R"},
    ],
    ids=["unknown profile", "oneself", "no last name", "blank first name", "long name", "no id"],
)
async def test_saving_a_bad_contact_is_400_and_saves_nothing(
    http: httpx.AsyncClient, caja: Caja, body: dict[str, Any]
) -> None:
    ana = await person(http)
    beto = await person(http)
    if "profile_id" in body:
        body = {
            **body,
            "profile_id": {"SELF": ana.profile_id, "OTHER": beto.profile_id}.get(
                body["profile_id"], body["profile_id"]
            ),
        }
    before = await state(caja.database)

    response = await http.post(f"{API}/profile/contact", json=body, headers=ana.headers)

    assert_error(response, 400)
    assert await state(caja.database) == before
    assert await contacts(http, ana) == {}


# --- common errors on every authenticated endpoint -----------------------------------------


@dataclass(frozen=True)
class World:
    ana: Person  # with 100.00 COP and Beto saved as a contact
    beto: Person


@pytest.fixture
async def world(http: httpx.AsyncClient, database: Database) -> World:
    ana = await person(http, "Ana", "Gómez")
    beto = await person(http, "Beto", "Ruiz")
    await fund(database, ana.account_id, "100.00")
    assert (await save_contact(http, ana, beto.profile_id, "Beto", "Ruiz")).status_code == 200
    return World(ana, beto)


ENDPOINTS = [
    "profile",
    "account",
    "find contact",
    "save contact",
    "list contacts",
    "delete contact",
    "send",
    "payments",
]


def request_for(endpoint: str, world: World) -> tuple[str, str, dict[str, Any]]:
    """A request to ``endpoint`` that succeeds with Ana's token."""
    ana, beto = world.ana, world.beto
    if endpoint == "profile":
        return "GET", "/profile/", {}
    if endpoint == "account":
        return "GET", f"/profile/account/{ana.account_id}", {}
    if endpoint == "find contact":
        return "GET", "/contact", {"params": {"find": f"phone:{beto.phone_number}"}}
    if endpoint == "save contact":
        body = {"profile_id": beto.profile_id, "first_name": "Otro", "last_name": "Nombre"}
        return "POST", "/profile/contact", {"json": body}
    if endpoint == "list contacts":
        return "GET", "/profile/contact", {}
    if endpoint == "delete contact":
        return "DELETE", f"/profile/contact/{beto.profile_id}", {}
    if endpoint == "send":
        return "POST", "/profile/send-to-profile", {"json": send_body(ana, beto, "1.00")}
    return "GET", "/profile/payment_transaction", {"params": {"type": 1}}


def _token(claims: dict[str, Any], secret: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


def _claims(world: World, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": world.ana.profile_id, "iat": now, "exp": now + 600}
    return apply(claims, changes)


def _expired(world: World, secret: str) -> str:
    now = int(time.time())
    return _token(_claims(world, iat=now - 1200, exp=now - 600), secret)


MISSING_HEADERS: dict[str, Any] = {
    "missing": lambda world, secret: None,
    "empty": lambda world, secret: "",
    "blank": lambda world, secret: "   ",
    "bearer without a token": lambda world, secret: "Bearer",
}

FORBIDDEN_TOKENS: dict[str, Any] = {
    "wrong signature": lambda world, secret: _token(_claims(world), WRONG_SECRET),
    "expired with a wrong signature": lambda world, secret: _expired(world, WRONG_SECRET),
    "alg none": lambda world, secret: jwt.encode(_claims(world), None, algorithm="none"),
    "garbage": lambda world, secret: "garbage",
    "three garbage parts": lambda world, secret: "abc.def.ghi",
    "truncated": lambda world, secret: _token(_claims(world), secret)[:-3],
    "unknown profile": lambda world, secret: _token(_claims(world, sub="prf-nobody"), secret),
    "an account id as subject": lambda world, secret: _token(
        _claims(world, sub=world.ana.account_id), secret
    ),
    "without exp": lambda world, secret: _token(_claims(world, exp=MISSING), secret),
    "without sub": lambda world, secret: _token(_claims(world, sub=MISSING), secret),
}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("case", list(MISSING_HEADERS))
async def test_a_missing_or_blank_token_is_401(
    http: httpx.AsyncClient, caja: Caja, world: World, app: FastAPI, endpoint: str, case: str
) -> None:
    header = MISSING_HEADERS[case](world, services_of(app).wallet.jwt_secret)
    headers = {"X-Authorization": header} if header is not None else {}
    method, path, options = request_for(endpoint, world)
    before = await ledger_state(caja)

    response = await http.request(method, f"{API}{path}", headers=headers, **options)

    assert_error(response, 401)
    assert await ledger_state(caja) == before


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_an_expired_token_is_498_token_has_expired(
    http: httpx.AsyncClient, caja: Caja, world: World, app: FastAPI, endpoint: str
) -> None:
    token = _expired(world, services_of(app).wallet.jwt_secret)
    method, path, options = request_for(endpoint, world)
    before = await ledger_state(caja)

    response = await http.request(
        method, f"{API}{path}", headers={"X-Authorization": token}, **options
    )

    assert response.status_code == 498, response.text
    assert response.text == "Token has expired"
    assert await ledger_state(caja) == before


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("case", list(FORBIDDEN_TOKENS))
async def test_an_invalid_token_is_403(
    http: httpx.AsyncClient, caja: Caja, world: World, app: FastAPI, endpoint: str, case: str
) -> None:
    token = FORBIDDEN_TOKENS[case](world, services_of(app).wallet.jwt_secret)
    method, path, options = request_for(endpoint, world)
    before = await ledger_state(caja)

    response = await http.request(
        method, f"{API}{path}", headers={"X-Authorization": token}, **options
    )

    assert response.status_code == 403, response.text
    if endpoint == "find contact":
        assert response.text == "find request requires user authentication"
    else:
        assert response.text == "request requires user authentication"
    assert await ledger_state(caja) == before


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("scheme", ["", "Bearer "], ids=["bare token", "bearer token"])
async def test_the_same_requests_succeed_with_a_valid_token(
    http: httpx.AsyncClient, world: World, endpoint: str, scheme: str
) -> None:
    method, path, options = request_for(endpoint, world)

    response = await http.request(
        method, f"{API}{path}", headers={"X-Authorization": scheme + world.ana.token}, **options
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")


async def test_a_token_made_with_the_apps_secret_works_until_it_expires(
    http: httpx.AsyncClient, world: World, app: FastAPI
) -> None:
    fresh = _token(_claims(world), services_of(app).wallet.jwt_secret)

    response = await http.get(f"{API}/profile/", headers={"X-Authorization": fresh})

    assert response.status_code == 200, response.text
    assert response.json()["profile_id"] == world.ana.profile_id


# --- concurrency ---------------------------------------------------------------------------


async def test_thirty_concurrent_sends_spend_exactly_the_balance(
    http: httpx.AsyncClient, caja: Caja
) -> None:
    ana = await person(http)
    beto = await person(http)
    await fund(caja.database, ana.account_id, "100.00")

    answers = await asyncio.gather(
        *(send(http, ana, send_body(ana, beto, "10.00")) for _ in range(30))
    )

    assert {answer.status_code for answer in answers} == {200}
    assert Counter(answer.json()["code"] for answer in answers) == {200: 10, 601: 20}
    assert {tuple(a.json()["msg"]) for a in answers if a.json()["code"] == 601} == {
        ("op_underfunded",)
    }
    assert await balances(http, ana) == {"COP": "0.00", "USD": "0.00"}
    assert await balances(http, beto) == {"COP": "100.00", "USD": "0.00"}
    received = await payments(http, beto)
    assert len(received) == 10
    assert {(item["direction"], item["amount"]) for item in received} == {("received", "10.00")}
    assert len(await payments(http, ana)) == 10
    report = await caja.verify()
    assert report.ok, [check for check in report.checks if check.violations]


@pytest.mark.parametrize("content", [b"[]", b"not json", b'"text"'])
async def test_a_body_that_is_not_a_json_object_is_400_in_plain_words(
    http: httpx.AsyncClient, content: bytes
) -> None:
    response = await http.post(
        f"{API}/auth/signup", content=content, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json() == {"code": 400, "msg": ["the body must be a JSON object"]}
