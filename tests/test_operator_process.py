"""The operator across a real HTTP boundary: `caja operator serve` as its own process,
`caja serve` talking to it with a timeout, settled by `caja reconcile` and by the
server's own schedule."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import run_async
from tests.gateway import GATEWAY, Merchant, merchant, topup_body
from tests.helpers import stop_server, wait_until_healthy
from tests.postgres import free_port

pytestmark = pytest.mark.slow

CAJA = shutil.which("caja", path=str(Path(sys.executable).parent)) or "caja"


@contextmanager
def process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as output:
        started = subprocess.Popen(
            [CAJA, *args], env={**os.environ, **env}, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            yield started
        finally:
            stop_server(started, timeout=20)


def wait_for_port(started: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert started.poll() is None, log.read_text()
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(log.read_text())


def caja_command(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CAJA, *args],
        env={**os.environ, "CAJA_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
    )


def new_merchant(database_url: str) -> Merchant:
    from caja.db.engine import Database

    async def make() -> Merchant:
        database = Database(database_url)
        try:
            return await merchant(database, funds=10_000)
        finally:
            await database.dispose()

    return run_async(make)


@pytest.fixture
def operator_url(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "operator.log"
    with process(["operator", "serve", "--port", str(port)], {}, log) as started:
        wait_for_port(started, f"{url}/purchases/none", log)
        yield url


def serve(database_url: str, operator_url: str, log: Path, **env: str) -> Any:
    port = free_port()
    settings = {
        "CAJA_DATABASE_URL": database_url,
        "CAJA_OPERATOR_URL": operator_url,
        "CAJA_OPERATOR_TIMEOUT_MS": "300",
        "CAJA_RECONCILE_INTERVAL_MS": "0",
        "CAJA_ACCESS_LOG": "0",
        **env,
    }
    return port, process(["serve", "--port", str(port)], settings, log)


def buy(base: str, who: Merchant) -> httpx.Response:
    return httpx.post(
        f"{base}{GATEWAY}/topup_account", json=topup_body(), headers=who.headers, timeout=10
    )


def state(base: str, who: Merchant, token: str) -> tuple[str, int]:
    stored = httpx.get(f"{base}{GATEWAY}/topup_account/{token}", headers=who.headers).json()
    balance = httpx.get(f"{base}{GATEWAY}/merchant/balance", headers=who.headers).json()
    return stored["status"], balance["balance"]


def test_a_timeout_is_unknown_and_caja_reconcile_settles_it_both_ways(
    database_url: str, operator_url: str, tmp_path: Path
) -> None:
    who = new_merchant(database_url)
    log = tmp_path / "server.log"
    port, server = serve(database_url, operator_url, log)
    base = f"http://127.0.0.1:{port}"
    with server as started:
        wait_until_healthy(started, base, log, timeout=30)
        # The operator performs each purchase but answers after the server's timeout.
        httpx.put(f"{operator_url}/control/faults", json={"delay_ms": 1500})
        first, second = buy(base, who), buy(base, who)
        httpx.put(f"{operator_url}/control/faults", json={"delay_ms": 0})
        assert (first.status_code, first.json()["status"]) == (502, "unknown")
        assert (second.status_code, second.json()["status"]) == (502, "unknown")
        assert state(base, who, first.json()["idempotency_token"]) == ("unknown", 8000)
        # The operator ends up rejecting the second one.
        rejected = httpx.put(
            f"{operator_url}/control/purchases/{second.json()['token']}",
            json={"status": "rejected"},
        )
        assert rejected.status_code == 200

        result = caja_command(database_url, "reconcile", "--operator-url", operator_url, "--json")

        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == {
            "checked": 2,
            "authorized": 1,
            "rejected": 1,
            "still_open": 0,
        }
        assert state(base, who, first.json()["idempotency_token"]) == ("authorized", 9000)
        assert state(base, who, second.json()["idempotency_token"])[0] == "rejected"
    verified = caja_command(database_url, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_the_server_reconciles_on_its_own_schedule(
    database_url: str, operator_url: str, tmp_path: Path
) -> None:
    who = new_merchant(database_url)
    log = tmp_path / "server.log"
    port, server = serve(
        database_url,
        operator_url,
        log,
        CAJA_RECONCILE_INTERVAL_MS="200",
        CAJA_RECONCILE_MIN_AGE_S="1",
    )
    base = f"http://127.0.0.1:{port}"
    with server as started:
        wait_until_healthy(started, base, log, timeout=30)
        httpx.put(f"{operator_url}/control/faults", json={"delay_ms": 1500})
        answer = buy(base, who)
        httpx.put(f"{operator_url}/control/faults", json={"delay_ms": 0})
        assert answer.status_code == 502
        token = answer.json()["idempotency_token"]

        deadline = time.monotonic() + 20
        while state(base, who, token)[0] != "authorized" and time.monotonic() < deadline:
            time.sleep(0.2)

        assert state(base, who, token) == ("authorized", 9000)
    verified = caja_command(database_url, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
