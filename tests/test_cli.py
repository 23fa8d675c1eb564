"""The ``caja`` command, run in-process with CliRunner, and ``caja serve`` as a real process."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from click.testing import Result
from sqlalchemy import select, text
from typer.testing import CliRunner

from caja.cli import app
from caja.clients.service import Principal, authenticate, key_digest
from caja.clients.tables import clients
from caja.customers.service import OwnerData, open_customer_account
from caja.db.engine import Database
from caja.ledger import batching as engine
from caja.ledger.accounts import system_account_id
from caja.ledger.model import NewTransfer
from caja.topups import service as topups
from tests.conftest import run_async
from tests.helpers import stop_server, wait_until_healthy
from tests.postgres import free_port

T = TypeVar("T")
Cli = Callable[..., Result]
runner = CliRunner()


@pytest.fixture
def cli(database_url: str) -> Cli:
    def invoke(*args: str) -> Result:
        return runner.invoke(app, list(args), env={"CAJA_DATABASE_URL": database_url})

    return invoke


def on_database(url: str, work: Callable[[Database], Awaitable[T]]) -> T:
    async def main() -> T:
        database = Database(url)
        try:
            return await work(database)
        finally:
            await database.dispose()

    return run_async(main)


def key_principal(url: str, api_key: str) -> Principal | None:
    return on_database(url, lambda database: authenticate(database, api_key))


_names = itertools.count(1)


def create_client(cli: Cli, *scopes: str, name: str | None = None) -> dict[str, Any]:
    options = [part for scope in scopes for part in ("--scope", scope)]
    named = name or f"acme {next(_names)}"  # client names are unique
    result = cli("clients", "create", "--name", named, *options, "--json")
    assert result.exit_code == 0, result.output
    created: dict[str, Any] = json.loads(result.stdout)
    return created


def open_account(url: str, client_token: str, phone: str = "+573001234567") -> str:
    async def work(database: Database) -> str:
        async with database.read() as connection:
            query = select(clients.c.id).where(clients.c.token == client_token)
            client_id = (await connection.execute(query)).scalar_one()
        owner = OwnerData("CC", phone[-8:], "Owner", "owner@example.com")
        opened = await open_customer_account(database, client_id, phone, owner)
        return opened.customer.account.token

    return on_database(url, work)


@pytest.fixture
def account(cli: Cli, database_url: str) -> str:
    return open_account(database_url, create_client(cli, "ledger:admin")["client_id"])


def test_db_upgrade_is_idempotent(cli: Cli) -> None:
    for _ in range(2):
        result = cli("db", "upgrade")
        assert result.exit_code == 0, result.output
        assert "database is up to date" in result.stdout


def test_db_upgrade_builds_the_schema_of_a_new_database(tmp_path: Path) -> None:
    env = {"CAJA_DATABASE_URL": f"sqlite:///{tmp_path / 'new.db'}"}

    upgraded = runner.invoke(app, ["db", "upgrade"], env=env)
    created = runner.invoke(app, ["clients", "create", "--name", "x", "--scope", "ledger"], env=env)

    assert upgraded.exit_code == 0, upgraded.output
    assert created.exit_code == 0, created.output


def test_clients_create_prints_one_json_object_with_the_key(cli: Cli, database_url: str) -> None:
    result = cli("clients", "create", "--name", "X", "--scope", "ledger:admin", "--json")

    assert result.exit_code == 0, result.output
    assert len(result.stdout.strip().splitlines()) == 1
    created = json.loads(result.stdout)
    assert created["client_id"].startswith("cli-")
    assert created["name"] == "X"
    assert created["scopes"] == ["ledger:admin"]
    principal = key_principal(database_url, created["api_key"])
    assert principal is not None
    assert principal.client_token == created["client_id"]


def test_clients_create_accepts_several_scopes(cli: Cli, database_url: str) -> None:
    created = create_client(cli, "topup", "ledger", "ledger")

    assert created["scopes"] == ["ledger", "topup"]
    principal = key_principal(database_url, created["api_key"])
    assert principal is not None
    assert principal.scopes == frozenset({"ledger", "topup"})


@pytest.mark.parametrize(("given", "stored"), [("0", 0), ("250000", 250000), ("7", 7)])
def test_clients_create_takes_a_max_loan_in_whole_pesos(cli: Cli, given: str, stored: int) -> None:
    result = cli(
        "clients", "create", "--name", "M", "--scope", "topup", "--max-loan", given, "--json"
    )

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["max_loan_amount"] == stored


@pytest.mark.parametrize("given", ["-1", "1.5", "abc"])
def test_clients_create_refuses_a_bad_max_loan(cli: Cli, given: str) -> None:
    result = cli("clients", "create", "--name", "M", "--scope", "topup", "--max-loan", given)

    assert result.exit_code == 1
    assert "error: max_loan:" in result.stderr


def merchant_balance(url: str, api_key: str) -> tuple[int, int]:

    async def read(database: Database) -> tuple[int, int]:
        digest = key_digest(api_key)
        assert digest is not None
        who = await topups.merchant(database, await authenticate(database, api_key), digest)
        return await topups.balance(database, who)

    return on_database(url, read)


def test_a_topup_client_gets_a_merchant_account_funded_by_client_id(
    cli: Cli, database_url: str
) -> None:
    created = json.loads(
        cli(
            "clients", "create", "--name", "M", "--scope", "topup", "--max-loan", "300", "--json"
        ).stdout
    )

    funded = cli("fund", created["client_id"], "2500", "--json")

    assert funded.exit_code == 0, funded.output
    assert json.loads(funded.stdout)["balance"] == "2500.00"
    assert merchant_balance(database_url, created["api_key"]) == (2500, 300)
    fractional = cli("fund", created["client_id"], "10.50")
    assert fractional.exit_code == 1
    assert merchant_balance(database_url, created["api_key"]) == (2500, 300)


def test_set_max_loan_changes_the_overdraft_but_never_below_what_is_used(
    cli: Cli, database_url: str
) -> None:
    created = create_client(cli, "topup")
    key = created["api_key"]

    raised = cli("clients", "set-max-loan", created["client_id"], "5000")
    assert raised.exit_code == 0, raised.output
    assert merchant_balance(database_url, key) == (0, 5000)

    async def spend(database: Database) -> None:
        digest = key_digest(key)
        assert digest is not None
        who = await topups.merchant(database, await authenticate(database, key), digest)

        async with database.read() as connection:
            funding = await connection.run_sync(system_account_id, "COP", "funding")
        [result] = await engine.post(
            database,
            [NewTransfer(debit_account_id=who.account_id, credit_account_id=funding,
                         amount_minor=300_000)],
        )  # fmt: skip
        assert result.error is None

    on_database(database_url, spend)
    assert merchant_balance(database_url, key) == (-3000, 5000)
    refused = cli("clients", "set-max-loan", created["client_id"], "2999")
    assert refused.exit_code == 1
    assert "error: max_loan:" in refused.stderr
    assert merchant_balance(database_url, key) == (-3000, 5000)
    assert cli("clients", "set-max-loan", created["client_id"], "3000").exit_code == 0
    assert merchant_balance(database_url, key) == (-3000, 3000)
    no_merchant = create_client(cli, "ledger")
    assert cli("clients", "set-max-loan", no_merchant["client_id"], "10").exit_code == 1


def test_a_command_on_a_database_without_schema_says_how_to_create_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = runner.invoke(
        app,
        ["clients", "create", "--name", "X", "--scope", "ledger"],
        env={"CAJA_DATABASE_URL": url},
    )

    assert result.exit_code == 1
    assert "caja db upgrade" in result.stderr
    assert "Temporary failure" not in result.stderr


@pytest.mark.parametrize("scope", ["ledger:everything", "LEDGER"])
def test_clients_create_refuses_an_unknown_scope(cli: Cli, scope: str) -> None:
    result = cli("clients", "create", "--name", "X", "--scope", scope)

    assert result.exit_code == 1
    assert "error: scope: must be among" in result.stderr
    listed = cli("clients", "list", "--json")
    assert json.loads(listed.stdout) == []


def test_clients_list_shows_the_client_but_never_its_key(cli: Cli) -> None:
    created = create_client(cli, "ledger:admin", name="Acme")

    plain = cli("clients", "list")
    as_json = cli("clients", "list", "--json")

    assert plain.exit_code == as_json.exit_code == 0
    assert created["client_id"] in plain.stdout
    assert "active" in plain.stdout
    assert "Acme" in plain.stdout
    [listed] = json.loads(as_json.stdout)
    assert listed["client_id"] == created["client_id"]
    assert listed["scopes"] == ["ledger:admin"]
    assert listed["revoked"] is False
    assert "api_key" not in listed
    assert created["api_key"] not in plain.stdout + as_json.stdout


def test_clients_revoke_refuses_the_key_from_then_on(cli: Cli, database_url: str) -> None:
    created = create_client(cli, "ledger:admin")
    assert key_principal(database_url, created["api_key"]) is not None

    revoked = cli("clients", "revoke", created["client_id"])

    assert revoked.exit_code == 0, revoked.output
    assert key_principal(database_url, created["api_key"]) is None
    [listed] = json.loads(cli("clients", "list", "--json").stdout)
    assert listed["revoked"] is True


@pytest.mark.parametrize("target", ["revoked", "unknown"])
def test_clients_revoke_of_an_inactive_client_exits_1(cli: Cli, target: str) -> None:
    client_id = "cli-unknown"
    if target == "revoked":
        client_id = create_client(cli, "ledger")["client_id"]
        assert cli("clients", "revoke", client_id).exit_code == 0

    result = cli("clients", "revoke", client_id)

    assert result.exit_code == 1
    assert f"No active client {client_id}" in result.stderr


def test_fund_prints_the_new_balance_and_adds_up(cli: Cli, account: str) -> None:
    first = cli("fund", account, "10", "--json")
    second = cli("fund", account, "5.50", "--json")

    assert first.exit_code == second.exit_code == 0, first.output + second.output
    assert json.loads(first.stdout)["balance"] == "10.00"
    funded = json.loads(second.stdout)
    assert funded["account"] == account
    assert funded["amount"] == "5.50"
    assert funded["balance"] == "15.50"
    assert funded["asset"] == "COP"
    assert funded["transfer"].startswith("tx-")


@pytest.mark.parametrize(
    ("which", "amount", "message"),
    [
        ("the account", "10.001", "amount: must have at most 2 decimals"),
        ("the account", "0", "amount: must be greater than zero"),
        ("acc-unknown", "10", "No account acc-unknown"),
    ],
    ids=["three decimals", "zero", "unknown account"],
)
def test_fund_refuses_a_bad_amount_or_account(
    cli: Cli, account: str, which: str, amount: str, message: str
) -> None:
    target = account if which == "the account" else which

    result = cli("fund", target, amount, "--json")

    assert result.exit_code == 1
    assert message in result.stderr
    assert result.stdout == ""
    after = cli("fund", account, "0.01", "--json")
    assert json.loads(after.stdout)["balance"] == "0.01"


def test_verify_passes_on_a_consistent_ledger(cli: Cli, account: str) -> None:
    assert cli("fund", account, "10").exit_code == 0

    result = cli("verify")

    assert result.exit_code == 0, result.output
    assert "FAIL" not in result.stdout
    assert "ledger is consistent" in result.stdout


def test_verify_fails_naming_the_broken_check(cli: Cli, database_url: str, account: str) -> None:
    assert cli("fund", account, "10").exit_code == 0

    async def corrupt(database: Database) -> None:
        async with database.engine.begin() as connection:
            await connection.execute(
                text("UPDATE accounts SET balance_minor = balance_minor + 1 WHERE token = :token"),
                {"token": account},
            )

    on_database(database_url, corrupt)
    result = cli("verify")

    assert result.exit_code == 1
    assert "FAIL    1           every balance equals the sum of its entries" in result.stdout
    assert account in result.stdout
    assert "ledger invariants violated" in result.stderr


def _caja_command() -> str:
    found = shutil.which("caja", path=str(Path(sys.executable).parent)) or shutil.which("caja")
    assert found is not None, "the caja console script is not installed"
    return found


@pytest.mark.slow
def test_serve_answers_health_docs_and_both_ledger_surfaces(
    database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [_caja_command(), "serve", "--port", str(port)],
            env={**os.environ, "CAJA_DATABASE_URL": database_url},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_healthy(server, base, log_path, timeout=20)

            with httpx.Client(base_url=base, timeout=10) as http:
                assert http.get("/readyz").status_code == 200
                paths = set(http.get("/openapi.json").json()["paths"])
                assert {
                    "/api/ledger/v0/account",
                    "/api/ledger/v0/my/balance",
                    "/api/ledger/v0/my/transfer",
                    "/api/ledger/v1/public/account",
                    "/api/ledger/v1/public/transaction",
                } <= paths
                assert http.get("/docs").status_code == 200
                refused = http.post("/api/ledger/v1/public/transaction", json={})
                assert refused.status_code == 401
                assert refused.json() == {
                    "code": "Unauthorized",
                    "message": "Invalid authorization token was provided.",
                }
        finally:
            stop_server(server, timeout=10)


def wallet_account(url: str, phone: str, assets: list[str]) -> str:
    from caja.wallet import service as wallet

    async def make(database: Database) -> str:
        created = await wallet.sign_up(
            database,
            assets,
            phone_number=phone,
            first_name="Ana",
            last_name="Paz",
            password="a long enough password",
        )
        return created.account_id

    return on_database(url, make)


def test_fund_credits_a_wallet_account_in_the_chosen_asset(cli: Cli, database_url: str) -> None:
    target = wallet_account(database_url, "3001112222", ["COP", "USD"])

    pesos = cli("fund", target, "1000.50", "--json")
    dollars = cli("fund", target, "12", "--asset", "usd", "--json")
    missing = cli(
        "fund", wallet_account(database_url, "3001113333", ["COP"]), "1", "--asset", "USD"
    )

    assert pesos.exit_code == dollars.exit_code == 0, pesos.output + dollars.output
    assert json.loads(pesos.stdout)["balance"] == "1000.50"
    assert (json.loads(dollars.stdout)["asset"], json.loads(dollars.stdout)["balance"]) == (
        "USD",
        "12.00",
    )
    assert missing.exit_code == 1
    assert "No account" in missing.stderr


def test_verify_records_each_run_for_the_dashboard(cli: Cli, database_url: str) -> None:
    from caja.ops.dashboard import summary

    assert on_database(database_url, summary)["last_verify"] is None

    result = cli("verify")

    assert result.exit_code == 0, result.output
    last = on_database(database_url, summary)["last_verify"]
    assert last is not None
    assert last["ok"] is True
    assert last["violations"] == 0
