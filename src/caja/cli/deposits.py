"""``caja deposits``: electronic deposit accounts (sandbox bank)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from caja.cli.common import JsonFlag, _fail, _print, _run, _table
from caja.core.money import format_minor, parse_amount
from caja.db.engine import Database

__all__ = ["deposits_app"]

deposits_app = typer.Typer(help="Electronic deposit accounts (sandbox bank).", no_args_is_help=True)


@deposits_app.command("receive")
def deposits_receive(
    account: Annotated[str, typer.Argument(help="The deposit account's token (coopacc-…).")],
    amount: Annotated[str, typer.Argument(help="Pesos, at most two decimals.")],
    bank: Annotated[str, typer.Option(help="The sending bank's slug (caja deposits banks).")],
    sender_name: Annotated[str, typer.Option(help="Who sent the money.")],
    sender_id: Annotated[str, typer.Option(help="The sender's identification number.")],
    as_json: JsonFlag = False,
) -> None:
    """Receive money another bank sent to an account, as the bank's feed reports it."""
    from caja.deposits import service as deposits
    from caja.providers.bank import SandboxBank

    name, identification = sender_name.strip(), sender_id.strip()
    if not 1 <= len(name) <= 150 or not 1 <= len(identification) <= 20:
        _fail("--sender-name must have 1 to 150 characters, --sender-id 1 to 20")

    async def work(database: Database) -> Any:
        amount_minor = parse_amount(amount, 2)
        number = await deposits.account_number(database, account)
        incoming = SandboxBank().transfer_in(
            number,
            amount_minor,
            bank_slug=bank,
            sender_name=name,
            sender_id_number=identification,
        )
        return await deposits.receive(database, incoming)

    received = _run(work)
    payload = {
        "account": account,
        "amount": format_minor(received.transfer.amount_minor, 2),
        "balance": format_minor(received.transfer.credit_balance_after_minor or 0, 2),
        "coopcentral_id": received.coopcentral_id,
        "bank": bank,
    }
    if as_json:
        _print(payload)
        return
    typer.echo(f"{account} received {payload['amount']} from {bank}: balance {payload['balance']}")


@deposits_app.command("cancel")
def deposits_cancel(
    account: Annotated[str, typer.Argument(help="The deposit account's token (coopacc-…).")],
    as_json: JsonFlag = False,
) -> None:
    """Cancel a deposit account: no money moves into or out of it any more."""
    from caja.deposits import service as deposits

    _run(lambda db: deposits.cancel(db, account))
    if as_json:
        _print({"account": account, "cancelled": True})
        return
    typer.echo(f"{account} cancelled")


@deposits_app.command("banks")
def deposits_banks(as_json: JsonFlag = False) -> None:
    """The banks money can arrive from."""
    from caja.deposits import service as deposits

    found = _run(deposits.bank_list)
    if as_json:
        _print([{"slug": slug, "name": name} for slug, name in found])
        return
    _table(["slug", "name"], [[slug, name] for slug, name in found])
