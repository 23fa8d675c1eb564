"""Apply Alembic migrations from inside the program, without an alembic.ini."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from caja.db.engine import Database

__all__ = ["alembic_config", "upgrade"]

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


async def upgrade(database: Database) -> None:
    """Bring the schema to the newest revision (a no-op when it is already there)."""

    await database.write(_upgrade)
