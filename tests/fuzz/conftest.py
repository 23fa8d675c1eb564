"""Fixtures of the fuzz tests: an app with every surface usable, and a client that turns a
server exception into the 500 answer a real server would send.

The request counts of the schema fuzzing are printed at the end of the run (see
``pytest_terminal_summary``); each test hands its counts over as a user property, which
also reaches the main process under pytest-xdist.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from _pytest.terminal import TerminalReporter
from argon2 import PasswordHasher
from fastapi import FastAPI

from caja.app import create_app, services_of
from caja.db.engine import Database
from caja.providers.bank import SandboxBank
from caja.wallet import service as wallet_service

WALLET_SECRET = "fuzz-tests-wallet-secret-" + "z" * 24
STATS_PROPERTY = "fuzz_stats"


@pytest.fixture
def fuzz_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The wallet configured, no request log (thousands of lines) and cheap password
    hashing, so that fuzzed sign-ups and log-ins stay fast."""
    monkeypatch.setenv("CAJA_WALLET_ASSETS", "COP,USD")
    monkeypatch.setenv("CAJA_WALLET_JWT_SECRET", WALLET_SECRET)
    # A full fuzz run may outlast the default 15 minutes of a log-in token.
    monkeypatch.setenv("CAJA_WALLET_TOKEN_SECONDS", "86400")
    monkeypatch.setenv("CAJA_ACCESS_LOG", "0")
    # The events surface's endpoints are on 127.0.0.1 (nothing listens there).
    monkeypatch.setenv("CAJA_WEBHOOKS_ALLOW_PRIVATE", "1")
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(wallet_service, "_hasher", cheap)


def make_app(database: Database) -> FastAPI:
    return create_app(database, bank=SandboxBank(timeout=0.5))


@pytest.fixture
def app(database: Database, fuzz_settings: None) -> FastAPI:
    return make_app(database)


def asgi_client(app: FastAPI) -> httpx.AsyncClient:
    """A client on ``app`` that answers an exception escaping the app as a 500, as a real
    server does, so that the test sees a failed request instead of crashing."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://caja.test")


async def close_app(app: FastAPI) -> None:
    await services_of(app).batcher.close()
    await services_of(app).operator.close()


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as client:
        yield client
    await close_app(app)


def pytest_terminal_summary(terminalreporter: TerminalReporter) -> None:
    rows: list[dict[str, Any]] = []
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) != "teardown":
                continue
            for name, value in getattr(report, "user_properties", ()):
                if name == STATS_PROPERTY:
                    rows.append(value)
    if not rows:
        return
    terminalreporter.section("schema fuzzing")
    totals: dict[tuple[str, str], list[int]] = {}
    for row in sorted(rows, key=lambda r: (r["backend"], r["surface"], r["credentials"])):
        terminalreporter.write_line(
            f"{row['backend']:<10} {row['surface']:<10} {row['credentials']:<6} "
            f"requests={row['requests']:<6} 5xx={row['server_errors']:<3} "
            f"violations={row['violations']:<3} statuses={row['statuses']}"
        )
        total = totals.setdefault((row["backend"], row["surface"]), [0, 0, 0])
        total[0] += row["requests"]
        total[1] += row["server_errors"]
        total[2] += row["violations"]
    for (backend, surface), (requests, errors, violations) in sorted(totals.items()):
        terminalreporter.write_line(
            f"total {backend:<10} {surface:<10} requests={requests} 5xx={errors} "
            f"violations={violations}"
        )
