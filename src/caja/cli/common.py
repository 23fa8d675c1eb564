"""What every ``caja`` command shares: running work on the database, printing JSON.

``_run`` and ``_print`` are private to the ``caja.cli`` package: only its command
modules use them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy.exc import DBAPIError

from caja.config import database_url
from caja.core.errors import CajaError
from caja.db.engine import Database

__all__ = ["JsonFlag", "_print", "_run"]

T = TypeVar("T")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _run(work: Callable[[Database], Awaitable[T]]) -> T:
    """Run ``work`` on the configured database; a domain error ends the command with 1."""

    async def main() -> T:
        database = Database(database_url())
        try:
            return await work(database)
        finally:
            await database.dispose()

    try:
        return asyncio.run(main())
    except CajaError as error:
        typer.echo(f"error: {error.message}", err=True)
        raise typer.Exit(1) from None
    except DBAPIError as error:
        typer.echo(f"error: database: {error.orig}", err=True)
        typer.echo("(is the schema there? `caja db upgrade` creates it)", err=True)
        raise typer.Exit(1) from None


def _print(payload: dict[str, Any]) -> None:
    typer.echo(json.dumps(payload))
