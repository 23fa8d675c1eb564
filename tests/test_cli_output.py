"""What ``caja`` prints: JSON on request, tables with a header row for people, a progress
bar only on a terminal, flags shown as flags, its version."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from caja.cli import app, caja_version
from caja.db.engine import Database
from tests.test_cli import Cli, cli, create_client, on_database, open_account

__all__ = ["cli"]  # the fixture, for the tests here

runner = CliRunner()


def every_help_page() -> list[list[str]]:
    """``--help`` of caja, of each group and of each command."""
    from typer.main import get_command

    root = get_command(app)
    pages = [["--help"]]
    for name, command in root.commands.items():  # type: ignore[attr-defined]
        pages.append([name, "--help"])
        for sub in getattr(command, "commands", {}):
            pages.append([name, sub, "--help"])
    return pages


def test_no_flag_is_shown_as_taking_a_value() -> None:
    for page in every_help_page():
        result = runner.invoke(app, page, env={"COLUMNS": "120"})
        assert result.exit_code == 0, (page, result.output)
        assert "<bool>" not in result.output, page
    verify_help = runner.invoke(app, ["verify", "--help"], env={"COLUMNS": "120"}).output
    assert "--json" in verify_help


def test_version_is_the_package_version() -> None:
    result = runner.invoke(app, ["--version"])

    assert result.exit_code == 0
    assert result.stdout == f"caja {caja_version()}\n"
    assert caja_version()[0].isdigit()


def test_clients_list_has_a_header_row_and_one_row_per_client(cli: Cli) -> None:
    first = create_client(cli, "ledger", name="Tienda [b]Ana[/b]")
    second = create_client(cli, "topup", "admin", name="Pagos Beto")

    result = cli("clients", "list")

    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["client_id", "state", "scopes", "max", "loan", "created", "name"]
    assert [row.split()[0] for row in rows] == [first["client_id"], second["client_id"]]
    assert rows[0].endswith("Tienda [b]Ana[/b]")  # a name is shown as it is, never markup
    assert rows[1].split()[1:4] == ["active", "admin", "topup"]
    assert all(line == line.rstrip() for line in result.stdout.splitlines())


def test_verify_json_is_one_object_with_every_check(cli: Cli, database_url: str) -> None:
    account = open_account(database_url, create_client(cli, "ledger:admin")["client_id"])
    assert cli("fund", account, "10").exit_code == 0

    result = cli("verify", "--json")

    assert result.exit_code == 0, result.output
    assert len(result.stdout.strip().splitlines()) == 1
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["transfers"] == 1
    assert report["last_hash"]
    assert len(report["checks"]) > 5
    assert all(check["violations"] == 0 for check in report["checks"])
    assert {"name", "violations", "examples"} == set(report["checks"][0])


def test_verify_text_is_a_table_of_checks(cli: Cli) -> None:
    result = cli("verify")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[2].split() == ["result", "violations", "check"]
    assert lines[3].split()[:2] == ["ok", "0"]
    assert lines[-1] == "ledger is consistent"
    assert result.stderr == ""  # no progress bar outside a terminal


@pytest.mark.parametrize(
    ("args", "keys"),
    [
        (["clients", "list", "--json"], None),
        (["catalog", "list", "--json"], {"operators", "package_providers", "packages"}),
        (["deposits", "banks", "--json"], None),
        (["reconcile", "--json", "--operator-url", "http://127.0.0.1:9/none"],
         {"checked", "authorized", "rejected", "still_open"}),
    ],
    ids=["clients list", "catalog list", "deposits banks", "reconcile"],
)  # fmt: skip
def test_commands_that_print_data_print_json(
    cli: Cli, args: list[str], keys: set[str] | None
) -> None:
    result = cli(*args)

    assert result.exit_code == 0, result.output
    assert len(result.stdout.strip().splitlines()) == 1
    printed = json.loads(result.stdout)
    if keys is not None:
        assert set(printed) == keys


def test_revoke_set_max_loan_and_catalog_import_print_json(cli: Cli, tmp_path: Path) -> None:
    created = create_client(cli, "topup")
    path = tmp_path / "catalog.json"
    path.write_text(
        json.dumps({"operators": [{"slug": "x1", "name": "X", "route": "PUNTORED"}]}),
        encoding="utf-8",
    )

    loan = cli("clients", "set-max-loan", created["client_id"], "700", "--json")
    imported = cli("catalog", "import", str(path), "--json")
    revoked = cli("clients", "revoke", created["client_id"], "--json")

    assert json.loads(loan.stdout) == {"client_id": created["client_id"], "max_loan_amount": 700}
    assert json.loads(imported.stdout) == {"operators": 1, "package_providers": 0, "packages": 0}
    assert json.loads(revoked.stdout) == {"client_id": created["client_id"], "revoked": True}


# --- progress --------------------------------------------------------------------------------


def test_verify_tells_its_progress_after_each_check(database_url: str) -> None:
    from caja.ops.checks import INVARIANTS, verify

    told: list[tuple[int, int]] = []

    async def run(database: Database) -> None:
        async with database.read() as connection:
            await verify(connection, progress=lambda done, total: told.append((done, total)))

    on_database(database_url, run)
    total = len(INVARIANTS)
    assert told == [(done, total) for done in range(1, total + 1)]


def test_catalog_import_tells_its_progress_after_each_item(database_url: str) -> None:
    from caja.topups.catalog import import_catalog

    told: list[tuple[int, int]] = []
    data = {
        "operators": [{"slug": f"op{n}", "name": f"Op {n}", "route": "PUNTORED"} for n in range(3)]
    }

    on_database(
        database_url,
        lambda database: import_catalog(database, data, progress=lambda *step: told.append(step)),
    )
    assert told == [(1, 3), (2, 3), (3, 3)]


def test_a_progress_bar_shows_on_a_terminal_only(tmp_path: Path) -> None:
    """``caja verify`` with stderr on a pseudo-terminal draws a bar there; piped, nothing."""
    url = f"sqlite:///{tmp_path / 'caja.db'}"
    caja = str(Path(sys.executable).parent / "caja")
    env = {**os.environ, "CAJA_DATABASE_URL": url, "COLUMNS": "100"}
    assert subprocess.run([caja, "db", "upgrade"], env=env, timeout=60, check=False).returncode == 0
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [caja, "verify"], env=env, stdout=subprocess.PIPE, stderr=follower, timeout=60
        )
        os.close(follower)
        drawn = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(leader)
    assert done.returncode == 0
    assert b"verifying" in drawn
    assert b"verifying" not in done.stdout
