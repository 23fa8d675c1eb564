"""A small client for the tests: make API clients and accounts, fund, transfer."""

from __future__ import annotations

import itertools
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event, func, select

from caja.clients.service import create_client
from caja.db.engine import Database
from caja.ledger.tables import accounts, entries, transfers
from caja.ledger.verify import Report
from caja.ops.checks import verify
from caja.ops.funding import fund

V1 = "/api/ledger/v1/public"
V0 = "/api/ledger/v0"
# A holder the sandbox bank accepts (docs/deposit-api.md, "The sandbox bank"), but for the
# identification_number (ending in 45678) and the email, which differ per account.
SANDBOX_HOLDER = {
    "identification_type": "CC",
    "identification_issued_at": "2019-03-19",
    "mobile_phone_number": "3528881234",
    "names": "Nigerio",
    "first_last_name": "Numa",
    "sex": "M",
    "date_of_birth": "1999-01-25",
}
_serial = itertools.count(1)


class Clock:
    """A fixed 'now', in UTC, to put in place of a module's ``utcnow``; move it by
    setting ``now``."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now.astimezone(UTC)


def account_body(**overrides: Any) -> dict[str, Any]:
    """A valid account-creation body, unique per call unless overridden."""
    n = next(_serial)
    body = {
        "phone_number": f"+57300{n:07d}",
        "owner_legal_id_type": "CC",
        "owner_legal_id_number": f"{10_000_000 + n}",
        "owner_full_name": f"Owner {n}",
        "owner_email": f"owner{n}@example.com",
    }
    body.update(overrides)
    return body


def transfer_body(
    origin: str, destination: str, amount: Any = "1000.00", **overrides: Any
) -> dict[str, Any]:
    body = {
        "origin_account": origin,
        "destination_account": destination,
        "amount": amount,
        "description": "test tx",
        "unique_transfer_token": f"utt-{next(_serial)}",
    }
    body.update(overrides)
    return body


class Caja:
    def __init__(self, database: Database, http: httpx.AsyncClient) -> None:
        self.database = database
        self.http = http

    async def client_key(self, *scopes: str, name: str | None = None) -> str:
        named = name or f"acme {next(_serial)}"  # client names are unique
        created = await create_client(self.database, named, list(scopes or ("ledger:admin",)))
        return created.api_key

    async def account(self, key: str, **overrides: Any) -> dict[str, Any]:
        """Create an account through v1 and return its JSON."""
        response = await self.http.post(
            f"{V1}/account", json=account_body(**overrides), headers={"X-Account-api-key": key}
        )
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    async def fund(self, token: str, amount: str) -> None:
        await fund(self.database, token, amount)

    async def transfer(self, key: str, body: dict[str, Any]) -> httpx.Response:
        return await self.http.post(
            f"{V1}/transaction", json=body, headers={"X-Account-api-key": key}
        )

    async def balance(self, key: str, token: str) -> str:
        response = await self.http.get(f"{V1}/account/{token}", headers={"X-Account-api-key": key})
        assert response.status_code == 200, response.text
        return str(response.json()["balance"])

    async def counts(self) -> tuple[int, int, int]:
        """Rows in transfers, entries and accounts."""
        async with self.database.read() as connection:
            transfer_count, entry_count, account_count = [
                (await connection.execute(select(func.count()).select_from(table))).scalar_one()
                for table in (transfers, entries, accounts)
            ]
        return transfer_count, entry_count, account_count

    async def verify(self) -> Report:
        async with self.database.read() as connection:
            return await verify(connection)


def wait_until_healthy(
    server: subprocess.Popen[bytes], base: str, log: Path, timeout: float
) -> None:
    """Wait for a started ``caja serve`` to answer /healthz; fail with its log otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text()
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(log.read_text())


def stop_server(server: subprocess.Popen[bytes], timeout: float) -> None:
    """Stop a ``caja serve`` the test started: SIGTERM, then SIGKILL after ``timeout``."""
    server.terminate()
    try:
        server.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


@contextmanager
def listening(database: Database, name: str, listener: Callable[..., Any]) -> Iterator[None]:
    """Call ``listener`` on ``name`` events of every engine that runs statements: the
    async one, and on SQLite the blocking one that writes."""
    engines = [database.engine.sync_engine]
    if database.writer is not None:
        engines.append(database.writer)
    for engine in engines:
        event.listen(engine, name, listener)
    try:
        yield
    finally:
        for engine in engines:
            event.remove(engine, name, listener)
