"""Operating the ledger: ``caja fund``, ``verify``, ``backup`` and ``restore``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from caja.cli.common import JsonFlag, _print, _progress, _run, _table
from caja.core.money import format_minor
from caja.db.engine import Database

if TYPE_CHECKING:
    from caja.ledger.verify import Report

__all__ = ["backup_command", "fund", "restore_command", "verify"]


def fund(
    target: Annotated[
        str,
        typer.Argument(
            help="Account token to credit (acc-…), a topup client's id (cli-…) or a wallet "
            "account (wac-…)."
        ),
    ],
    amount: Annotated[
        str,
        typer.Argument(help="Amount in pesos, e.g. 50000 or 50000.00 (whole pesos for cli-…)."),
    ],
    asset: Annotated[
        str, typer.Option(help="The asset to credit a wallet account (wac-…) in.")
    ] = "COP",
    as_json: JsonFlag = False,
) -> None:
    """Move AMOUNT from the funding system account to TARGET; print the new balance."""
    from caja.ops.funding import fund as fund_account

    funded = _run(lambda db: fund_account(db, target, amount, asset))
    payload = {
        "account": funded.account,
        "transfer": funded.transfer,
        "amount": format_minor(funded.amount_minor, funded.scale),
        "balance": format_minor(funded.balance_minor, funded.scale),
        "asset": funded.asset,
    }
    if as_json:
        _print(payload)
        return
    typer.echo(f"{funded.account} balance {payload['balance']} {funded.asset}")


def _echo_checks(report: Report) -> None:
    """The journal's last hash, and a row per check with its examples."""
    typer.echo(f"journal's last hash {report.last_hash}")
    rows = []
    for check in report.checks:
        rows.append(["ok" if check.violations == 0 else "FAIL", check.violations, check.name])
        rows.extend(["", "", f"  {example}"] for example in check.examples)
    _table(["result", "violations", "check"], rows)


def _report_payload(report: Report) -> dict[str, Any]:
    """A verification as JSON: the counts, the last hash and every check."""
    return {
        "ok": report.ok,
        "accounts": report.accounts,
        "transfers": report.transfers,
        "entries": report.entries,
        "last_hash": report.last_hash,
        "checks": [
            {"name": check.name, "violations": check.violations, "examples": check.examples}
            for check in report.checks
        ],
    }


def verify(as_json: JsonFlag = False) -> None:
    """Check every ledger invariant; exit 1 on any violation."""
    from caja.ops.checks import verify as verify_ledger
    from caja.ops.dashboard import record_verify

    async def work(database: Database) -> Any:
        with _progress("verifying") as progress:
            async with database.read() as connection:
                found = await verify_ledger(connection, progress=progress)
        try:
            await record_verify(database, found)
        except Exception as error:  # the report still stands; only the dashboard misses it
            typer.echo(f"warning: this run could not be recorded: {error}", err=True)
        return found

    report = _run(work)
    if as_json:
        _print(_report_payload(report))
    else:
        typer.echo(
            f"{report.accounts} accounts, {report.transfers} transfers, {report.entries} entries"
        )
        _echo_checks(report)
    if not report.ok:
        typer.echo("error: ledger invariants violated", err=True)
        raise typer.Exit(1)
    if not as_json:
        typer.echo("ledger is consistent")


def backup_command(
    path: Annotated[str, typer.Argument(help="The file to write; it must not exist yet.")],
    as_json: JsonFlag = False,
) -> None:
    """Write a backup of the database to PATH while the server keeps running."""
    from caja.ops.backup import backup

    async def work(database: Database) -> Any:
        with _progress("backing up") as progress:
            return await backup(database.url, path, progress=progress)

    written = _run(work)
    payload = {
        "path": written.path,
        "bytes": written.size,
        "database": written.database,
        "transfers": written.transfers,
    }
    if as_json:
        _print(payload)
        return
    typer.echo(
        f"wrote {written.path}: {written.size} bytes, {written.database} backup "
        f"of {written.transfers} transfers"
    )


def restore_command(
    path: Annotated[str, typer.Argument(help="A file `caja backup` wrote.")],
    as_json: JsonFlag = False,
) -> None:
    """Restore PATH into the database, which must hold no ledger; then verify the ledger.

    Exits 1 when the restored ledger breaks an invariant.
    """
    from caja.ops.backup import restore

    async def work(database: Database) -> Any:
        with _progress("restoring") as progress:
            return await restore(path, database.url, progress=progress)

    restored = _run(work)
    report = restored.report
    if as_json:
        _print({"path": restored.path, "database": restored.target, **_report_payload(report)})
    else:
        typer.echo(
            f"restored {restored.path} into {restored.target}: {report.accounts} accounts, "
            f"{report.transfers} transfers, {report.entries} entries"
        )
        _echo_checks(report)
    if not report.ok:
        typer.echo("error: the restored ledger breaks its invariants", err=True)
        raise typer.Exit(1)
    if not as_json:
        typer.echo("ledger is consistent")
