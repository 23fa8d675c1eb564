"""`caja serve --workers 2`: two processes, each with its own batches, one ledger."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest

from caja.clients.service import create_client
from caja.db.engine import Database
from caja.ops.funding import fund
from tests.conftest import run_async
from tests.helpers import V1, account_body, stop_server, transfer_body, wait_until_healthy
from tests.postgres import free_port

pytestmark = pytest.mark.slow


async def _client_key(database_url: str) -> str:
    database = Database(database_url)
    try:
        return (await create_client(database, "racers", ["ledger:admin"])).api_key
    finally:
        await database.dispose()


async def _race_funded(
    base: str, key: str, database_url: str
) -> tuple[Counter[int], Counter[int], str, str]:
    headers = {"X-Account-api-key": key}
    # Many connections, so that both processes get requests.
    limits = httpx.Limits(max_connections=40, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
        origin = (await http.post(f"{V1}/account", json=account_body(), headers=headers)).json()
        other = (await http.post(f"{V1}/account", json=account_body(), headers=headers)).json()
        database = Database(database_url)
        try:
            await fund(database, origin["token"], "10.00")
        finally:
            await database.dispose()
        return await _send(http, headers, origin["token"], other["token"])


async def _send(
    http: httpx.AsyncClient, headers: dict[str, str], origin: str, destination: str
) -> tuple[Counter[int], Counter[int], str, str]:
    # 20 distinct transfers of 1.00 from an account that will hold 10.00, each sent twice
    # at once: the two copies of a token can land on different processes.
    bodies = [transfer_body(origin, destination, "1.00") for _ in range(20)]
    pairs = [body for body in bodies for _ in range(2)]
    first = await asyncio.gather(
        *(http.post(f"{V1}/transaction", json=body, headers=headers) for body in pairs)
    )
    # Replays after the race answer exactly as the race settled.
    second = await asyncio.gather(
        *(http.post(f"{V1}/transaction", json=body, headers=headers) for body in bodies)
    )
    balance = (await http.get(f"{V1}/account/{origin}", headers=headers)).json()["balance"]
    received = (await http.get(f"{V1}/account/{destination}", headers=headers)).json()
    return (
        Counter(r.status_code for r in first),
        Counter(r.status_code for r in second),
        balance,
        received["balance"],
    )


def test_two_workers_share_one_ledger_without_doubling_or_overdrawing(
    database_url: str, tmp_path: Path
) -> None:
    caja = shutil.which("caja", path=str(Path(sys.executable).parent)) or shutil.which("caja")
    assert caja is not None, "the caja console script is not installed"
    key = run_async(lambda: _client_key(database_url))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    environment = {**os.environ, "CAJA_DATABASE_URL": database_url, "CAJA_ACCESS_LOG": "0"}
    environment["CAJA_WALLET_JWT_SECRET"] = "a-secret-every-worker-shares-0123456789"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [caja, "serve", "--port", str(port), "--workers", "2"],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_healthy(server, base, log, timeout=30)
            first, second, balance, received = run_async(
                lambda: _race_funded(base, key, database_url)
            )
        finally:
            stop_server(server, timeout=20)

    # Each token moved money at most once: 10 transfers fit in 10.00 and their copies
    # are replays (208); the other 10 tokens were refused, both copies.
    assert first == {201: 10, 208: 10, 402: 20}
    assert second[208] == 10
    assert second[402] == 10
    assert balance == "0.00"
    assert received == "10.00"
