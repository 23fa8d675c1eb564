"""Conflicts the database reports are retried a bounded number of times, then a 503."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DataError, OperationalError

from caja.db.engine import MAX_WRITE_ATTEMPTS, Database
from tests.helpers import V1, Caja, listening, transfer_body

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


class _Refused(Exception):
    """Looks like PostgreSQL refusing a value (invalid_text_representation)."""

    sqlstate = "22P02"


async def test_a_value_the_database_refuses_is_a_4xx_not_a_retry(caja: Caja) -> None:
    """Outside a batch (where one refused value fails the whole batch, 503 to all, each of
    which can retry alone), a value the database refuses is answered as bad input."""
    key, origin, _destination = await _setup(caja)
    before = await caja.counts()

    def before_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM ACCOUNTS" in statement.upper():
            raise DataError(statement, {}, _Refused())

    with listening(caja.database, "before_cursor_execute", before_execute):
        response = await caja.http.get(f"{V1}/account/{origin}", headers={"X-Account-api-key": key})

    assert response.status_code == 422, response.text
    assert response.json()["code"] == "InvalidData"
    assert "cannot store" in response.json()["message"]
    assert await caja.counts() == before
