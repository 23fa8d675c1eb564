"""Top-ups: ``caja catalog``, ``caja operator`` and ``caja reconcile``."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from caja.cli.common import JsonFlag, _print, _run
from caja.db.engine import Database

__all__ = ["catalog_app", "operator_app", "reconcile"]

catalog_app = typer.Typer(
    help="What merchants can buy: top-up operators, package providers, packages.",
    no_args_is_help=True,
)
operator_app = typer.Typer(help="The sandbox mobile operator.", no_args_is_help=True)

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
