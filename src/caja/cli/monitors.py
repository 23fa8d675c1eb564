"""``caja monitors``: balance monitors, a ``balance.crossed`` event each time a posting
takes an account's balance across a threshold."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from sqlalchemy.engine import Connection

from caja.cli.common import JsonFlag, _fail, _print, _run, _table
from caja.core.errors import NotFound

__all__ = ["monitors_app"]

monitors_app = typer.Typer(help="Balance monitors of the clients' accounts.", no_args_is_help=True)


def _add(connection: Connection, account_token: str, direction: str, amount: str) -> Any:
    from caja.api.events.parse import parse_threshold
    from caja.ledger.monitors import Direction, add_monitor
    from caja.ledger.queries import account_by

    account = account_by(connection, token=account_token)
    if account is None or account.client_id is None:
        raise NotFound(f"no client's account {account_token}")
    threshold = parse_threshold(amount, account.scale, direction)
    return add_monitor(
        connection, account.client_id, account_token, Direction(direction), threshold
    )


@monitors_app.command("add")
def monitors_add(
    account_token: Annotated[str, typer.Argument(metavar="ACCOUNT_TOKEN")],
    below: Annotated[
        str | None, typer.Option(help="Fire when the balance goes below this amount.")
    ] = None,
    above: Annotated[
        str | None, typer.Option(help="Fire when the balance goes above this amount.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Watch an account: its client gets a balance.crossed event on each crossing."""
    if (below is None) == (above is None):
        _fail("give exactly one of --below and --above", 2)
    direction, amount = ("below", below) if below is not None else ("above", above)
    assert amount is not None
    made = _run(
        lambda database: database.write(lambda c: _add(c, account_token, direction, amount))
    )
    if as_json:
        _print({"monitor_id": made.token})
        return
    typer.echo(f"monitor {made.token}: {account_token} {direction} {amount}")


def _rows(connection: Connection, account: str | None) -> list[dict[str, Any]]:
    from caja.api.events.render import monitor_json
    from caja.clients.service import find_clients
    from caja.ledger.monitors import monitors_of

    found = monitors_of(connection, None, account_token=account)
    ids = {item.client_id for item in found}
    tokens = {row[0]: row[1] for row in find_clients(connection, None, ids, limit=len(ids))}
    return [{"client_id": tokens.get(item.client_id), **monitor_json(item)} for item in found]


@monitors_app.command("list")
def monitors_list(
    account: Annotated[
        str | None, typer.Option("--account", metavar="TOKEN", help="Only this account's.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", metavar="", help="Print one JSON array.")
    ] = False,
) -> None:
    """List every client's monitors, oldest first."""

    async def read(database: Any) -> list[dict[str, Any]]:
        async with database.read() as connection:
            rows: list[dict[str, Any]] = await connection.run_sync(_rows, account)
            return rows

    rows = _run(read)
    if as_json:
        _print(rows)
        return
    _table(
        ["monitor_id", "account", "direction", "threshold", "client_id"],
        [
            [
                row["monitor_id"],
                row["account_token"],
                row["direction"],
                row["threshold"],
                row["client_id"],
            ]
            for row in rows
        ],
    )


@monitors_app.command("remove")
def monitors_remove(
    monitor_id: Annotated[str, typer.Argument(metavar="MONITOR_ID")], as_json: JsonFlag = False
) -> None:
    """Remove a monitor."""
    from caja.ledger.monitors import remove_monitor

    _run(lambda database: database.write(lambda c: remove_monitor(c, None, monitor_id)))
    if as_json:
        _print({"monitor_id": monitor_id, "removed": True})
        return
    typer.echo(f"monitor {monitor_id} removed")
