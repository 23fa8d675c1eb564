"""Writes outside the batches leave a witness, to look up when the answer to their
COMMIT is lost (tests/faults/test_lost_commit.py cuts real connections): one row per
write that changed something, none for a write that changed nothing or for a batch (it
has its own lookup); witnesses an hour old are removed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from caja.core.errors import Unavailable
from caja.db import witness
from caja.db.engine import Database
from tests.helpers import Caja, transfer_body

pytestmark = pytest.mark.anyio


async def _witnesses(database: Database) -> list[str]:
    async with database.read() as connection:
        rows = await connection.execute(text("SELECT token FROM commit_witnesses"))
        return sorted(row.token for row in rows)


def _change(connection: Connection) -> int:
    return connection.execute(text("UPDATE heartbeat SET beats = beats + 1")).rowcount


def _read_only(connection: Connection) -> int:
    return int(connection.execute(text("SELECT beats FROM heartbeat")).scalar_one())


async def test_a_write_that_changed_something_leaves_one_witness(
    caja: Caja, database: Database
) -> None:
    before = await _witnesses(database)

    assert await database.write(_change) == 1
    after_change = await _witnesses(database)
    await database.write(_read_only)
    await database.write(_change, witnessed=False)

    assert len(after_change) == len(before) + 1
    assert await _witnesses(database) == after_change


async def test_a_batch_leaves_no_witness(caja: Caja, database: Database) -> None:
    key = await caja.client_key("ledger:admin")
    origin = (await caja.account(key))["token"]
    destination = (await caja.account(key))["token"]
    await caja.fund(origin, "10.00")
    before = await _witnesses(database)

    response = await caja.transfer(key, transfer_body(origin, destination, "1.00"))

    assert response.status_code == 201, response.text
    assert await _witnesses(database) == before


async def test_witnesses_an_hour_old_are_removed(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(witness, "PRUNE_ONE_IN", 1)
    now = datetime.now(UTC)
    ages = {"old": now - timedelta(hours=2), "recent": now - timedelta(minutes=10)}
    before = await _witnesses(database)

    def plant(connection: Connection) -> None:
        for token, moment in ages.items():
            connection.execute(
                text("INSERT INTO commit_witnesses (token, created_at) VALUES (:token, :at)"),
                {"token": token, "at": moment},
            )

    await database.write(plant, witnessed=False)
    await database.write(_change)

    left = await _witnesses(database)
    assert "old" not in left
    assert "recent" in left
    assert len(left) == len(before) + 2  # the recent one and the new write's


class _LoseAnswer:
    """The next COMMIT of a write loses its answer: made (``after``) or not (``before``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, made: bool) -> None:
        self.made = made
        self.armed = True
        sync_commit, async_commit = Connection.commit, AsyncConnection.commit

        def commit(connection: Connection) -> None:
            if self._fires():
                if self.made:
                    sync_commit(connection)
                raise OSError("the answer to COMMIT was lost")
            sync_commit(connection)

        async def commit_async(connection: AsyncConnection) -> None:
            if self._fires():
                if self.made:
                    await async_commit(connection)
                raise OSError("the answer to COMMIT was lost")
            await async_commit(connection)

        monkeypatch.setattr(Connection, "commit", commit)
        monkeypatch.setattr(AsyncConnection, "commit", commit_async)

    def _fires(self) -> bool:
        fires, self.armed = self.armed, False
        return fires


async def _beats(database: Database) -> int:
    async with database.read() as connection:
        return await connection.run_sync(_read_only)


async def test_a_lost_commit_that_was_made_is_found_by_its_witness(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    beats = await _beats(database)
    lose = _LoseAnswer(monkeypatch, made=True)

    assert await database.write(_change) == 1

    assert not lose.armed
    assert await _beats(database) == beats + 1


async def test_a_lost_commit_that_was_not_made_is_unavailable_and_changed_nothing(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    beats, witnesses = await _beats(database), await _witnesses(database)
    lose = _LoseAnswer(monkeypatch, made=False)

    with pytest.raises(Unavailable):
        await database.write(_change)

    assert not lose.armed
    assert await _beats(database) == beats
    assert await _witnesses(database) == witnesses


async def test_without_a_witness_a_lost_commit_is_unavailable_even_when_made(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    beats = await _beats(database)
    _LoseAnswer(monkeypatch, made=True)

    with pytest.raises(Unavailable):
        await database.write(_change, witnessed=False)

    # It was made: a caller that writes without a witness tries again, and needs no answer.
    assert await _beats(database) == beats + 1
