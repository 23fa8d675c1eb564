"""What the fault tests share: short bounds, a migrated database, the app on it."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx

from caja.app import create_app, services_of
from caja.config import DatabaseSettings
from caja.db import migrate
from caja.db.engine import Database
from tests.helpers import Caja

__all__ = ["SHORT", "empty_database", "ledger_pair", "migrated", "serving", "shortened"]

# Bounds short enough for a test to see each one end, in seconds.
SHORT = DatabaseSettings(
    connect=1.0,
    statement=2.0,
    lock=1.0,
    commit=2.0,
    pool=2.0,
    idle_in_transaction=10.0,
    reconnect=3.0,
    ready=0.5,
)


def shortened(**overrides: Any) -> DatabaseSettings:
    return dataclasses.replace(SHORT, **overrides)


async def empty_database(server_url: str, name: str) -> str:
    """A new, empty database ``name`` on the server (an old one of that name dropped);
    its URL."""
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    return server_url.rsplit("/", 1)[0] + f"/{name}"


async def migrated(server_url: str, name: str) -> str:
    """A new database ``name`` on the server, migrated; its URL."""
    url = await empty_database(server_url, name)
    database = Database(url, settings=SHORT)
    try:
        await migrate.upgrade(database)
    finally:
        await database.dispose()
    return url


@asynccontextmanager
async def serving(database: Database) -> AsyncIterator[Caja]:
    """The app on ``database``, with a client; the database is disposed at the end."""
    app = create_app(database)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://caja.test") as http:
            yield Caja(database, http)
            await services_of(app).batcher.close()
    finally:
        await database.dispose()


async def ledger_pair(caja: Caja) -> tuple[str, str, str]:
    """A client key and two accounts of it, the first funded with 100.00."""
    key = await caja.client_key("ledger:admin")
    origin = (await caja.account(key))["token"]
    destination = (await caja.account(key))["token"]
    await caja.fund(origin, "100.00")
    return key, origin, destination
