"""Wallet log-in guessing is slowed: failures in a row lock the profile for a time that
doubles up to fifteen minutes, the right password is refused while it is locked, guesses
sent all at once are held to the same allowance, and an unknown phone number is answered
exactly like a wrong password."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.engine import Connection

from caja.db.engine import Database
from caja.wallet import service as wallet_service
from caja.wallet.tables import wallet_profiles
from tests.helpers import Clock
from tests.security.people import WALLET, log_in, new_phone, sign_up
from tests.security.tenants import covers

pytestmark = pytest.mark.anyio

WRONG = "not the password at all"
LOCKED = {"code": 429, "msg": ["too_many_attempts"]}
REFUSED = {"code": 401, "msg": ["invalid_credentials"]}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fixed = Clock(datetime(2026, 3, 15, 15, 0, tzinfo=UTC))
    monkeypatch.setattr(wallet_service, "utcnow", fixed)
    return fixed


def _locked_for(response: httpx.Response) -> int:
    assert response.status_code == 429, response.text
    assert response.json() == LOCKED
    assert "token" not in response.text
    return int(response.headers["Retry-After"])


async def test_failures_in_a_row_lock_out_even_the_right_password(
    http: httpx.AsyncClient, clock: Clock
) -> None:
    profile = await sign_up(http)
    phone, password = profile["phone_number"], "correct horse battery staple"

    failures = [await log_in(http, phone, WRONG) for _ in range(wallet_service.MAX_FAILED_LOGINS)]
    right = await log_in(http, phone, password)
    wrong = await log_in(http, phone, WRONG)

    assert [(f.status_code, f.json()) for f in failures] == [(401, REFUSED)] * len(failures)
    assert _locked_for(right) == 1
    assert _locked_for(wrong) == 1
    clock.now += timedelta(seconds=_locked_for(right))
    unlocked = await log_in(http, phone, password)
    assert unlocked.status_code == 200, unlocked.text
    assert unlocked.json()["token"]


async def test_the_lock_doubles_with_each_failure_up_to_fifteen_minutes(
    http: httpx.AsyncClient, clock: Clock
) -> None:
    profile = await sign_up(http)
    phone = profile["phone_number"]
    for _ in range(wallet_service.MAX_FAILED_LOGINS - 1):
        assert (await log_in(http, phone, WRONG)).status_code == 401

    waits = []
    for lock in [min(2**n, 900) for n in range(13)]:
        assert (await log_in(http, phone, WRONG)).status_code == 401
        wait = _locked_for(await log_in(http, phone, "correct horse battery staple"))
        waits.append(wait)
        assert wait == lock, waits
        # A moment before the lock passes it still holds, the right password too.
        clock.now += timedelta(seconds=lock) - timedelta(milliseconds=1)
        assert _locked_for(await log_in(http, phone, "correct horse battery staple")) == 1
        clock.now += timedelta(milliseconds=1)

    assert waits[-3:] == [900, 900, 900]


async def test_a_profile_guessed_at_for_days_stays_locked_fifteen_minutes_a_failure(
    http: httpx.AsyncClient, database: Database, clock: Clock
) -> None:
    """Past about fifty failures in a row the doubling lock outgrows what a time can hold:
    the failure must still be counted and locked for fifteen minutes, not fail the
    request and leave the profile open to guessing."""
    profile = await sign_up(http)
    phone = profile["phone_number"]

    def long_guessed(connection: Connection) -> None:
        connection.execute(
            update(wallet_profiles)
            .where(wallet_profiles.c.phone_number == phone)
            .values(failed_logins=1_000)
        )

    await database.write(long_guessed)

    failed = await log_in(http, phone, WRONG)
    locked = await log_in(http, phone, "correct horse battery staple")

    assert failed.json() == REFUSED
    assert _locked_for(locked) in (900, 901)
    clock.now += timedelta(minutes=15)
    assert (await log_in(http, phone, "correct horse battery staple")).status_code == 200


@covers("POST", f"{WALLET}/auth/login", "phone_number")
async def test_an_unknown_phone_is_answered_exactly_like_a_wrong_password(
    http: httpx.AsyncClient, clock: Clock
) -> None:
    profile = await sign_up(http)
    attempts = {
        "wrong password": (profile["phone_number"], WRONG),
        "unknown phone": (new_phone(), WRONG),
        "unknown phone, a known password": (new_phone(), "correct horse battery staple"),
        "no password": (profile["phone_number"], None),
        "password not a string": (profile["phone_number"], 12345678901),
    }

    answers = set()
    for phone, password in attempts.values():
        response = await log_in(http, phone, password)
        headers = tuple(sorted(name for name in response.headers if name != "x-request-id"))
        answers.add((response.status_code, headers, response.content))

    [(status, _, body)] = answers
    assert (status, body) == (401, b'{"code":401,"msg":["invalid_credentials"]}')


async def test_guesses_sent_at_once_get_no_more_checks_than_guesses_in_a_row(
    http: httpx.AsyncClient, clock: Clock
) -> None:
    """Guesses sent together must not all be checked because each read the profile before
    any of them was counted: only the allowance is checked, the rest are refused locked,
    and every checked guess counts towards the lock."""
    profile = await sign_up(http)
    phone = profile["phone_number"]

    answers = await asyncio.gather(*(log_in(http, phone, WRONG) for _ in range(20)))

    statuses = sorted(response.status_code for response in answers)
    assert statuses.count(401) == wallet_service.MAX_FAILED_LOGINS, statuses
    assert statuses.count(429) == 20 - wallet_service.MAX_FAILED_LOGINS
    assert _locked_for(await log_in(http, phone, "correct horse battery staple")) >= 1
