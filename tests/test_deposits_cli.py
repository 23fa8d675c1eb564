"""``caja deposits``: the banks, money received from other banks, and cancelling accounts."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from typer.testing import Result

from caja.app import create_app, services_of
from caja.cli import app
from caja.clients.service import authenticate, create_client
from caja.core.clock import BOGOTA, utcnow
from caja.db.engine import Database
from caja.deposits import service as deposits
from caja.deposits.service import TransferData
from caja.ledger.tables import accounts, transfers
from caja.providers.bank import Holder, SandboxBank
from tests.test_cli import on_database, runner

DEPOSIT = "/api/coopcentral/v1"
SEEDED_BANKS = [
    ("scotiabank-colpatria", "SCOTIABANK COLPATRIA"),
    ("bancolombia", "BANCOLOMBIA"),
    ("banco-de-bogota", "BANCO DE BOGOTA"),
    ("davivienda", "DAVIVIENDA"),
    ("bbva-colombia", "BBVA COLOMBIA"),
    ("banco-de-occidente", "BANCO DE OCCIDENTE"),
    ("banco-popular", "BANCO POPULAR"),
    ("banco-agrario", "BANCO AGRARIO"),
]


class Cli:
    def __init__(self, database_url: str) -> None:
        self.url = database_url

    def __call__(self, *args: str, **env: str) -> Result:
        return runner.invoke(app, list(args), env={"CAJA_DATABASE_URL": self.url, **env})

    def receive(self, account: str, amount: str, *extra: str, **env: str) -> Result:
        return self(
            "deposits", "receive", account, amount, "--bank", "bancolombia",
            "--sender-name", "Alonso Herrera", "--sender-id", "1089876456", *extra, **env,
        )  # fmt: skip


@pytest.fixture
def cli(database_url: str) -> Cli:
    return Cli(database_url)


class Client:
    """A client with the ``deposit`` scope: its internal id and its key."""

    def __init__(self, url: str) -> None:
        async def make(database: Database) -> tuple[int, str]:
            made = await create_client(database, "d", ["deposit"])
            principal = await authenticate(database, made.api_key)
            assert principal is not None
            return principal.client_id, made.api_key

        self.url = url
        self.id, self.api_key = on_database(url, make)
        self._opened = 0

    def open_account(self) -> str:
        """A new deposit account, opened with the sandbox bank's test data."""
        self._opened += 1
        n = self._opened
        holder = Holder(
            identification_type="CC",
            identification_number=f"{n:03d}45678",
            identification_issued_at=date(2019, 3, 19),
            mobile_phone_number=f"352888{n:04d}",
            email=f"holder{n}@example.com",
            names="Nigerio",
            first_last_name="Numa",
            second_last_names=None,
            sex="M",
            date_of_birth=date(1988, 2, 10),
        )

        async def work(database: Database) -> str:
            account, created = await deposits.open_deposit_account(
                database, SandboxBank(), self.id, holder
            )
            assert created
            return account.token

        return on_database(self.url, work)

    def history(self, token: str) -> list[deposits.DepositTransfer]:
        today = utcnow().astimezone(BOGOTA).date()

        async def work(database: Database) -> list[deposits.DepositTransfer]:
            _, found = await deposits.history(
                database, self.id, token, today - timedelta(days=1), today + timedelta(days=1)
            )
            return found

        return on_database(self.url, work)

    def transfer(self, origin: str, destination: str, amount_minor: int, token: str) -> None:
        data = TransferData(
            unique_transfer_token=token,
            origin_account=origin,
            destination_account=destination,
            channel="wallet",
            amount_minor=amount_minor,
            description="between accounts",
        )
        on_database(self.url, lambda database: deposits.transfer(database, self.id, data))

    def over_http(self, *requests: tuple[str, str, dict[str, Any]]) -> list[httpx.Response]:
        """Send ``(method, path, params or body)`` requests to the deposit surface."""

        async def work(database: Database) -> list[httpx.Response]:
            served = create_app(database, bank=SandboxBank())
            headers = {"Authorization": f"Token {self.api_key}"}
            answers = []
            transport = httpx.ASGITransport(app=served)
            try:
                async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                    for method, path, data in requests:
                        if method == "GET":
                            answer = await http.get(DEPOSIT + path, params=data, headers=headers)
                        else:
                            answer = await http.post(DEPOSIT + path, json=data, headers=headers)
                        answers.append(answer)
            finally:
                await services_of(served).batcher.close()
            return answers

        return on_database(self.url, work)

    def balance(self, token: str) -> dict[str, Any]:
        [answer] = self.over_http(("GET", "/accounts/balance", {"account_token": token}))
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body


@pytest.fixture
def client(database_url: str) -> Client:
    return Client(database_url)


def ledger(url: str, token: str) -> tuple[int, int, int]:
    """The account's balance, the clearing account's, and how many transfers exist."""

    async def read(database: Database) -> tuple[int, int, int]:
        async with database.read() as connection:
            balances = dict(
                (
                    await connection.execute(
                        select(accounts.c.token, accounts.c.balance_minor).where(
                            accounts.c.token.in_([token, "sys-clearing-cop"])
                        )
                    )
                ).all()
            )
            count = (await connection.execute(select(func.count()).select_from(transfers))).one()
        return balances.get(token, 0), balances["sys-clearing-cop"], int(count[0])

    return on_database(url, read)


# --- banks ---------------------------------------------------------------------------------


def test_banks_lists_the_seeded_banks(cli: Cli) -> None:
    result = cli("deposits", "banks")

    assert result.exit_code == 0, result.output
    header, *lines = result.stdout.splitlines()
    assert header.split() == ["slug", "name"]
    assert [line.split()[0] for line in lines] == [slug for slug, _ in SEEDED_BANKS]
    assert [line.split(None, 1)[1] for line in lines] == [name for _, name in SEEDED_BANKS]


def test_banks_json_is_one_array_of_slug_and_name(cli: Cli) -> None:
    result = cli("deposits", "banks", "--json")

    assert result.exit_code == 0, result.output
    assert len(result.stdout.strip().splitlines()) == 1
    assert json.loads(result.stdout) == [
        {"slug": slug, "name": name} for slug, name in SEEDED_BANKS
    ]


# --- receive -------------------------------------------------------------------------------


def test_receive_credits_the_account_from_clearing(cli: Cli, client: Client) -> None:
    account = client.open_account()

    first = cli.receive(account, "200000", "--json")
    second = cli.receive(account, "50.5")

    assert first.exit_code == 0, first.output
    assert len(first.stdout.strip().splitlines()) == 1
    received = json.loads(first.stdout)
    assert received == {
        "account": account,
        "amount": "200000.00",
        "balance": "200000.00",
        "coopcentral_id": received["coopcentral_id"],
        "bank": "bancolombia",
    }
    assert re.fullmatch(r"[0-9]{30}", received["coopcentral_id"])
    assert second.exit_code == 0, second.output
    assert second.stdout == f"{account} received 50.50 from bancolombia: balance 200050.50\n"
    balance, clearing, count = ledger(cli.url, account)
    assert (balance, clearing, count) == (20_005_050, -20_005_050, 2)
    verified = cli("verify")
    assert verified.exit_code == 0, verified.output


def test_received_money_shows_in_the_history(cli: Cli, client: Client) -> None:
    account = client.open_account()
    first = cli.receive(account, "200000", "--json")
    assert cli.receive(account, "1000").exit_code == 0

    found = client.history(account)

    assert [item.transfer.amount_minor for item in found] == [100_000, 20_000_000]
    older = found[1]
    assert older.coopcentral_id == json.loads(first.stdout)["coopcentral_id"]
    assert older.channel == "external"
    assert older.origin_bank == ("BANCOLOMBIA", "bancolombia")
    assert older.sender == ("Alonso Herrera", "1089876456")
    assert older.transfer.debit_token == "sys-clearing-cop"
    assert older.transfer.credit_token == account
    assert older.fee_minor == 0
    assert not older.reverted


def test_received_money_shows_over_http(cli: Cli, client: Client) -> None:
    account = client.open_account()
    received = json.loads(cli.receive(account, "200000", "--json").stdout)
    today = utcnow().astimezone(BOGOTA).date().isoformat()

    history, balance = client.over_http(
        (
            "GET",
            "/transactions",
            {"account_token": account, "initial_date": today, "final_date": today},
        ),
        ("GET", "/accounts/balance", {"account_token": account}),
    )

    assert history.status_code == 200, history.text
    [item] = history.json()["transactions"]
    assert item["status"] == "approved"
    assert item["direction"] == "deposit"
    assert item["channel"] == "external"
    assert item["amount"] == "200000.00"
    assert item["description"] == "NC TRANSACCION ELECT"
    assert item["coopcentral_id"] == item["idempotency_token"] == received["coopcentral_id"]
    assert item["origin_bank"] == {"name": "BANCOLOMBIA", "slug": "bancolombia"}
    assert item["sender_data"] == {
        "customer_name": "Alonso Herrera",
        "customer_id_number": "1089876456",
    }
    assert item["token"].startswith("cooptx-")
    assert balance.status_code == 200, balance.text
    assert balance.json()["balance"] == "200000.00"
    assert balance.json()["deposited_this_month"] == "200000.00"
    assert balance.json()["withdrawn_this_month"] == "0.00"


def test_the_sender_is_stored_without_surrounding_blanks(cli: Cli, client: Client) -> None:
    account = client.open_account()

    result = cli(
        "deposits", "receive", account, "10", "--bank", "davivienda",
        "--sender-name", "  Ana Ruiz ", "--sender-id", " 52000111 ",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    [item] = client.history(account)
    assert item.origin_bank == ("DAVIVIENDA", "davivienda")
    assert item.sender == ("Ana Ruiz", "52000111")


@pytest.mark.parametrize(
    ("target", "amount", "options", "message"),
    [
        ("unknown", "10", {}, "error: No deposit account coopacc-unknown."),
        ("account", "10", {"--bank": "banco-inexistente"}, "error: No bank banco-inexistente."),
        (
            "account",
            "10",
            {"--sender-name": "   "},
            "error: --sender-name must have 1 to 150 characters",
        ),
        (
            "account",
            "10",
            {"--sender-id": ""},
            "error: --sender-name must have 1 to 150 characters",
        ),
        pytest.param(
            "account",
            "10.001",
            {},
            "error: amount: must have at most 2 decimals",
        ),
        pytest.param("account", "0", {}, "error: amount: must be greater than zero"),
        pytest.param("account", "1e3", {}, "error: amount: must be a positive amount"),
        pytest.param("account", "diez", {}, "error: amount: must be a positive amount"),
    ],
    ids=[
        "unknown account",
        "unknown bank",
        "blank sender name",
        "blank sender id",
        "three decimals",
        "zero",
        "exponent",
        "not a number",
    ],
)
def test_receive_refuses_and_writes_nothing(
    cli: Cli,
    client: Client,
    target: str,
    amount: str,
    options: dict[str, str],
    message: str,
) -> None:
    account = client.open_account()
    assert cli.receive(account, "100").exit_code == 0
    before = ledger(cli.url, account)
    chosen = {
        "--bank": "bancolombia",
        "--sender-name": "Alonso Herrera",
        "--sender-id": "1089876456",
        **options,
    }
    name = account if target == "account" else "coopacc-unknown"

    result = cli(
        "deposits", "receive", name, amount, *(part for pair in chosen.items() for part in pair)
    )

    assert result.exit_code == 1
    assert message in result.stderr
    assert result.stdout == ""
    assert ledger(cli.url, account) == before
    assert len(client.history(account)) == 1


def test_receive_refuses_an_amount_past_the_balance_cap(cli: Cli, client: Client) -> None:
    account = client.open_account()
    capped = {"CAJA_DEPOSIT_MAX_BALANCE": "1000"}
    assert cli.receive(account, "600", **capped).exit_code == 0
    before = ledger(cli.url, account)

    refused = cli.receive(account, "400.01", **capped)

    assert refused.exit_code == 1
    assert (
        "error: The transfer would take the destination account past its maximum balance."
        in refused.stderr
    )
    assert refused.stdout == ""
    assert ledger(cli.url, account) == before
    up_to_the_cap = cli.receive(account, "400", "--json", **capped)
    assert up_to_the_cap.exit_code == 0, up_to_the_cap.output
    assert json.loads(up_to_the_cap.stdout)["balance"] == "1000.00"
    assert cli.receive(account, "0.01", **capped).exit_code == 1
    assert cli.receive(account, "0.01").exit_code == 0


def test_receive_refuses_an_amount_past_the_monthly_deposit_limit(cli: Cli, client: Client) -> None:
    account = client.open_account()
    elsewhere = client.open_account()
    limited = {"CAJA_DEPOSIT_MONTHLY_IN": "1000"}
    assert cli.receive(account, "600", **limited).exit_code == 0
    # Spent again: the balance is back to zero, what entered this month is not.
    client.transfer(account, elsewhere, 60_000, "spend-all")
    before = ledger(cli.url, account)
    assert before[0] == 0

    refused = cli.receive(account, "400.01", **limited)

    assert refused.exit_code == 1
    assert (
        "error: The transfer would exceed the destination account's monthly deposit limit."
        in refused.stderr
    )
    assert ledger(cli.url, account) == before
    assert cli.receive(account, "400", **limited).exit_code == 0
    assert cli.receive(account, "0.01", **limited).exit_code == 1
    assert ledger(cli.url, account)[0] == 40_000


def test_the_default_limits_are_210_50_uvt(cli: Cli, client: Client) -> None:
    account = client.open_account()

    within = cli.receive(account, "11024727", "--json")
    beyond = cli.receive(account, "0.01")

    assert within.exit_code == 0, within.output
    assert json.loads(within.stdout)["balance"] == "11024727.00"
    assert beyond.exit_code == 1
    assert "error: The transfer would exceed" in beyond.stderr
    smaller_uvt = client.open_account()
    assert cli.receive(smaller_uvt, "210500", CAJA_DEPOSIT_UVT="1000").exit_code == 0
    assert cli.receive(smaller_uvt, "0.01", CAJA_DEPOSIT_UVT="1000").exit_code == 1


# --- cancel --------------------------------------------------------------------------------


def test_cancel_stops_money_coming_in(cli: Cli, client: Client) -> None:
    account = client.open_account()
    assert cli.receive(account, "500").exit_code == 0

    cancelled = cli("deposits", "cancel", account)

    assert cancelled.exit_code == 0, cancelled.output
    assert cancelled.stdout == f"{account} cancelled\n"
    before = ledger(cli.url, account)
    refused = cli.receive(account, "10")
    assert refused.exit_code == 1
    assert f"error: The account {account} is cancelled." in refused.stderr
    assert ledger(cli.url, account) == before
    assert client.balance(account)["account_status"] == "cancelled"
    assert client.balance(account)["balance"] == "500.00"


def test_a_cancelled_account_cannot_send_or_receive_transfers(cli: Cli, client: Client) -> None:
    account = client.open_account()
    other = client.open_account()
    assert cli.receive(account, "500").exit_code == 0
    assert cli.receive(other, "500").exit_code == 0
    assert cli("deposits", "cancel", account).exit_code == 0
    before = ledger(cli.url, account)

    out, into = client.over_http(
        (
            "POST",
            "/transactions/create",
            {
                "origin_account": account,
                "destination_account": other,
                "unique_transfer_token": "after-cancel-1",
                "amount": "100.00",
                "description": "Test transaction",
                "channel": "wallet",
            },
        ),
        (
            "POST",
            "/transactions/create",
            {
                "origin_account": other,
                "destination_account": account,
                "unique_transfer_token": "after-cancel-2",
                "amount": "100.00",
                "description": "Test transaction",
                "channel": "wallet",
            },
        ),
    )

    for answer in (out, into):
        assert answer.status_code == 409, answer.text
        assert answer.json() == {
            "error_code": "AccountCancelled",
            "error_message": f"The account {account} is cancelled.",
        }
    assert ledger(cli.url, account) == before
    assert client.balance(other)["balance"] == "500.00"


def test_cancel_twice_is_harmless(cli: Cli, client: Client) -> None:
    account = client.open_account()

    first = cli("deposits", "cancel", account)
    second = cli("deposits", "cancel", account)

    assert first.exit_code == second.exit_code == 0
    assert client.balance(account)["account_status"] == "cancelled"


def test_cancel_of_an_unknown_account_exits_1(cli: Cli) -> None:
    result = cli("deposits", "cancel", "coopacc-unknown")

    assert result.exit_code == 1
    assert "error: No deposit account coopacc-unknown." in result.stderr
    assert result.stdout == ""
