"""SQLite: a small transaction commits on the event loop's thread, a large one in a
worker thread (``caja.db.engine.SMALL_COMMIT_ROWS``); both are durable and whole.

SQLite only: PostgreSQL's COMMIT is a round trip awaited on the loop, with no thread.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection

from caja.core.errors import Unavailable
from caja.db.engine import SMALL_COMMIT_ROWS, Database

pytestmark = pytest.mark.anyio


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'commit.db'}")
    await database.write(
        lambda connection: connection.execute(text("CREATE TABLE rows (n INTEGER)")),
        witnessed=False,
    )
    try:
        yield database
    finally:
        await database.dispose()


def _committing_threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    threads: list[str] = []
    commit = Connection.commit

    def recorded(connection: Connection) -> None:
        threads.append(threading.current_thread().name)
        commit(connection)

    monkeypatch.setattr(Connection, "commit", recorded)
    return threads


def _insert(count: int) -> Callable[[Connection], int]:
    def work(connection: Connection) -> int:
        for n in range(count):
            connection.execute(text("INSERT INTO rows (n) VALUES (:n)"), {"n": n})
        return count

    return work


async def _count(database: Database) -> int:
    async with database.read() as connection:
        return int((await connection.execute(text("SELECT count(*) FROM rows"))).scalar_one())


async def test_a_small_write_commits_on_the_loop_and_a_large_one_in_a_thread(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads = _committing_threads(monkeypatch)
    loop_thread = threading.current_thread().name

    await database.write(_insert(SMALL_COMMIT_ROWS), witnessed=False)
    await database.write(_insert(SMALL_COMMIT_ROWS + 1), witnessed=False)

    assert threads[0] == loop_thread
    assert threads[1] != loop_thread
    assert await _count(database) == 2 * SMALL_COMMIT_ROWS + 1


async def test_a_failed_small_commit_leaves_nothing_and_raises(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(_connection: Connection) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(Connection, "commit", refuse)
    with pytest.raises(Unavailable):
        await database.write(_insert(3), witnessed=False)
    monkeypatch.undo()

    assert await _count(database) == 0
    await database.write(_insert(2), witnessed=False)
    assert await _count(database) == 2
