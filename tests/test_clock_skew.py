"""Two `caja serve` hosts on one database, the second's clock shifted with libfaketime:
each accepts the other's fresh wallet tokens, and transfers made through both keep their
`date_created` in the order they were committed."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import jwt
import pytest

from caja.db.engine import Database
from tests.conftest import run_async
from tests.helpers import V1, account_body, stop_server, transfer_body, wait_until_healthy
from tests.postgres import free_port

pytestmark = pytest.mark.slow

CAJA = shutil.which("caja", path=str(Path(sys.executable).parent)) or "caja"
FAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
WALLET = "/api/wallet/v1"
SECRET = "clock-tests-secret-" + "x" * 24
PASSWORD = "correct horse battery"
_phones = itertools.count(os.getpid() % 1000 * 10_000)

needs_faketime = pytest.mark.skipif(
    not FAKETIME.exists(), reason="libfaketime is not installed (apt-get install faketime)"
)


@contextmanager
def host(database_url: str, log: Path, shift_seconds: int = 0) -> Iterator[str]:
    """A `caja serve` on the database, its clock ``shift_seconds`` ahead; its base URL."""
    env = {
        **os.environ,
        "CAJA_DATABASE_URL": database_url,
        "CAJA_WALLET_JWT_SECRET": SECRET,
        "CAJA_ACCESS_LOG": "0",
    }
    if shift_seconds:
        env.update(
            LD_PRELOAD=str(FAKETIME),
            FAKETIME=f"{shift_seconds:+d}s",
            # Only the wall clock: the event loop's timers keep the real pace.
            FAKETIME_DONT_FAKE_MONOTONIC="1",
        )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [CAJA, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_healthy(server, base, log, timeout=30)
            yield base
        finally:
            stop_server(server, timeout=10)


def shift_of(base: str) -> tuple[float, float]:
    """Bounds of how far ahead of ours the host's clock is: by the ``iat`` (its
    ``time.time()``, in whole seconds) of a wallet token it issues meanwhile."""
    phone = f"31{next(_phones):08d}"
    sign_up(base, phone)
    before = time.time()
    token = log_in(base, phone)
    after = time.time()
    issued = float(jwt.decode(token, options={"verify_signature": False})["iat"])
    return issued - after - 1, issued - before + 1


@contextmanager
def two_hosts(database_url: str, tmp_path: Path, shift: int) -> Iterator[tuple[str, str]]:
    with ExitStack() as stack:
        plain = stack.enter_context(host(database_url, tmp_path / "plain.log"))
        shifted = stack.enter_context(host(database_url, tmp_path / "shifted.log", shift))
        # The shifted host's Python really runs on the shifted clock.
        low, high = shift_of(plain)
        assert low < 0 < high
        low, high = shift_of(shifted)
        assert low < shift < high
        assert low > 0
        yield plain, shifted


def sign_up(base: str, phone: str) -> None:
    body = {"phone_number": phone, "first_name": "Ana", "last_name": "Gómez", "password": PASSWORD}
    created = httpx.post(f"{base}{WALLET}/auth/signup", json=body, timeout=10)
    assert created.status_code == 201, created.text


def log_in(base: str, phone: str) -> str:
    body = {"phone_number": phone, "password": PASSWORD}
    logged = httpx.post(f"{base}{WALLET}/auth/login", json=body, timeout=10)
    assert logged.status_code == 200, logged.text
    token: str = logged.json()["token"]
    return token


@needs_faketime
def test_hosts_two_seconds_apart_accept_each_others_fresh_tokens(
    database_url: str, tmp_path: Path
) -> None:
    with two_hosts(database_url, tmp_path, shift=2) as (plain, shifted):
        phone = f"31{next(_phones):08d}"
        sign_up(plain, phone)
        for issuer, checker in ((plain, shifted), (shifted, plain)):
            token = log_in(issuer, phone)
            profile = httpx.get(
                f"{checker}{WALLET}/profile/", headers={"X-Authorization": token}, timeout=10
            )
            assert profile.status_code == 200, (issuer, checker, profile.text)


async def _client_key(database_url: str) -> str:
    from caja.clients.service import create_client

    database = Database(database_url)
    try:
        return (await create_client(database, "clocks", ["ledger:admin"])).api_key
    finally:
        await database.dispose()


async def _fund(database_url: str, token: str) -> None:
    from caja.ops.funding import fund

    database = Database(database_url)
    try:
        await fund(database, token, "100.00")
    finally:
        await database.dispose()


@needs_faketime
def test_transfers_through_hosts_ten_minutes_apart_keep_their_time_in_commit_order(
    database_url: str, tmp_path: Path
) -> None:
    key = run_async(lambda: _client_key(database_url))
    headers = {"X-Account-api-key": key}
    with two_hosts(database_url, tmp_path, shift=600) as hosts:
        made = [
            httpx.post(f"{hosts[0]}{V1}/account", json=account_body(), headers=headers).json()
            for _ in range(2)
        ]
        origin, destination = (account["token"] for account in made)
        run_async(lambda: _fund(database_url, origin))
        # One after the other, each answered before the next: the order they committed.
        sent = []
        for number in range(8):
            body = transfer_body(origin, destination, "1.00")
            answer = httpx.post(
                f"{hosts[number % 2]}{V1}/transaction", json=body, headers=headers, timeout=10
            )
            assert answer.status_code == 201, answer.text
            sent.append(body["unique_transfer_token"])
        history = httpx.get(
            f"{hosts[0]}{V1}/account/{destination}/transactions", headers=headers, timeout=10
        ).json()["transactions"]

    # Newest first: the committed order, reversed.
    listed = [entry["unique_transfer_token"] for entry in history]
    assert listed == sent[::-1]
    moments = [entry["date_created"] for entry in reversed(history)]
    assert moments == sorted(moments), moments
