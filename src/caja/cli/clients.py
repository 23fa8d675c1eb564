"""``caja clients``: API clients and their keys."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from caja.cli.common import JsonFlag, _fail, _print, _run, _table
from caja.core.errors import CajaError
from caja.core.money import parse_amount
from caja.db.engine import Database

__all__ = ["clients_app"]

clients_app = typer.Typer(help="API clients and their keys.", no_args_is_help=True)


def _max_loan_minor(value: str) -> int:
    """A max loan is given in whole pesos (as the top-up surface shows it)."""
    if not value.isdigit():
        raise CajaError("max_loan: must be a whole number of pesos, 0 or more")
    return parse_amount(value, 0, field="max_loan", allow_zero=True) * 100


@clients_app.command("create")
def clients_create(
    name: Annotated[str, typer.Option(help="Who the client is.")],
    scope: Annotated[
        list[str], typer.Option(help="ledger, ledger:admin, topup, deposit or admin; repeatable.")
    ],
    max_loan: Annotated[
        str, typer.Option(help="Overdraft of a topup client's merchant account, whole pesos.")
    ] = "0",
    as_json: JsonFlag = False,
) -> None:
    """Create an API client; its key is printed only this once. Names are unique."""
    from caja.clients.service import ClientNameTaken, NewClient, create_client

    async def work(database: Database) -> NewClient | ClientNameTaken:
        try:
            return await create_client(database, name, scope, _max_loan_minor(max_loan))
        except ClientNameTaken as taken:
            return taken

    created = _run(work)
    if isinstance(created, ClientNameTaken):
        _fail(created.message, 2)
    payload = {
        "client_id": created.client_id,
        "name": created.name,
        "scopes": created.scopes,
        "max_loan_amount": created.max_loan_minor // 100,
        "api_key": created.api_key,
    }
    if as_json:
        _print(payload)
        return
    typer.echo(f"client {created.client_id} ({created.name}) scopes: {' '.join(created.scopes)}")
    typer.echo(f"api key (shown only now): {created.api_key}")


@clients_app.command("list")
def clients_list(
    as_json: Annotated[
        bool, typer.Option("--json", metavar="", help="Print one JSON array.")
    ] = False,
) -> None:
    """List API clients (never their keys)."""
    from caja.clients.service import list_clients

    found = _run(list_clients)
    rows: list[dict[str, Any]] = [
        {
            "client_id": item.client_id,
            "name": item.name,
            "scopes": item.scopes,
            "max_loan_amount": item.max_loan_minor // 100,
            "created_at": item.created_at,
            "revoked": item.revoked,
        }
        for item in found
    ]
    if as_json:
        _print(rows)
        return
    _table(
        ["client_id", "state", "scopes", "max loan", "created", "name"],
        [
            [
                row["client_id"],
                "revoked" if row["revoked"] else "active",
                " ".join(row["scopes"]),
                row["max_loan_amount"],
                row["created_at"][:19].replace("T", " "),
                row["name"],
            ]
            for row in rows
        ],
    )


@clients_app.command("revoke")
def clients_revoke(client_id: str, as_json: JsonFlag = False) -> None:
    """Revoke a client: all its keys stop working at once."""
    from caja.clients.service import revoke_client

    _run(lambda db: revoke_client(db, client_id))
    if as_json:
        _print({"client_id": client_id, "revoked": True})
        return
    typer.echo(f"client {client_id} revoked")


@clients_app.command("set-max-loan")
def clients_set_max_loan(
    client_id: str,
    max_loan: Annotated[str, typer.Argument(help="New overdraft, whole pesos.")],
    as_json: JsonFlag = False,
) -> None:
    """Change a topup client's max loan (the overdraft of its merchant account)."""
    from caja.clients.service import set_max_loan

    _run(lambda db: set_max_loan(db, client_id, _max_loan_minor(max_loan)))
    pesos = _max_loan_minor(max_loan) // 100
    if as_json:
        _print({"client_id": client_id, "max_loan_amount": pesos})
        return
    typer.echo(f"client {client_id} max loan {pesos}")
