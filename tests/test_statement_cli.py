"""``caja statement``: a ledger account's and a deposit account's statement, as JSON and
CSV, and one ``error:`` line for bad input."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest

from caja.cli import app
from caja.clients.service import authenticate, create_client
from caja.core.clock import BOGOTA, utcnow
from caja.customers.service import OwnerData, open_customer_account
from caja.db.engine import Database
from caja.ops.funding import fund
from tests.postgres import free_port
from tests.test_cli import on_database, runner
from tests.test_cli_errors import one_error_line
from tests.test_deposits_cli import Client as DepositClient


def statement(url: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["statement", *args], env={"CAJA_DATABASE_URL": url})
    return result.exit_code, result.stdout, result.stderr


def today() -> str:
    return utcnow().astimezone(BOGOTA).date().isoformat()


def ledger_account(url: str) -> str:
    async def work(database: Database) -> str:
        made = await create_client(database, "statements", ["ledger"])
        principal = await authenticate(database, made.api_key)
        assert principal is not None
        owner = OwnerData("CC", "80111222", "Statement Owner", "owner@example.com")
        opened = await open_customer_account(database, principal.client_id, "+573001112233", owner)
        token = opened.customer.account.token
        await fund(database, token, "1500")
        await fund(database, token, "250.50")
        return token

    return on_database(url, work)


def test_a_ledger_account_statement_as_json_and_csv(database_url: str) -> None:
    token = ledger_account(database_url)

    code, out, _ = statement(database_url, token, "--from", today(), "--to", today())
    csv_code, csv_out, _ = statement(
        database_url, token, "--from", today(), "--to", today(), "--format", "csv"
    )

    assert code == 0
    body = json.loads(out)
    assert body["account_token"] == token
    assert (body["opening_balance"], body["closing_balance"]) == ("0.00", "1750.50")
    assert [entry["amount"] for entry in body["entries"]] == ["1500.00", "250.50"]
    assert [entry["counterparty"] for entry in body["entries"]] == ["sys-funding-cop"] * 2
    assert body["entries"][0]["created_at"].endswith("Z")
    assert csv_code == 0
    assert list(csv.DictReader(io.StringIO(csv_out))) == body["entries"]


def test_a_deposit_account_statement_reads_as_the_deposit_surface(database_url: str) -> None:
    client = DepositClient(database_url)
    origin, destination = client.open_account(), client.open_account()
    received = runner.invoke(
        app,
        ["deposits", "receive", origin, "300", "--bank", "bancolombia",
         "--sender-name", "Alonso Herrera", "--sender-id", "1089876456"],
        env={"CAJA_DATABASE_URL": database_url},
    )  # fmt: skip
    assert received.exit_code == 0, received.output
    client.transfer(origin, destination, 12000, "statement-1")

    code, out, _ = statement(database_url, origin, "--from", today(), "--to", today())

    assert code == 0, out
    body = json.loads(out)
    assert (body["initial_date"], body["final_date"]) == (today(), today())
    assert [entry["amount"] for entry in body["entries"]] == ["300.00", "-120.00"]
    assert body["entries"][1]["transaction_token"].startswith("cooptx-")
    assert body["entries"][1]["created_at"].endswith("-05:00")
    total = Decimal(body["opening_balance"]) + sum(Decimal(e["amount"]) for e in body["entries"])
    assert total == Decimal(body["closing_balance"]) == Decimal("180.00")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-02-30", "--to", "2026-03-01"], "--from must be a date as YYYY-MM-DD"),
        (["--from", "2026-03-02", "--to", "2026-03-01"], "--from must not be after --to"),
        (["--from", "2026-03-01", "--to", "2026-03-01", "--format", "pdf"], "--format must be"),
    ],
    ids=["no such day", "reversed", "pdf"],
)
def test_bad_input_ends_in_one_error_line(database_url: str, args: list[str], message: str) -> None:
    code, out, err = statement(database_url, "acc-any", *args)

    assert code != 0
    assert out == ""
    assert err.startswith(f"error: {message}")
    assert len(err.strip().splitlines()) == 1


def test_an_unknown_account_ends_in_one_error_line(database_url: str) -> None:
    code, _, err = statement(database_url, "acc-nope", "--from", today(), "--to", today())

    assert code == 1
    assert err.strip() == "error: no account 'acc-nope'"


def test_a_missing_or_unreachable_database_is_one_error_line(tmp_path: Path) -> None:
    args = ["statement", "acc-x", "--from", "2026-03-01", "--to", "2026-03-02"]
    missing = f"sqlite:///{tmp_path / 'not-there' / 'caja.db'}"
    unreachable = f"postgresql://caja:secret@127.0.0.1:{free_port()}/caja"

    no_file = runner.invoke(app, args, env={"CAJA_DATABASE_URL": missing})
    no_server = runner.invoke(app, args, env={"CAJA_DATABASE_URL": unreachable})

    assert "of the SQLite database does not exist" in one_error_line(no_file, 2)
    assert one_error_line(no_server, 1).startswith("error: the database cannot be reached: ")
    assert "secret" not in no_server.output
