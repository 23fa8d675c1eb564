"""``caja statement``: an account's statement, JSON or CSV, streamed to stdout."""

from __future__ import annotations

import sys
from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer

from caja.cli.common import _fail, _run
from caja.core.errors import NotFound
from caja.db.engine import Database

if TYPE_CHECKING:
    from caja.api.statements import Format, Layout
    from caja.ledger.statements import Span

__all__ = ["statement"]


def _day(raw: str, option: str) -> date:
    from caja.api.statements import day

    found = day(raw.strip())
    if found is None:
        _fail(f"{option} must be a date as YYYY-MM-DD (from 1970 to 9998), not {raw!r}")
    return found


def _layout(kind: str, token: str, scale: int, span: Span) -> Layout:
    """Deposit accounts read as the deposit surface writes them; every other account as
    ledger v1 does."""
    from caja.api.deposit.render import statement_layout as deposit_layout
    from caja.api.ledger_v1.render import statement_layout as ledger_layout
    from caja.deposits.service import DEPOSIT

    return deposit_layout(token, span) if kind == DEPOSIT else ledger_layout(token, scale, span)


def statement(
    account: Annotated[
        str, typer.Argument(help="The account's token (acc-…, coopacc-…).", show_default=False)
    ],
    first: Annotated[
        str, typer.Option("--from", help="The first Bogotá day, YYYY-MM-DD.", show_default=False)
    ],
    last: Annotated[
        str, typer.Option("--to", help="The last Bogotá day, YYYY-MM-DD.", show_default=False)
    ],
    output: Annotated[str, typer.Option("--format", help="json or csv.")] = "json",
) -> None:
    """Print ACCOUNT's entries of the Bogotá days --from to --to (both included), with
    its balance before and after them; read and printed a page at a time."""
    from caja.api.statements import chunks
    from caja.ledger.queries import account_by
    from caja.ledger.statements import statement_span

    days = (_day(first, "--from"), _day(last, "--to"))
    if days[0] > days[1]:
        _fail("--from must not be after --to")
    if output not in ("json", "csv"):
        _fail(f"--format must be json or csv, not {output!r}")
    chosen: Format = "csv" if output == "csv" else "json"

    async def work(database: Database) -> None:
        async with database.read() as connection:
            found = await connection.run_sync(account_by, token=account.strip())
            if found is None:
                raise NotFound(f"no account {account!r}")
            span = await connection.run_sync(statement_span, found.id, *days)
        layout = _layout(found.kind, found.token, found.scale, span)
        out = sys.stdout.buffer
        async for chunk in chunks(database, span, layout, chosen):
            out.write(chunk)
            out.flush()
        if chosen == "json":
            out.write(b"\n")
        out.flush()

    _run(work)
