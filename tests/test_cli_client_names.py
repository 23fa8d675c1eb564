"""Each API client's name is its own: ``caja clients create`` refuses a taken name, the
database refuses it too, and migration 0012 renames the duplicates an older database has."""

from __future__ import annotations

import asyncio
import importlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from sqlalchemy import insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from caja.clients.service import ClientNameTaken, create_client
from caja.clients.tables import clients
from caja.db import migrate
from caja.db.engine import Database
from caja.ops.demo import create_demo
from tests.test_cli import Cli, cli, on_database

__all__ = ["cli"]  # the fixture, for the tests here

names_migration: Any = importlib.import_module("caja.db.migrations.versions.0012_client_names")


def test_a_taken_name_is_refused_naming_the_client_that_has_it(cli: Cli) -> None:
    first = cli("clients", "create", "--name", "Tienda Ana", "--scope", "ledger", "--json")
    again = cli("clients", "create", "--name", " Tienda Ana ", "--scope", "topup")

    assert first.exit_code == 0, first.output
    client_id = json.loads(first.stdout)["client_id"]
    assert again.exit_code == 2
    assert again.stderr == (
        f'error: a client named "Tienda Ana" already exists (client_id {client_id})\n'
    )
    assert len(json.loads(cli("clients", "list", "--json").stdout)) == 1


def test_the_database_refuses_a_second_client_of_a_name(database_url: str) -> None:
    async def twice(database: Database) -> None:
        def write(connection: Connection) -> None:
            for token in ("cli-one", "cli-two"):
                connection.execute(
                    insert(clients).values(
                        token=token, name="same", scopes="ledger", created_at=datetime.now(UTC)
                    )
                )

        async with database.engine.begin() as connection:
            await connection.run_sync(write)

    with pytest.raises(IntegrityError):
        on_database(database_url, twice)


def test_the_service_says_who_has_the_name_and_numbers_it_when_asked(database_url: str) -> None:
    async def make(database: Database) -> tuple[str, list[str]]:
        first = await create_client(database, "shop", ["ledger"])
        with pytest.raises(ClientNameTaken) as taken:
            await create_client(database, "shop", ["ledger"])
        assert taken.value.client_id == first.client_id
        numbered = [
            (await create_client(database, "shop", ["ledger"], numbered=True)).name
            for _ in range(2)
        ]
        return first.name, numbered

    assert on_database(database_url, make) == ("shop", ["shop (2)", "shop (3)"])


def test_of_clients_created_at_once_with_one_name_one_wins(database_url: str) -> None:
    async def race(database: Database) -> list[str]:
        outcomes = await asyncio.gather(
            *(create_client(database, "racer", ["ledger"]) for _ in range(5)),
            return_exceptions=True,
        )
        return sorted(type(outcome).__name__ for outcome in outcomes)

    assert on_database(database_url, race) == ["ClientNameTaken"] * 4 + ["NewClient"]


def test_caja_demo_twice_on_one_database_makes_two_demo_clients(database_url: str) -> None:
    async def twice(database: Database) -> list[str]:
        await create_demo(database)
        await create_demo(database)
        async with database.read() as connection:
            found = await connection.execute(select(clients.c.name).order_by(clients.c.id))
            return [name for (name,) in found]

    assert on_database(database_url, twice) == ["demo", "demo (2)"]


def test_renames_keep_the_first_and_number_the_later_ones_deterministically() -> None:
    rows = [(1, "a"), (2, "a"), (3, "a (2)"), (4, "b"), (5, "a"), (6, "b"), (7, "x" * 100)]
    rows.append((8, "x" * 100))

    assert names_migration.renames(rows) == {
        2: "a (3)",
        5: "a (4)",
        6: "b (2)",
        8: "x" * 96 + " (2)",
    }


def test_the_migration_renames_duplicates_of_an_older_database(database_url: str) -> None:
    """Back to 0011 (no index), three clients of one name, then up again."""

    def down(connection: Connection) -> None:
        command.downgrade(migrate.alembic_config(connection), "0011")

    def up(connection: Connection) -> None:
        command.upgrade(migrate.alembic_config(connection), "head")

    def duplicates(connection: Connection) -> None:
        for token in ("cli-1", "cli-2", "cli-3"):
            connection.execute(
                insert(clients).values(
                    token=token, name="coop", scopes="deposit", created_at=datetime.now(UTC)
                )
            )

    async def work(database: Database) -> list[tuple[str, str]]:
        async with database.engine.begin() as connection:
            await connection.run_sync(down)
        async with database.engine.begin() as connection:
            await connection.run_sync(duplicates)
        async with database.engine.begin() as connection:
            await connection.run_sync(up)
        async with database.read() as connection:
            found = await connection.execute(
                select(clients.c.token, clients.c.name).order_by(clients.c.id)
            )
            return [(token, name) for token, name in found]

    assert on_database(database_url, work) == [
        ("cli-1", "coop"),
        ("cli-2", "coop (2)"),
        ("cli-3", "coop (3)"),
    ]
