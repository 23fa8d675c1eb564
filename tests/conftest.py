"""Fixtures: every test runs once on SQLite and once on PostgreSQL.

Each test gets a fresh database copied from a template that the migrations built once
per session, so every test starts from exactly what ``caja db upgrade`` makes.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from caja.app import create_app, services_of
from caja.db import migrate
from caja.db.engine import Database
from caja.http.observe import request_log
from tests.helpers import Caja
from tests.postgres import postgres_server

T = TypeVar("T")
_names = itertools.count()
# Under pytest-xdist each worker names its databases apart, for a server they share
# (CAJA_TEST_POSTGRES_URL).
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
TEMPLATE = f"caja_template_{_WORKER}"


def run_async(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from synchronous code, whatever loop is running."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, factory()).result()


async def _migrate(url: str) -> None:
    database = Database(url)
    try:
        await migrate.upgrade(database)
    finally:
        await database.dispose()


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


class Backend:
    """Makes fresh, migrated databases of one kind."""

    def __init__(self, kind: str, root: Path, server_url: str | None) -> None:
        self.kind = kind
        self.root = root
        self.server_url = server_url
        if kind == "sqlite":
            self.template = root / "template.db"
            run_async(lambda: _migrate(f"sqlite:///{self.template}"))
        else:
            assert server_url is not None
            run_async(self._make_pg_template)

    def _pg_url(self, name: str) -> str:
        assert self.server_url is not None
        return self.server_url.rsplit("/", 1)[0] + f"/{name}"

    async def _admin(self, sql: str) -> None:
        assert self.server_url is not None
        connection = await asyncpg.connect(_asyncpg_dsn(self.server_url))
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    async def _make_pg_template(self) -> None:
        await self._admin(f"DROP DATABASE IF EXISTS {TEMPLATE}")
        await self._admin(f"CREATE DATABASE {TEMPLATE}")
        await _migrate(self._pg_url(TEMPLATE))

    def fresh(self) -> tuple[str, Callable[[], None]]:
        """A new migrated database: its URL and a function that drops it."""
        name = f"caja_test_{_WORKER}_{next(_names)}"
        if self.kind == "sqlite":
            path = self.root / f"{name}.db"
            shutil.copyfile(self.template, path)
            return f"sqlite:///{path}", lambda: None
        run_async(lambda: self._admin(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}"))

        def drop() -> None:
            run_async(lambda: self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))

        return self._pg_url(name), drop


@pytest.fixture(autouse=True)
def _write_request_log() -> Iterator[None]:
    """Write each test's request log lines while its output is still captured."""
    yield
    request_log.flush()


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Backend:
    root = tmp_path_factory.mktemp(request.param)
    server = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    return Backend(request.param, root, server)


@pytest.fixture
def database_url(backend: Backend) -> Iterator[str]:
    url, drop = backend.fresh()
    yield url
    drop()


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    yield db
    await db.dispose()


@pytest.fixture
def app(database: Database) -> FastAPI:
    """The app on the test's database, with the in-process sandbox operator
    (``services_of(app).sandbox``)."""
    return create_app(database)


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://caja.test") as client:
        yield client
    await services_of(app).batcher.close()


@pytest.fixture
def caja(database: Database, http: httpx.AsyncClient) -> Caja:
    return Caja(database, http)
