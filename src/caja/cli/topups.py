"""Top-ups: ``caja catalog``, ``caja operator`` and ``caja reconcile``."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from caja.cli.common import JsonFlag, _fail, _print, _progress, _run, _table, check_port
from caja.db.engine import Database

__all__ = ["catalog_app", "operator_app", "reconcile"]

catalog_app = typer.Typer(
    help="What merchants can buy: top-up operators, package providers, packages.",
    no_args_is_help=True,
)
operator_app = typer.Typer(help="The sandbox mobile operator.", no_args_is_help=True)

_CATALOG_KINDS = {"operator": "operators", "provider": "package_providers", "package": "packages"}
_KIND_OF_SECTION = {section: kind for kind, section in _CATALOG_KINDS.items()}
CatalogKind = Annotated[str, typer.Argument(help="operator (slug), provider or package (code).")]


@catalog_app.command("list")
def catalog_list(as_json: JsonFlag = False) -> None:
    """Print the catalog (as JSON: the import file's format)."""
    from caja.topups.catalog import snapshot

    found = _run(snapshot)
    if as_json:
        _print(found)
        return
    rows = []
    for kind, items in found.items():
        for item in items:
            key = item.get("slug") or item.get("package_code") or item.get("provider_code")
            rows.append(
                [
                    _KIND_OF_SECTION.get(kind, kind),
                    key,
                    "enabled" if item["enabled"] else "disabled",
                    item.get("amount", "-"),
                    item["provider_code"] if "amount" in item else "-",
                    item["name"],
                ]
            )
    _table(["kind", "code", "state", "amount", "provider", "name"], rows)


@catalog_app.command("import")
def catalog_import(
    path: Annotated[str, typer.Argument(help="A .json, .yaml or .yml file.")],
    as_json: JsonFlag = False,
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
        _fail(f"{path}: {_one_line(error)}")

    async def work(database: Database) -> dict[str, int]:
        with _progress("importing") as progress:
            return await import_catalog(database, data, progress=progress)

    written = _run(work)
    if as_json:
        _print(written)
        return
    typer.echo(", ".join(f"{count} {kind}" for kind, count in written.items()) + " imported")


def _one_line(error: Exception) -> str:
    """What a file's error says, on one line (a YAML error spans several)."""
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror}: check the path and that caja may read it"
    return " ".join(str(error).split())


def _set_enabled(kind: str, code: str, enabled: bool) -> None:
    from caja.topups.catalog import set_enabled

    if kind not in _CATALOG_KINDS:
        _fail(f"kind must be one of {', '.join(_CATALOG_KINDS)}")
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

    check_port(host, port)
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
            with _progress("reconciling") as progress:
                return await reconcile_open(
                    database,
                    gateway,
                    min_age=timedelta(seconds=min_age),
                    not_found_after=timedelta(seconds=not_found_after),
                    progress=progress,
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
