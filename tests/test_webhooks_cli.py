"""``caja webhooks`` and ``caja monitors``: the operator's view of every client's
endpoints, deliveries and balance monitors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import Result

from caja.cli import app
from caja.clients.service import authenticate
from caja.db.engine import Database
from caja.ledger import events
from tests.test_cli import create_client, on_database, open_account, runner

HOOK = "http://127.0.0.1:9/hook"


class Cli:
    def __init__(self, url: str) -> None:
        self.url = url

    def __call__(self, *args: str, private: bool = True) -> Result:
        env = {"CAJA_DATABASE_URL": self.url, "CAJA_WEBHOOKS_ALLOW_PRIVATE": "1" if private else ""}
        return runner.invoke(app, list(args), env=env)

    def json(self, *args: str) -> Any:
        result = self(*args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)


@pytest.fixture
def cli(database_url: str) -> Cli:
    return Cli(database_url)


def failed(result: Result, code: int, text: str) -> None:
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("error: "), result.stderr
    assert text in result.stderr
    assert result.stderr.count("\n") == 1


def an_event(url: str, api_key: str) -> str:
    async def work(database: Database) -> str:
        principal = await authenticate(database, api_key)
        assert principal is not None
        made = [events.NewEvent("ledger.transfer.created", principal.client_id, {"x": 1})]
        await database.write(lambda c: events.append(c, made))
        async with database.read() as connection:
            rows = await connection.run_sync(events.events_of_client, principal.client_id)
        return rows[-1].token

    return on_database(url, work)


def test_webhooks_add_list_rotate_enable_replay_deliveries_remove(cli: Cli) -> None:
    first, second = create_client(cli, "ledger"), create_client(cli, "topup")
    added = cli.json(
        "webhooks", "add", first["client_id"], HOOK, "--event", "ledger.transfer.created"
    )
    assert set(added) == {"endpoint_id", "secret"}
    assert added["secret"].startswith("whsec_")
    other = cli.json("webhooks", "add", second["client_id"], HOOK + "2")

    listed = cli.json("webhooks", "list")
    assert [(e["endpoint_id"], e["client_id"]) for e in listed] == [
        (added["endpoint_id"], first["client_id"]),
        (other["endpoint_id"], second["client_id"]),
    ]
    assert listed[0]["events"] == ["ledger.transfer.created"]
    assert listed[1]["events"] is None
    assert all("secret" not in e for e in listed)
    only = cli.json("webhooks", "list", "--client", second["client_id"])
    assert [e["endpoint_id"] for e in only] == [other["endpoint_id"]]
    table = cli("webhooks", "list")
    assert table.exit_code == 0
    assert added["endpoint_id"] in table.stdout
    assert "enabled" in table.stdout
    assert added["secret"] not in table.stdout

    rotated = cli.json("webhooks", "rotate", added["endpoint_id"])
    assert rotated["endpoint_id"] == added["endpoint_id"]
    assert rotated["secret"] != added["secret"]
    assert cli.json("webhooks", "enable", added["endpoint_id"])["enabled"] is True

    event = an_event(cli.url, first["api_key"])
    assert cli.json("webhooks", "replay", event)["deliveries"] == 1
    deliveries = cli.json("webhooks", "deliveries")
    assert [(d["endpoint_id"], d["event_id"], d["status"]) for d in deliveries] == [
        (added["endpoint_id"], event, "pending")
    ]
    assert cli.json("webhooks", "deliveries", "--endpoint", other["endpoint_id"]) == []
    shown = cli("webhooks", "deliveries")
    assert event in shown.stdout

    assert cli.json("webhooks", "remove", added["endpoint_id"])["removed"] is True
    assert [e["endpoint_id"] for e in cli.json("webhooks", "list")] == [other["endpoint_id"]]
    # Its deliveries stay listed; the pending one failed with it.
    assert cli.json("webhooks", "deliveries", "--endpoint", added["endpoint_id"])[0]["status"] == (
        "failed"
    )


def test_webhooks_errors_are_one_line(cli: Cli) -> None:
    client = create_client(cli, "ledger")["client_id"]
    failed(cli("webhooks", "add", "cli-nothing", HOOK), 1, "no client cli-nothing")
    failed(cli("webhooks", "add", client, HOOK, private=False), 1, "loopback or private")
    failed(cli("webhooks", "add", client, "ftp://example.com/x"), 1, "http and https")
    failed(cli("webhooks", "add", client, HOOK, "--event", "nope"), 1, "Unknown event type")
    for command in ("remove", "rotate", "enable"):
        failed(cli("webhooks", command, "we_nothing"), 1, "The endpoint does not exist.")
    failed(cli("webhooks", "replay", "evt_nothing"), 1, "The event does not exist.")
    failed(cli("webhooks", "deliveries", "--endpoint", "we_nothing"), 1, "no endpoint we_nothing")
    failed(cli("webhooks", "list", "--client", "cli-nothing"), 1, "no client cli-nothing")
    failed(cli("webhooks", "add", client), 2, "Missing argument 'URL'")


def test_monitors_add_list_remove_and_fire(cli: Cli) -> None:
    client = create_client(cli, "ledger:admin")
    account = open_account(cli.url, client["client_id"], "+573009990001")
    other = open_account(cli.url, client["client_id"], "+573009990002")

    made = cli.json("monitors", "add", account, "--below", "1000.00")
    assert set(made) == {"monitor_id"}
    assert made["monitor_id"].startswith("mon_")
    negative = cli.json("monitors", "add", other, "--above", "-50")
    listed = cli.json("monitors", "list")
    assert [
        (m["monitor_id"], m["account_token"], m["direction"], m["threshold"]) for m in listed
    ] == [
        (made["monitor_id"], account, "below", "1000.00"),
        (negative["monitor_id"], other, "above", "-50.00"),
    ]
    assert {m["client_id"] for m in listed} == {client["client_id"]}
    assert [m["monitor_id"] for m in cli.json("monitors", "list", "--account", other)] == [
        negative["monitor_id"]
    ]
    assert made["monitor_id"] in cli("monitors", "list").stdout

    assert cli.json("monitors", "remove", negative["monitor_id"])["removed"] is True
    assert [m["monitor_id"] for m in cli.json("monitors", "list")] == [made["monitor_id"]]


def test_monitors_errors_are_one_line(cli: Cli) -> None:
    client = create_client(cli, "ledger:admin")
    account = open_account(cli.url, client["client_id"], "+573009990003")
    failed(cli("monitors", "add", account), 2, "exactly one of --below and --above")
    failed(cli("monitors", "add", account, "--below", "1", "--above", "2"), 2, "exactly one")
    failed(cli("monitors", "add", account, "--below", "1.001"), 1, "below: must have at most 2")
    failed(cli("monitors", "add", account, "--above", "lots"), 1, "above: ")
    failed(cli("monitors", "add", "acc-nothing", "--below", "1"), 1, "no client's account")
    failed(cli("monitors", "remove", "mon_nothing"), 1, "The monitor does not exist.")
