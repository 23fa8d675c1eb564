"""``caja import``: a CSV or JSONL file of transfers posted through the bulk path, with a
summary of how each ended; running it again is safe; bad files end in one error line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from caja.cli import app
from caja.clients.service import authenticate, create_client, revoke_client
from caja.customers.service import OwnerData, get_account, open_customer_account
from caja.db.engine import Database
from caja.ledger.tables import transfers
from caja.ops.funding import fund
from tests.test_cli import on_database, runner
from tests.test_cli_errors import one_error_line


def caja(url: str, *args: str) -> Any:
    return runner.invoke(app, list(args), env={"CAJA_DATABASE_URL": url})


def client_with_accounts(url: str, count: int, scopes: tuple[str, ...] = ("ledger",)) -> Any:
    """A client's id and ``count`` accounts, the first holding 100.00."""

    async def work(database: Database) -> tuple[str, list[str]]:
        made = await create_client(database, f"importer {len(scopes)}{count}", list(scopes))
        principal = await authenticate(database, made.api_key)
        assert principal is not None
        tokens = []
        for n in range(count):
            owner = OwnerData("CC", f"{70_000_000 + n}", f"Owner {n}", "o@example.com")
            opened = await open_customer_account(
                database, principal.client_id, f"+57301{n:07d}", owner
            )
            tokens.append(opened.customer.account.token)
        await fund(database, tokens[0], "100")
        return made.client_id, tokens

    return on_database(url, work)


def balances(url: str, client_token: str, tokens: list[str]) -> list[int]:
    async def work(database: Database) -> list[int]:
        async with database.read() as connection:
            from caja.clients.service import client_id_of

            client_id = await connection.run_sync(client_id_of, client_token)
        assert client_id is not None
        return [
            (await get_account(database, client_id, token)).account.balance_minor
            for token in tokens
        ]

    return on_database(url, work)


def transfer_count(url: str) -> int:
    async def work(database: Database) -> int:
        async with database.read() as connection:
            found = await connection.execute(select(func.count()).select_from(transfers))
            return int(found.scalar_one())

    return on_database(url, work)


def write_csv(path: Path, rows: list[tuple[str, str, str, str, str]]) -> Path:
    header = "origin_account,destination_account,amount,description,unique_transfer_token\n"
    path.write_text(header + "".join(",".join(row) + "\n" for row in rows))
    return path


def test_a_csv_file_is_posted_in_order_and_again_safely(database_url: str, tmp_path: Path) -> None:
    client, (a, b, c) = client_with_accounts(database_url, 3)
    rows = [(a, b, "60.00", "rent", f"r{n}") for n in range(1)]
    rows += [(b, c, "50", "onward", "r-onward"), (a, c, "500", "too much", "r-much")]
    rows += [(a, b, "0.01", "cents", f"c{n}") for n in range(1200)]  # two transactions
    path = write_csv(tmp_path / "transfers.csv", rows)

    first = caja(database_url, "import", str(path), "--client", client, "--json")
    again = caja(database_url, "import", str(path), "--client", client, "--json")

    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert summary["transfers"] == 1203
    assert summary["created"] == 1202
    assert summary["refused"] == 1
    assert summary["outcomes"] == {"201": 1202, "402 NoFunds": 1}
    assert summary["refusals"] == [
        {
            "row": 3,
            "unique_transfer_token": "r-much",
            "status": 402,
            "code": "NoFunds",
            "message": "Not enough funds in the origin_account.",
        }
    ]
    assert balances(database_url, client, [a, b, c]) == [4000 - 1200, 1000 + 1200, 5000]
    assert json.loads(again.stdout)["outcomes"] == {"208": 1202, "402 NoFunds": 1}
    assert transfer_count(database_url) == 1 + 1202


def test_a_jsonl_file_with_a_bad_row_prints_a_summary(database_url: str, tmp_path: Path) -> None:
    client, (a, b) = client_with_accounts(database_url, 2)
    lines = [
        {"origin_account": a, "destination_account": b, "amount": 1.5, "description": "x",
         "unique_transfer_token": "j1"},
        {"origin_account": a, "destination_account": "acc-nope", "amount": "1",
         "description": "x", "unique_transfer_token": "j2"},
        {"origin_account": a, "destination_account": b, "amount": "-1", "description": "x",
         "unique_transfer_token": "j3"},
    ]  # fmt: skip
    path = tmp_path / "transfers.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")

    result = caja(database_url, "import", str(path), "--client", client)

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "3 transfers: 1 created, 0 already made, 2 refused"
    assert "201" in result.stdout
    assert "422 AccountNotFound" in result.stdout
    assert "row 2: 422 The destination_account does not exist." in result.stdout
    assert result.stderr == ""  # no progress bar off a terminal
    assert balances(database_url, client, [a, b]) == [10000 - 150, 150]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("t.txt", "x", "the file must be .csv or .jsonl"),
        ("t.csv", "", "the header row lacks origin_account"),
        ("t.csv", "origin_account,amount\nacc-x,1\n", "the header row lacks destination_account"),
        (
            "t.csv",
            "origin_account,destination_account,amount,description,unique_transfer_token\n",
            "no transfers in the file",
        ),
        (
            "t.csv",
            "origin_account,destination_account,amount,description,unique_transfer_token\na,b\n",
            "t.csv:2: the row's cells do not match the header",
        ),
        ("t.jsonl", '{"a": 1}\n{not json\n', "t.jsonl:2: not a JSON object"),
        ("t.jsonl", "\n\n", "no transfers in the file"),
    ],
)
def test_a_bad_file_ends_in_one_error_line(
    database_url: str, tmp_path: Path, name: str, content: str, expected: str
) -> None:
    client, _ = client_with_accounts(database_url, 1)
    path = tmp_path / name
    path.write_text(content)

    result = caja(database_url, "import", str(path), "--client", client)

    assert expected in one_error_line(result)
    assert transfer_count(database_url) == 1


def test_a_missing_file_or_a_client_that_cannot_post_ends_in_one_error_line(
    database_url: str, tmp_path: Path
) -> None:
    client, (a, b) = client_with_accounts(database_url, 2)
    narrow, _ = client_with_accounts(database_url, 1, scopes=("topup",))
    path = write_csv(tmp_path / "t.csv", [(a, b, "1", "x", "k1")])
    on_database(database_url, lambda database: revoke_client(database, client))

    missing = caja(database_url, "import", str(tmp_path / "none.csv"), "--client", client)
    revoked = caja(database_url, "import", str(path), "--client", client)
    unknown = caja(database_url, "import", str(path), "--client", "cli-nobody")
    forbidden = caja(database_url, "import", str(path), "--client", narrow)

    assert "no such file" in one_error_line(missing)
    assert f"No active client {client}." in one_error_line(revoked)
    assert "No active client cli-nobody." in one_error_line(unknown)
    assert "permissions" in one_error_line(forbidden)
    assert transfer_count(database_url) == 2
