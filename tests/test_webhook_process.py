"""`caja serve` runs the webhook runner as a child process: a server killed (with its
runner) while a delivery is open delivers that event after a restart, and a server
stopped with SIGTERM stops its runner too."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from caja.clients.service import authenticate, create_client
from caja.db.engine import Database
from caja.ledger import events
from caja.ops.funding import fund
from caja.webhooks import service
from tests.conftest import run_async
from tests.helpers import V1, account_body, stop_server, transfer_body, wait_until_healthy
from tests.postgres import free_port
from tests.webhook_receiver import Answer, Receiver

pytestmark = pytest.mark.slow

CAJA = shutil.which("caja", path=str(Path(sys.executable).parent)) or shutil.which("caja")


async def _setup(database_url: str, url: str) -> tuple[str, int, str]:
    """A client, its endpoint at ``url``: the key, the client id, the endpoint's secret."""
    database = Database(database_url)
    try:
        key = (await create_client(database, "hooked", ["ledger:admin"])).api_key
        principal = await authenticate(database, key)
        assert principal is not None

        def add(connection: Any) -> service.Created:
            return service.add_endpoint(connection, principal.client_id, url, allow_private=True)

        created = await database.write(add)
        return key, principal.client_id, created.secret
    finally:
        await database.dispose()


async def _transfer_event(database_url: str, base: str, key: str, client_id: int) -> str:
    """A transfer through the server; its ``ledger.transfer.created`` event's id (written
    here when the transfer route writes none)."""
    headers = {"X-Account-api-key": key}
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        origin = (await http.post(f"{V1}/account", json=account_body(), headers=headers)).json()
        other = (await http.post(f"{V1}/account", json=account_body(), headers=headers)).json()
        database = Database(database_url)
        try:
            await fund(database, origin["token"], "10.00")
            body = transfer_body(origin["token"], other["token"], "1.00")
            answer = await http.post(f"{V1}/transaction", json=body, headers=headers)
            assert answer.status_code == 201, answer.text
            token = answer.json()["token"]
            async with database.read() as connection:
                found = await connection.run_sync(
                    events.events_of_client, client_id, types=["ledger.transfer.created"]
                )
            if not found:
                made = [events.NewEvent("ledger.transfer.created", client_id, {"token": token})]
                await database.write(lambda connection: events.append(connection, made))
                async with database.read() as connection:
                    found = await connection.run_sync(events.events_of_client, client_id)
            return found[-1].token
        finally:
            await database.dispose()


async def _delivery_status(database_url: str) -> list[str]:
    database = Database(database_url)
    try:
        async with database.read() as connection:
            found = await connection.run_sync(lambda c: service.deliveries(c))
        return [delivery.status for delivery in found]
    finally:
        await database.dispose()


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_gone(group: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _group_alive(group):
        assert time.monotonic() < deadline, "the runner outlived its server"
        time.sleep(0.1)


def test_a_server_killed_mid_delivery_delivers_after_a_restart(
    database_url: str, tmp_path: Path
) -> None:
    assert CAJA is not None, "the caja console script is not installed"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "CAJA_DATABASE_URL": database_url,
        "CAJA_WEBHOOKS_ALLOW_PRIVATE": "1",
        # A claim of one delivery lasts one timeout and 5 s: 6.5 s.
        "CAJA_WEBHOOKS_TIMEOUT_SECONDS": "1.5",
        "CAJA_WEBHOOKS_POLL_SECONDS": "0.1",
        "CAJA_WEBHOOKS_RETRY_SCHEDULE": "0.1,0.1,0.1",
        "CAJA_RECONCILE_INTERVAL_MS": "0",
    }
    log = tmp_path / "serve.log"
    command = [CAJA, "serve", "--port", str(port)]

    def start() -> subprocess.Popen[bytes]:
        with log.open("ab") as output:
            server = subprocess.Popen(
                command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_until_healthy(server, base, log, timeout=60)
        return server

    # The first delivery is held open far longer than the runner waits.
    with Receiver([Answer(200, delay=20)]) as receiver:
        key, client_id, secret = run_async(lambda: _setup(database_url, receiver.url))
        receiver.secrets.append(secret)
        first = start()
        try:
            event_id = run_async(lambda: _transfer_event(database_url, base, key, client_id))
            [held] = receiver.wait_for(1, timeout=30)
            # Killed, runner and all, while the delivery is open: no attempt is recorded.
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(timeout=10)
            _wait_gone(first.pid, 10)
        finally:
            if _group_alive(first.pid):
                os.killpg(first.pid, signal.SIGKILL)
        assert run_async(lambda: _delivery_status(database_url)) == ["pending"]

        second = start()
        try:
            # Once the dead runner's claim has expired, the new one delivers the event.
            requests = receiver.wait_for(2, timeout=40)
            deadline = time.monotonic() + 20
            while run_async(lambda: _delivery_status(database_url)) != ["delivered"]:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        finally:
            stop_server(second, timeout=30)
        # SIGTERM stopped the server's runner too.
        _wait_gone(second.pid, 20)

    assert held.webhook_id == event_id
    assert [r.webhook_id for r in requests] == [event_id, event_id]
    assert all(r.verified_with == (secret,) for r in requests)
