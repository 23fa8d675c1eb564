"""The ``caja`` command."""

from __future__ import annotations

import asyncio
import base64
import json
import shlex
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from sqlalchemy.exc import DBAPIError

from caja.config import database_url
from caja.core.errors import CajaError
from caja.core.money import format_minor, parse_amount
from caja.db import migrate
from caja.db.engine import Database

if TYPE_CHECKING:
    from caja.ledger.verify import Report

T = TypeVar("T")

app = typer.Typer(help="caja: a payments core over one double-entry ledger.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
clients_app = typer.Typer(help="API clients and their keys.", no_args_is_help=True)
catalog_app = typer.Typer(
    help="What merchants can buy: top-up operators, package providers, packages.",
    no_args_is_help=True,
)
operator_app = typer.Typer(help="The sandbox mobile operator.", no_args_is_help=True)
deposits_app = typer.Typer(help="Electronic deposit accounts (sandbox bank).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(clients_app, name="clients")
app.add_typer(catalog_app, name="catalog")
app.add_typer(operator_app, name="operator")
app.add_typer(deposits_app, name="deposits")

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


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations."""
    _run(migrate.upgrade)
    typer.echo("database is up to date")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Server processes.")] = 1,
) -> None:
    """Apply migrations, then serve every surface."""
    _run(migrate.upgrade)
    _serve(host, port, workers)


def _serve(host: str, port: int, workers: int) -> None:
    """Serve with JSON logs; several workers share their metrics through a directory.

    prometheus_client's multiprocess mode needs ``PROMETHEUS_MULTIPROC_DIR`` set before
    a worker imports it: a fresh directory is made here (unless one is given) and
    removed when the server stops.
    """
    import copy
    import os
    import shutil
    import tempfile

    import uvicorn

    from caja.logs import LOG_CONFIG

    metrics_dir = None
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = tempfile.mkdtemp(prefix="caja-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        uvicorn.run(
            "caja.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="info",
            log_config=copy.deepcopy(LOG_CONFIG),
            access_log=False,
        )
    finally:
        if metrics_dir is not None:
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]
            shutil.rmtree(metrics_dir, ignore_errors=True)


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
    """Create an API client; its key is printed only this once."""
    from caja.clients.service import create_client

    created = _run(lambda db: create_client(db, name, scope, _max_loan_minor(max_loan)))
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
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array.")] = False,
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
        typer.echo(json.dumps(rows))
        return
    for row in rows:
        state = "revoked" if row["revoked"] else "active"
        typer.echo(f"{row['client_id']}  {state:8} {' '.join(row['scopes']):30} {row['name']}")


@clients_app.command("revoke")
def clients_revoke(client_id: str) -> None:
    """Revoke a client: all its keys stop working at once."""
    from caja.clients.service import revoke_client

    _run(lambda db: revoke_client(db, client_id))
    typer.echo(f"client {client_id} revoked")


@clients_app.command("set-max-loan")
def clients_set_max_loan(
    client_id: str,
    max_loan: Annotated[str, typer.Argument(help="New overdraft, whole pesos.")],
) -> None:
    """Change a topup client's max loan (the overdraft of its merchant account)."""
    from caja.clients.service import set_max_loan

    _run(lambda db: set_max_loan(db, client_id, _max_loan_minor(max_loan)))
    typer.echo(f"client {client_id} max loan {_max_loan_minor(max_loan) // 100}")


@app.command()
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
    """The journal's last hash, and a line per check with its examples."""
    typer.echo(f"journal's last hash {report.last_hash}")
    for check in report.checks:
        mark = "ok  " if check.violations == 0 else "FAIL"
        typer.echo(f"{mark} {check.name}" + (f": {check.violations}" if check.violations else ""))
        for example in check.examples:
            typer.echo(f"       {example}")


@app.command()
def verify() -> None:
    """Check every ledger invariant; exit 1 on any violation."""
    from caja.ledger.verify import verify as verify_ledger
    from caja.ops.dashboard import record_verify

    async def work(database: Database) -> Any:
        async with database.read() as connection:
            found = await verify_ledger(connection)
        try:
            await record_verify(database, found)
        except Exception as error:  # the report still stands; only the dashboard misses it
            typer.echo(f"warning: this run could not be recorded: {error}", err=True)
        return found

    report = _run(work)
    typer.echo(
        f"{report.accounts} accounts, {report.transfers} transfers, {report.entries} entries"
    )
    _echo_checks(report)
    if not report.ok:
        typer.echo("ledger invariants violated", err=True)
        raise typer.Exit(1)
    typer.echo("ledger is consistent")


# --- backups ----------------------------------------------------------------------------------


@app.command("backup")
def backup_command(
    path: Annotated[str, typer.Argument(help="The file to write; it must not exist yet.")],
    as_json: JsonFlag = False,
) -> None:
    """Write a backup of the database to PATH while the server keeps running."""
    from caja.ops.backup import backup

    written = _run(lambda db: backup(db.url, path))
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


@app.command("restore")
def restore_command(
    path: Annotated[str, typer.Argument(help="A file `caja backup` wrote.")],
    as_json: JsonFlag = False,
) -> None:
    """Restore PATH into the database, which must hold no ledger; then verify the ledger.

    Exits 1 when the restored ledger breaks an invariant.
    """
    from caja.ops.backup import restore

    restored = _run(lambda db: restore(path, db.url))
    report = restored.report
    if as_json:
        _print(
            {
                "path": restored.path,
                "database": restored.target,
                "accounts": report.accounts,
                "transfers": report.transfers,
                "entries": report.entries,
                "last_hash": report.last_hash,
                "ok": report.ok,
                "checks": [
                    {"name": check.name, "violations": check.violations} for check in report.checks
                ],
            }
        )
    else:
        typer.echo(
            f"restored {restored.path} into {restored.target}: {report.accounts} accounts, "
            f"{report.transfers} transfers, {report.entries} entries"
        )
        _echo_checks(report)
    if not report.ok:
        typer.echo("the restored ledger breaks its invariants", err=True)
        raise typer.Exit(1)
    if not as_json:
        typer.echo("ledger is consistent")


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Set up a demo client with two funded accounts, print how to try it, and serve."""
    from caja.ops.demo import DEMO_PASSWORD, create_demo

    ready = _run(create_demo)
    base = f"http://{host}:{port}"
    body = json.dumps(
        {
            "origin_account": ready.first_account,
            "destination_account": ready.second_account,
            "amount": "1000.00",
            "description": "demo transfer",
            "unique_transfer_token": ready.transfer_token,
        }
    )
    header = shlex.quote(f"X-Account-api-key: {ready.api_key}")
    basic = base64.b64encode(ready.api_key.encode()).decode()
    gateway = f"{base}/api/gateway_topup/v1"
    topup = json.dumps(
        {
            "idempotency_token": ready.transfer_token,
            "amount": 5000,
            "service_provider": "claro-movil",
            "destination_number": "3110001111",
            "payment_token": "demo-payment-1",
            "payment_origin": "caja demo",
        }
    )
    deposit = json.dumps(
        {
            "origin_account": ready.deposit_accounts[0],
            "destination_account": ready.deposit_accounts[1],
            "unique_transfer_token": f"{ready.transfer_token}-deposit",
            "amount": "25000.00",
            "fee_amount": "500.00",
            "description": "demo deposit transfer",
            "channel": "external",
        }
    )
    lines = [
        f"caja demo on {base}  (database: {database_url()})",
        f"  API key   {ready.api_key}",
        f"  accounts  {ready.first_account} {ready.first_balance}",
        f"            {ready.second_account} {ready.second_balance}",
        f"  merchant  balance {ready.merchant_balance}, max loan {ready.max_loan} (top-ups)",
        f"  deposits  {ready.deposit_accounts[0]} 300000.00, {ready.deposit_accounts[1]} 0.00",
        "Try a transfer (run it twice: the second answer is a 208 replay):",
        f"  curl -s -X POST {base}/api/ledger/v1/public/transaction -H {header} "
        f"-H 'Content-Type: application/json' -d {shlex.quote(body)}",
        "Then the history:",
        f"  curl -s {base}/api/ledger/v1/public/account/{ready.first_account}/transactions "
        f"-H {header}",
        "Top up a phone (sandbox operator; 3110002222 times out, 3110005555 is rejected):",
        f"  curl -s -X POST {gateway}/topup_account -H 'Authorization: Basic {basic}' "
        f"-H 'Content-Type: application/json' -d {shlex.quote(topup)}",
        f"  curl -s {gateway}/merchant/balance -H 'Authorization: Basic {basic}'",
        "Move money between two electronic deposit accounts (with a fee):",
        f"  curl -s -X POST {base}/api/coopcentral/v1/transactions/create "
        f"-H 'Authorization: Token {ready.api_key}' -H 'Content-Type: application/json' "
        f"-d {shlex.quote(deposit)}",
        f"Wallet app: {base}/app  (log in as {ready.wallet_people[0]} or "
        f"{ready.wallet_people[1]}, password {DEMO_PASSWORD}; the first holds 50000.00 COP)",
        f"Ops dashboard: {base}/admin  (admin key: the API key above)",
        f"API docs: {base}/docs",
        "",
    ]
    typer.echo("\n".join(lines))
    sys.stdout.flush()
    _serve(host, port, 1)


# --- top-ups: catalog, sandbox operator, reconciliation -------------------------------------

_CATALOG_KINDS = {"operator": "operators", "provider": "package_providers", "package": "packages"}
CatalogKind = Annotated[str, typer.Argument(help="operator (slug), provider or package (code).")]


@catalog_app.command("list")
def catalog_list(as_json: JsonFlag = False) -> None:
    """Print the catalog (as JSON: the import file's format)."""
    from caja.topups.catalog import snapshot

    found = _run(snapshot)
    if as_json:
        _print(found)
        return
    for kind, rows in found.items():
        typer.echo(f"{kind}:")
        for row in rows:
            key = row.get("slug") or row.get("package_code") or row.get("provider_code")
            state = "enabled " if row["enabled"] else "disabled"
            extra = f" {row['amount']} (provider {row['provider_code']})" if "amount" in row else ""
            typer.echo(f"  {key:12} {state} {row['name']}{extra}")


@catalog_app.command("import")
def catalog_import(
    path: Annotated[str, typer.Argument(help="A .json, .yaml or .yml file.")],
) -> None:
    """Add or replace operators, providers and packages from a file, all or nothing.

    The file holds any of the sections ``operators``, ``package_providers`` and
    ``packages``, each a list of items as ``caja catalog list --json`` prints them.
    """
    import yaml

    from caja.topups.catalog import import_catalog

    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle) if path.endswith((".yaml", ".yml")) else json.load(handle)
    except (OSError, ValueError, yaml.YAMLError) as error:
        typer.echo(f"error: {path}: {error}", err=True)
        raise typer.Exit(1) from None
    written = _run(lambda db: import_catalog(db, data))
    typer.echo(", ".join(f"{count} {kind}" for kind, count in written.items()) + " imported")


def _set_enabled(kind: str, code: str, enabled: bool) -> None:
    from caja.topups.catalog import set_enabled

    if kind not in _CATALOG_KINDS:
        typer.echo(f"error: kind must be one of {', '.join(_CATALOG_KINDS)}", err=True)
        raise typer.Exit(1)
    _run(lambda db: set_enabled(db, _CATALOG_KINDS[kind], code, enabled))
    typer.echo(f"{kind} {code} {'enabled' if enabled else 'disabled'}")


@catalog_app.command("enable")
def catalog_enable(kind: CatalogKind, code: str) -> None:
    """Let merchants buy from an operator, provider or package again."""
    _set_enabled(kind, code, True)


@catalog_app.command("disable")
def catalog_disable(kind: CatalogKind, code: str) -> None:
    """Stop merchants buying from an operator, provider or package."""
    _set_enabled(kind, code, False)


@operator_app.command("serve")
def operator_serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8100,
) -> None:
    """Run the sandbox operator as its own process (point CAJA_OPERATOR_URL at it)."""
    import uvicorn

    from caja.providers.sandbox_operator import create_sandbox_app

    uvicorn.run(create_sandbox_app(), host=host, port=port, log_level="warning")


@app.command()
def reconcile(
    operator_url: Annotated[
        str | None,
        typer.Option(
            help="The operator to ask; default CAJA_OPERATOR_URL, else the sandbox operator "
            "of a server on 127.0.0.1:8000."
        ),
    ] = None,
    min_age: Annotated[int, typer.Option(min=0, help="Only purchases this many seconds old.")] = 0,
    not_found_after: Annotated[
        int,
        typer.Option(min=0, help="Reject what the operator never received, once this old (s)."),
    ] = 120,
    as_json: JsonFlag = False,
) -> None:
    """Ask the operator about every open top-up and package purchase, and settle them."""
    from datetime import timedelta

    from caja.config import operator_settings
    from caja.providers.operator import HttpOperator
    from caja.topups.service import reconcile as reconcile_open

    settings = operator_settings()
    url = operator_url or settings.url or "http://127.0.0.1:8000/sandbox/operator"

    async def work(database: Database) -> Any:
        gateway = HttpOperator(url, timeout=settings.timeout_seconds)
        try:
            return await reconcile_open(
                database,
                gateway,
                min_age=timedelta(seconds=min_age),
                not_found_after=timedelta(seconds=not_found_after),
            )
        finally:
            await gateway.close()

    done = _run(work)
    payload = {
        "checked": done.checked,
        "authorized": done.authorized,
        "rejected": done.rejected,
        "still_open": done.still_open,
    }
    if as_json:
        _print(payload)
        return
    typer.echo(
        f"{done.checked} open purchases checked: {done.authorized} authorized, "
        f"{done.rejected} rejected, {done.still_open} still open"
    )


# --- electronic deposits ----------------------------------------------------------------------


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
        typer.echo(
            "error: --sender-name must have 1 to 150 characters, --sender-id 1 to 20", err=True
        )
        raise typer.Exit(1)

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
) -> None:
    """Cancel a deposit account: no money moves into or out of it any more."""
    from caja.deposits import service as deposits

    _run(lambda db: deposits.cancel(db, account))
    typer.echo(f"{account} cancelled")


@deposits_app.command("banks")
def deposits_banks(as_json: JsonFlag = False) -> None:
    """The banks money can arrive from."""
    from caja.deposits import service as deposits

    found = _run(deposits.bank_list)
    if as_json:
        typer.echo(json.dumps([{"slug": slug, "name": name} for slug, name in found]))
        return
    for slug, name in found:
        typer.echo(f"{slug:24} {name}")
