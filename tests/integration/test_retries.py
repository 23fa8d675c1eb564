"""Conflicts the database reports are retried a bounded number of times, then a 503."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from caja.db.engine import MAX_WRITE_ATTEMPTS, Database
from tests.helpers import Caja, listening, transfer_body

pytestmark = pytest.mark.anyio


class _Conflict(Exception):
    """Looks like SQLite's busy error and PostgreSQL's deadlock to the retry logic."""

    sqlstate = "40P01"

    def __str__(self) -> str:
        return "database is locked"


@contextmanager
def failing_transfer_inserts(database: Database, times: int) -> Iterator[list[int]]:
    """Make the first ``times`` inserts into transfers fail as a lock conflict would."""
    calls: list[int] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "INSERT INTO TRANSFERS" in statement.upper():
            calls.append(1)
            if len(calls) <= times:
                raise OperationalError(statement, {}, _Conflict())

    with listening(database, "before_cursor_execute", before):
        yield calls


async def _setup(caja: Caja) -> tuple[str, str, str]:
    key = await caja.client_key("ledger:admin")
    origin = (await caja.account(key))["token"]
    destination = (await caja.account(key))["token"]
    await caja.fund(origin, "100.00")
    return key, origin, destination


async def test_a_transient_conflict_is_retried_and_the_transfer_happens_once(
    caja: Caja,
) -> None:
    key, origin, destination = await _setup(caja)
    transfers_before = (await caja.counts())[0]

    with failing_transfer_inserts(caja.database, times=2) as calls:
        response = await caja.transfer(key, transfer_body(origin, destination, "10.00"))

    assert response.status_code == 201
    assert len(calls) == 3
    assert (await caja.counts())[0] == transfers_before + 1
    assert await caja.balance(key, origin) == "90.00"


async def test_a_conflict_that_persists_gives_503_after_bounded_attempts_and_writes_nothing(
    caja: Caja,
) -> None:
    key, origin, destination = await _setup(caja)
    before = await caja.counts()

    with failing_transfer_inserts(caja.database, times=10**6) as calls:
        response = await caja.transfer(key, transfer_body(origin, destination, "10.00"))

    assert response.status_code == 503
    assert response.json()["code"] == "TemporarilyUnavailable"
    assert len(calls) == MAX_WRITE_ATTEMPTS
    assert await caja.counts() == before
    assert await caja.balance(key, origin) == "100.00"


async def test_sqlite_runs_in_wal_mode_with_full_synchronous_commits(
    database: Database,
) -> None:
    if not database.is_sqlite:
        pytest.skip("SQLite settings")
    async with database.read() as connection:
        journal = (await connection.execute(text("PRAGMA journal_mode"))).scalar_one()
        synchronous = (await connection.execute(text("PRAGMA synchronous"))).scalar_one()
        foreign_keys = (await connection.execute(text("PRAGMA foreign_keys"))).scalar_one()

    assert (journal, synchronous, foreign_keys) == ("wal", 2, 1)
