"""The ``caja`` command: one module per command group, put together here.

The top-level commands are added in the order ``caja --help`` lists them, then the
groups (``caja db``, ``clients``, ``catalog``, ``operator``, ``deposits``,
``webhooks``, ``monitors``). Every failure
ends in one ``error: …`` line (see :class:`caja.cli.common.PlainGroup`); ``caja --debug``
shows the traceback instead.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer

from caja.cli.clients import clients_app
from caja.cli.common import PlainGroup, debugging, plain_everywhere
from caja.cli.demo_server import demo
from caja.cli.deposits import deposits_app
from caja.cli.imports import import_file
from caja.cli.monitors import monitors_app
from caja.cli.ops import backup_command, fund, restore_command, verify
from caja.cli.runner import webhooks_run
from caja.cli.server import db_app, serve
from caja.cli.statements import statement
from caja.cli.topups import catalog_app, operator_app, reconcile
from caja.cli.webhooks import webhooks_app

__all__ = ["app", "caja_version"]

app = typer.Typer(
    cls=PlainGroup,
    help="caja: a payments core over one double-entry ledger.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def caja_version() -> str:
    """The installed package's version."""
    try:
        return version("caja")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def _print_version(wanted: bool) -> None:
    if wanted:
        typer.echo(f"caja {caja_version()}")
        raise typer.Exit()


@app.callback()
def main(
    debug: Annotated[
        bool, typer.Option("--debug", metavar="", help="Show the traceback of a failure.")
    ] = False,
    show_version: Annotated[
        bool,
        typer.Option(
            "--version",
            metavar="",
            callback=_print_version,
            is_eager=True,
            help="Print caja's version and exit.",
        ),
    ] = False,
) -> None:
    """caja: a payments core over one double-entry ledger."""
    debugging(debug)


app.add_typer(db_app, name="db")
app.add_typer(clients_app, name="clients")
app.add_typer(catalog_app, name="catalog")
app.add_typer(operator_app, name="operator")
app.add_typer(deposits_app, name="deposits")
# The delivery runner joins the webhooks group: `caja webhooks run`.
webhooks_app.command("run")(webhooks_run)
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(monitors_app, name="monitors")

app.command()(serve)
app.command()(fund)
app.command()(verify)
app.command("backup")(backup_command)
app.command("restore")(restore_command)
app.command()(demo)
app.command()(reconcile)
app.command()(statement)
app.command("import")(import_file)
plain_everywhere(app)
