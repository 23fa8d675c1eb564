"""A rolling restart under load: two `caja serve` hosts on one database behind HAProxy,
each stopped with SIGTERM and started again in turn while clients send ledger transfers
that they never resend. Not one request fails, and every transfer exists once."""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from caja.clients.service import create_client
from caja.db.engine import Database
from caja.ledger.tables import transfers
from caja.ops.funding import fund
from tests.conftest import run_async
from tests.helpers import V1, account_body, stop_server, transfer_body
from tests.postgres import free_port

pytestmark = pytest.mark.slow

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
CAJA = shutil.which("caja", path=str(Path(sys.executable).parent)) or shutil.which("caja")
CLIENTS = 4
# Longer than HAProxy takes to see a server fail its check twice (fall 2, inter 200ms).
DRAIN_SECONDS = "1.5"
# A POST is resent by HAProxy only when its connection failed before it was sent: the
# test proves the drain, not HAProxy's retries.
HAPROXY_CONFIG = """\
global
    maxconn 1000
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    timeout check 1s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout
frontend api
    bind 127.0.0.1:{port}
    http-request disable-l7-retry if METH_POST
    default_backend caja
backend caja
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 200ms fall 2 rise 2
    server a 127.0.0.1:{a} check
    server b 127.0.0.1:{b} check
listen stats
    bind 127.0.0.1:{stats}
    stats enable
    stats uri /stats
"""


@dataclass
class Host:
    """One `caja serve` on a port of its own, stopped and started again."""

    port: int
    workers: int
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    exit_codes: list[int] = field(default_factory=list)

    def start(self) -> None:
        assert CAJA is not None, "the caja console script is not installed"
        command = [CAJA, "serve", "--port", str(self.port), "--workers", str(self.workers)]
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                command, env=self.env, stdout=output, stderr=subprocess.STDOUT
            )

    def terminate_and_wait(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        self.exit_codes.append(self.process.wait(timeout=30))
        self.process = None


def _up(stats_url: str, name: str) -> bool:
    try:
        text = httpx.get(stats_url, timeout=1).text
    except httpx.TransportError:
        return False
    rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
    return any(
        row["pxname"] == "caja" and row["svname"] == name and row["status"] == "UP" for row in rows
    )


def _wait_up(stats_url: str, name: str, host: Host) -> None:
    deadline = time.monotonic() + 30
    while not _up(stats_url, name):
        assert host.process is None or host.process.poll() is None, host.log.read_text()
        assert time.monotonic() < deadline, f"HAProxy never saw {name} up"
        time.sleep(0.1)


def _restart_in_turn(hosts: dict[str, Host], stats_url: str) -> None:
    for name, host in hosts.items():
        host.terminate_and_wait()
        host.start()
        _wait_up(stats_url, name, host)


async def _setup(database_url: str, base: str) -> tuple[dict[str, str], str, str]:
    database = Database(database_url)
    try:
        key = (await create_client(database, "drained", ["ledger:admin"])).api_key
        headers = {"X-Account-api-key": key}
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            origin = await http.post(f"{V1}/account", json=account_body(), headers=headers)
            other = await http.post(f"{V1}/account", json=account_body(), headers=headers)
        await fund(database, origin.json()["token"], "100000.00")
        return headers, origin.json()["token"], other.json()["token"]
    finally:
        await database.dispose()


@dataclass
class Load:
    """Clients that each send transfers one after another, each with a token of its own,
    and never send one again."""

    base: str
    headers: dict[str, str]
    origin: str
    destination: str
    acknowledged: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def client(self, tokens: itertools.count[int]) -> None:
        async with httpx.AsyncClient(base_url=self.base, timeout=20) as http:
            while not self.stop.is_set():
                token = f"drain-{next(tokens)}"
                body = transfer_body(self.origin, self.destination, "0.01")
                body["unique_transfer_token"] = token
                try:
                    response = await http.post(f"{V1}/transaction", json=body, headers=self.headers)
                except httpx.TransportError as error:
                    self.failed.append(f"{token}: {error!r}")
                    continue
                if response.status_code == 201:
                    self.acknowledged.append(token)
                else:
                    self.failed.append(f"{token}: {response.status_code} {response.text}")


async def _under_load(load: Load, restart: asyncio.Future[None]) -> None:
    tokens = itertools.count()
    clients = [asyncio.create_task(load.client(tokens)) for _ in range(CLIENTS)]
    try:
        await restart
        await asyncio.sleep(0.5)
    finally:
        load.stop.set()
        await asyncio.gather(*clients)


async def _counted(database_url: str, tokens: list[str]) -> tuple[int, int]:
    database = Database(database_url)
    try:
        async with database.read() as connection:
            listed = select(func.count()).where(transfers.c.idempotency_key.in_(tokens))
            everything = select(func.count()).where(transfers.c.idempotency_key.like("drain-%"))
            return (
                (await connection.execute(listed)).scalar_one(),
                (await connection.execute(everything)).scalar_one(),
            )
    finally:
        await database.dispose()


async def _run_load(database_url: str, base: str, hosts: dict[str, Host], stats: str) -> Load:
    headers, origin, destination = await _setup(database_url, base)
    load = Load(base, headers, origin, destination)
    restart = asyncio.ensure_future(asyncio.to_thread(_restart_in_turn, hosts, stats))
    await asyncio.sleep(0.5)
    await _under_load(load, restart)
    return load


def test_a_rolling_restart_under_load_fails_no_request(database_url: str, tmp_path: Path) -> None:
    if not Path(HAPROXY).exists():
        pytest.skip("HAProxy is not installed")
    ports = {"a": free_port(), "b": free_port(), "front": free_port(), "stats": free_port()}
    config = tmp_path / "haproxy.cfg"
    config.write_text(
        HAPROXY_CONFIG.format(port=ports["front"], a=ports["a"], b=ports["b"], stats=ports["stats"])
    )
    env = {
        **os.environ,
        "CAJA_DATABASE_URL": database_url,
        "CAJA_ACCESS_LOG": "0",
        "CAJA_DRAIN_SECONDS": DRAIN_SECONDS,
        "CAJA_WALLET_JWT_SECRET": secrets.token_urlsafe(32),
    }
    hosts = {
        "a": Host(ports["a"], 1, env, tmp_path / "a.log"),
        "b": Host(ports["b"], 2, env, tmp_path / "b.log"),
    }
    stats = f"http://127.0.0.1:{ports['stats']}/stats;csv"
    proxy = subprocess.Popen(
        [HAPROXY, "-db", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for host in hosts.values():
            host.start()
        for name, host in hosts.items():
            _wait_up(stats, name, host)
        load = run_async(
            lambda: _run_load(database_url, f"http://127.0.0.1:{ports['front']}", hosts, stats)
        )
    finally:
        for host in hosts.values():
            if host.process is not None:
                stop_server(host.process, timeout=20)
        stop_server(proxy, timeout=10)
    listed, everything = run_async(lambda: _counted(database_url, load.acknowledged))

    assert load.failed == []
    assert len(load.acknowledged) > 100
    assert listed == len(set(load.acknowledged)) == len(load.acknowledged)
    assert everything == listed
    assert hosts["a"].exit_codes == [0]
    assert hosts["b"].exit_codes == [0]
