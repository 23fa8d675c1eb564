"""The app on a fresh database, driven from synchronous code on an event loop of its own.

A Hypothesis state machine is synchronous while the app, its database and its clients
are async; every call into them goes through :meth:`World.run`, on the one loop that made
them, so connections never cross event loops.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
from sqlalchemy import ColumnElement, Row, select
from sqlalchemy.sql import Executable

from caja.app import create_app, services_of
from caja.db.engine import Database
from caja.http.observe import request_log
from caja.ledger.tables import transfers
from caja.ledger.verify import Report
from caja.ops.checks import verify
from caja.providers.bank import SandboxBank
from caja.providers.operator import HttpOperator
from caja.providers.sandbox_operator import SandboxOperator, create_sandbox_app
from tests.conftest import Backend

T = TypeVar("T")

# Generous: the in-process operator answers at once, and no outcome here may hinge on time.
OPERATOR_TIMEOUT = 30.0


class MonthClock:
    """A stand-in for ``utcnow`` that stays inside one Bogotá month, so that the deposit
    accounts' monthly totals cannot be reset by a run that crosses a month's end. Each
    call is a microsecond after the previous one, keeping times in order; the first is
    on a whole second, which SQLite stores without its fraction."""

    def __init__(self, start: datetime = datetime(2026, 3, 15, 15, 0, tzinfo=UTC)) -> None:
        self._next = start

    def __call__(self) -> datetime:
        current = self._next
        self._next += timedelta(microseconds=1)
        return current


class World:
    """One fresh database with the app on it, the sandbox operator and the sandbox bank."""

    def __init__(self, backend: Backend) -> None:
        self.url, self._drop = backend.fresh()
        self._runner = asyncio.Runner()
        self.sandbox = SandboxOperator()
        self.bank = SandboxBank()
        try:
            self.database, self.http = self.run(self._open())
        except BaseException:
            self._runner.close()
            self._drop()
            raise

    async def _open(self) -> tuple[Database, httpx.AsyncClient]:
        database = Database(self.url)
        operator = HttpOperator(
            "http://operator.test",
            timeout=OPERATOR_TIMEOUT,
            transport=httpx.ASGITransport(app=create_sandbox_app(self.sandbox)),
        )
        self.app = create_app(database, operator, self.bank)
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://caja.test"
        )
        return database, http

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self._runner.run(coroutine)

    def report(self) -> Report:
        async def read() -> Report:
            async with self.database.read() as connection:
                return await verify(connection)

        return self.run(read())

    def rows(self, query: Executable) -> list[Row[Any]]:
        async def read() -> list[Row[Any]]:
            async with self.database.read() as connection:
                return list((await connection.execute(query)).all())

        return self.run(read())

    def transfer_id(self, *conditions: ColumnElement[bool]) -> int:
        """The internal id of the one transfer that meets ``conditions``."""
        [row] = self.rows(select(transfers.c.id).where(*conditions))
        return int(row.id)

    def close(self) -> None:
        async def shut() -> None:
            await self.http.aclose()
            await services_of(self.app).batcher.close()
            await services_of(self.app).operator.close()
            await self.database.dispose()

        try:
            self.run(shut())
            request_log.flush()
        finally:
            self._runner.close()
            self._drop()
