"""Apply Alembic migrations from inside the program, without an alembic.ini."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import Connection

from caja.db.engine import Database

__all__ = ["alembic_config", "table_names", "upgrade"]

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


async def upgrade(database: Database) -> None:
    """Bring the schema to the newest revision (a no-op when it is already there, so
    running it again after a lost commit is safe: it needs no witness)."""

    await database.write(_upgrade, witnessed=False)


@cache
def table_names() -> frozenset[str]:
    """The tables the migrations build, read off a throwaway in-memory SQLite database."""
    engine = create_engine("sqlite://")
    try:
        with engine.begin() as connection:
            _upgrade(connection)
            return frozenset(inspect(connection).get_table_names())
    finally:
        engine.dispose()
