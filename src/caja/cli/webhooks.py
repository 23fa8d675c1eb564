"""``caja webhooks``: every client's webhook endpoints, their deliveries, and replays.

The operator's view: endpoints of any client, named by the client's id as ``caja clients
create`` prints it. A client manages its own over HTTP (``/api/events/v1``).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from sqlalchemy.engine import Connection

from caja.cli.common import JsonFlag, _print, _run, _table
from caja.core.errors import NotFound
from caja.db.engine import Database

__all__ = ["webhooks_app"]

webhooks_app = typer.Typer(
    help="Webhook endpoints of the clients, and their deliveries.", no_args_is_help=True
)

EventOption = Annotated[
    list[str] | None,
    typer.Option("--event", help="An event type to send (repeatable); none: every type."),
]


def _client_id(connection: Connection, client: str) -> int:
    from caja.clients.service import client_id_of

    found = client_id_of(connection, client)
    if found is None:
        raise NotFound(f"no client {client} (see `caja clients list`)")
    return found


def _client_tokens(connection: Connection, ids: set[int]) -> dict[int, str]:
    from caja.clients.service import find_clients

    return {found[0]: found[1] for found in find_clients(connection, None, ids, limit=len(ids))}


@webhooks_app.command("add")
def webhooks_add(
    client: Annotated[str, typer.Argument(metavar="CLIENT_ID", help="The client (cli-…).")],
    url: Annotated[
        str, typer.Argument(metavar="URL", help="Where to POST the events (http or https).")
    ],
    event: EventOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Add an endpoint for a client; its signing secret is printed only this once."""
    from caja.config import webhooks_allow_private
    from caja.webhooks.service import Created, add_endpoint

    def add(connection: Connection) -> Created:
        return add_endpoint(
            connection,
            _client_id(connection, client),
            url,
            event,
            allow_private=webhooks_allow_private(),
        )

    created = _run(lambda database: database.write(add))
    if as_json:
        _print({"endpoint_id": created.endpoint.token, "secret": created.secret})
        return
    typer.echo(f"endpoint {created.endpoint.token} of {client}: {url}")
    typer.echo(f"secret (shown only now): {created.secret}")


def _endpoint_rows(connection: Connection, client: str | None) -> list[dict[str, Any]]:
    from caja.api.events.render import endpoint_json
    from caja.webhooks.service import endpoints

    found = endpoints(connection, None if client is None else _client_id(connection, client))
    tokens = _client_tokens(connection, {item.client_id for item in found})
    return [{"client_id": tokens.get(item.client_id), **endpoint_json(item)} for item in found]


@webhooks_app.command("list")
def webhooks_list(
    client: Annotated[
        str | None, typer.Option("--client", metavar="CLIENT_ID", help="Only this client's.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", metavar="", help="Print one JSON array.")
    ] = False,
) -> None:
    """List endpoints (never their secrets), with whether each is enabled and why not."""
    rows = _run(lambda database: _on_read(database, _endpoint_rows, client))
    if as_json:
        _print(rows)
        return
    _table(
        ["endpoint_id", "client_id", "state", "events", "url"],
        [
            [
                row["endpoint_id"],
                row["client_id"],
                "enabled" if row["enabled"] else f"disabled: {row['disabled_reason']}",
                ",".join(row["events"]) if row["events"] else "all",
                row["url"],
            ]
            for row in rows
        ],
    )


async def _on_read(database: Database, work: Any, *args: Any) -> Any:
    async with database.read() as connection:
        return await connection.run_sync(work, *args)


@webhooks_app.command("remove")
def webhooks_remove(
    endpoint_id: Annotated[str, typer.Argument(metavar="ENDPOINT_ID")], as_json: JsonFlag = False
) -> None:
    """Remove an endpoint: nothing more is sent to it; its deliveries stay listed."""
    from caja.webhooks.service import remove_endpoint

    _run(lambda database: database.write(lambda c: remove_endpoint(c, endpoint_id)))
    if as_json:
        _print({"endpoint_id": endpoint_id, "removed": True})
        return
    typer.echo(f"endpoint {endpoint_id} removed")


@webhooks_app.command("rotate")
def webhooks_rotate(
    endpoint_id: Annotated[str, typer.Argument(metavar="ENDPOINT_ID")], as_json: JsonFlag = False
) -> None:
    """A new signing secret, printed only this once; the old one signs too for 24 hours."""
    from caja.webhooks.service import rotate_secret

    secret = _run(lambda database: database.write(lambda c: rotate_secret(c, endpoint_id)))
    if as_json:
        _print({"endpoint_id": endpoint_id, "secret": secret})
        return
    typer.echo(f"new secret of {endpoint_id} (shown only now): {secret}")
    typer.echo("the previous secret signs too for 24 hours")


@webhooks_app.command("enable")
def webhooks_enable(
    endpoint_id: Annotated[str, typer.Argument(metavar="ENDPOINT_ID")], as_json: JsonFlag = False
) -> None:
    """Enable a disabled endpoint; its pending deliveries are tried at once."""
    from caja.webhooks.service import enable_endpoint

    _run(lambda database: database.write(lambda c: enable_endpoint(c, endpoint_id)))
    if as_json:
        _print({"endpoint_id": endpoint_id, "enabled": True})
        return
    typer.echo(f"endpoint {endpoint_id} enabled")


def _delivery_rows(connection: Connection, endpoint: str | None) -> list[dict[str, Any]]:
    from caja.api.events.render import delivery_json
    from caja.webhooks.service import deliveries

    if endpoint is not None:
        from caja.webhooks.service import endpoints

        if not any(item.token == endpoint for item in endpoints(connection, removed=True)):
            raise NotFound(f"no endpoint {endpoint}")
    return [delivery_json(item) for item in deliveries(connection, endpoint_token=endpoint)]


@webhooks_app.command("deliveries")
def webhooks_deliveries(
    endpoint: Annotated[
        str | None,
        typer.Option("--endpoint", metavar="ENDPOINT_ID", help="Only this endpoint's."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", metavar="", help="Print one JSON array.")
    ] = False,
) -> None:
    """The latest deliveries (50), newest first, with their attempts and last answer."""
    rows = _run(lambda database: _on_read(database, _delivery_rows, endpoint))
    if as_json:
        _print(rows)
        return
    _table(
        ["delivery", "endpoint_id", "event_id", "status", "attempts", "last answer", "type"],
        [
            [
                row["delivery_id"],
                row["endpoint_id"],
                row["event_id"],
                row["status"],
                row["attempts"],
                row["last_status_code"] or row["last_error"] or "",
                row["event_type"],
            ]
            for row in rows
        ],
    )


@webhooks_app.command("replay")
def webhooks_replay(
    event_id: Annotated[str, typer.Argument(metavar="EVENT_ID")], as_json: JsonFlag = False
) -> None:
    """Send an event again to each enabled endpoint of its client that takes its type."""
    from caja.webhooks.service import replay

    count = _run(lambda database: database.write(lambda c: replay(c, event_id)))
    if as_json:
        _print({"event_id": event_id, "deliveries": count})
        return
    typer.echo(f"event {event_id}: {count} deliveries queued")


# `caja webhooks run` (the delivery runner) is registered here at merge:
# webhooks_app.command("run")(run_webhooks)  -- from caja.cli.runner
