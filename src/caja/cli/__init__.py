"""The ``caja`` command: one module per command group, put together here.

The top-level commands are added in the order ``caja --help`` lists them, then the
groups (``caja db``, ``clients``, ``catalog``, ``operator``, ``deposits``).
"""

from __future__ import annotations

import typer

from caja.cli.clients import clients_app
from caja.cli.demo_server import demo
from caja.cli.deposits import deposits_app
from caja.cli.ops import backup_command, fund, restore_command, verify
from caja.cli.server import db_app, serve
from caja.cli.topups import catalog_app, operator_app, reconcile

__all__ = ["app"]

app = typer.Typer(help="caja: a payments core over one double-entry ledger.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(clients_app, name="clients")
app.add_typer(catalog_app, name="catalog")
app.add_typer(operator_app, name="operator")
app.add_typer(deposits_app, name="deposits")

app.command()(serve)
app.command()(fund)
app.command()(verify)
app.command("backup")(backup_command)
app.command("restore")(restore_command)
app.command()(demo)
app.command()(reconcile)
