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
from caja.db.urls import url_problem

__all__ = ["JsonFlag", "_print", "_run"]

T = TypeVar("T")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _run(work: Callable[[Database], Awaitable[T]]) -> T:
    """Run ``work`` on the configured database; a domain error ends the command with 1."""

    url = database_url()
    problem = url_problem(url)
    if problem is not None:
        typer.echo(f"error: CAJA_DATABASE_URL: {problem}", err=True)
        raise typer.Exit(2)

    async def main() -> T:
        database = Database(url)
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
    except OSError as error:  # refused, unreachable, timed out: no answer to show
        typer.echo(f"error: the database cannot be reached: {error}", err=True)
        raise typer.Exit(1) from None


def _print(payload: dict[str, Any]) -> None:
    typer.echo(json.dumps(payload))
