"""Every way a ``caja`` command can fail ends in one line, ``error: …``, saying what to do,
with a non-zero exit and no traceback; ``caja --debug`` shows the traceback instead."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import func, select
from typer.testing import CliRunner

from caja.cli import app
from caja.db.engine import Database
from caja.db.schema import metadata
from tests.postgres import free_port
from tests.test_cli import on_database
from tests.test_cli_database_url import _caja

runner = CliRunner()


def one_error_line(result: Result, code: int | None = None) -> str:
    """The single ``error:`` line a failed command wrote to stderr."""
    assert result.exit_code != 0, result.output
    if code is not None:
        assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def every_command(tmp_path: Path) -> list[list[str]]:
    """One invocation of each command that uses the database, with arguments it takes."""
    catalog = tmp_path / "catalog.json"
    receive = ["coopacc-x", "10", "--bank", "b", "--sender-name", "Ana", "--sender-id", "1"]
    return [
        ["db", "upgrade"],
        ["serve", "--port", "0"],
        ["demo", "--port", "0"],
        ["fund", "acc-x", "10"],
        ["verify"],
        ["backup", str(tmp_path / "backup.db")],
        ["restore", str(tmp_path / "backup.db")],
        ["reconcile"],
        ["clients", "create", "--name", "x", "--scope", "ledger"],
        ["clients", "list"],
        ["clients", "revoke", "cli-x"],
        ["clients", "set-max-loan", "cli-x", "5"],
        ["catalog", "list"],
        ["catalog", "import", str(catalog)],
        ["catalog", "enable", "operator", "etb"],
        ["deposits", "banks"],
        ["deposits", "cancel", "coopacc-x"],
        ["deposits", "receive", *receive],
        ["import", str(tmp_path / "transfers.csv"), "--client", "cli-x"],
    ]


COMMANDS = [
    " ".join(part for part in command[:2] if part.isalpha() or part == "set-max-loan")
    for command in every_command(Path("/x"))
]


@pytest.fixture(params=range(len(COMMANDS)), ids=COMMANDS)
def command(request: pytest.FixtureRequest, tmp_path: Path) -> list[str]:
    (tmp_path / "catalog.json").write_text(json.dumps({"operators": []}), encoding="utf-8")
    (tmp_path / "transfers.csv").write_text(
        "origin_account,destination_account,amount,description,unique_transfer_token\n"
        "acc-a,acc-b,1,x,k1\n"
    )
    return every_command(tmp_path)[request.param]


def test_a_sqlite_file_in_a_missing_folder_is_one_line_for_every_command(
    command: list[str], tmp_path: Path
) -> None:
    missing = tmp_path / "not-there" / "caja.db"

    result = runner.invoke(app, command, env={"CAJA_DATABASE_URL": f"sqlite:///{missing}"})

    line = one_error_line(result, 2)
    assert "of the SQLite database does not exist" in line
    assert not missing.parent.exists()


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("notaurl", "not a database URL caja takes"),
        ("mysql://ana:secret@db/caja", "the scheme 'mysql'"),
        ("postgresql://ana:secret@db:notaport/caja", "not a URL"),
    ],
    ids=["malformed", "unsupported scheme", "bad port"],
)
def test_a_url_caja_cannot_use_is_one_line_for_every_command(
    command: list[str], url: str, said: str
) -> None:
    result = runner.invoke(app, command, env={"CAJA_DATABASE_URL": url})

    line = one_error_line(result, 2)
    assert line.startswith("error: CAJA_DATABASE_URL: ")
    assert said in line
    assert "secret" not in result.output


def test_an_unreachable_database_is_one_line_for_every_command(command: list[str]) -> None:
    url = f"postgresql://caja:secret@127.0.0.1:{free_port()}/caja"  # nothing listens there

    result = runner.invoke(app, command, env={"CAJA_DATABASE_URL": url})

    line = one_error_line(result, 1)
    if command[0] == "backup":  # pg_dump's own words
        assert "Connect call failed" in line
    elif command[0] != "restore":  # restore reads its file first, and it is not there
        assert line.startswith("error: the database cannot be reached: ")
    assert "secret" not in result.output


def test_debug_shows_the_traceback_of_an_unreachable_database() -> None:
    url = f"postgresql://caja:secret@127.0.0.1:{free_port()}/caja"

    plain = _caja(url, "verify")
    debugged = _caja(url, "--debug", "verify")

    assert plain.returncode == debugged.returncode == 1
    assert "Traceback" not in plain.stderr
    assert "Traceback (most recent call last)" in debugged.stderr
    assert "ConnectionRefusedError" in debugged.stderr


def test_an_unexpected_failure_is_one_line_and_debug_shows_it(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from caja.ops import checks

    async def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the disk\nis on fire")

    monkeypatch.setattr(checks, "verify", broken)
    env = {"CAJA_DATABASE_URL": database_url}

    plain = runner.invoke(app, ["verify"], env=env)
    debugged = runner.invoke(app, ["--debug", "verify"], env=env)

    line = one_error_line(plain, 1)
    assert (
        line == "error: RuntimeError: the disk is on fire (run with --debug to see the traceback)"
    )
    assert isinstance(debugged.exception, RuntimeError)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["verify", "--bad"], "error: No such option: --bad (see 'caja verify --help')"),
        (["fund"], "error: Missing argument 'target' (see 'caja fund --help')"),
        (["nothing"], "error: No such command 'nothing'"),
    ],
    ids=["unknown option", "missing argument", "unknown command"],
)
def test_a_mistyped_command_line_is_one_line(args: list[str], said: str) -> None:
    result = runner.invoke(app, args, prog_name="caja")

    assert one_error_line(result, 2).startswith(said)


# --- files ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (None, "No such file or directory: check the path"),
        ("directory", "Is a directory: check the path"),
        ("{", "Expecting property name"),
    ],
    ids=["missing", "unreadable", "not json"],
)
def test_catalog_import_of_a_file_it_cannot_read_is_one_line(
    database_url: str, tmp_path: Path, content: str | None, said: str
) -> None:
    path = tmp_path / "catalog.json"
    if content == "directory":
        path.mkdir()
    elif content is not None:
        path.write_text(content, encoding="utf-8")

    result = runner.invoke(
        app, ["catalog", "import", str(path)], env={"CAJA_DATABASE_URL": database_url}
    )

    line = one_error_line(result, 1)
    assert line.startswith(f"error: {path}: ")
    assert said in line


def test_catalog_import_of_broken_yaml_is_one_line(database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text("operators: [\n  etb", encoding="utf-8")

    result = runner.invoke(
        app, ["catalog", "import", str(path)], env={"CAJA_DATABASE_URL": database_url}
    )

    assert one_error_line(result, 1).startswith(f"error: {path}: ")


def test_restore_of_a_missing_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "no-backup.db"
    env = {"CAJA_DATABASE_URL": f"sqlite:///{tmp_path / 'target.db'}"}

    result = runner.invoke(app, ["restore", str(path)], env=env)

    assert one_error_line(result, 1).startswith(f"error: {path}: ")


def test_backup_into_a_missing_folder_is_one_line(database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "not-there" / "backup.db"

    result = runner.invoke(app, ["backup", str(path)], env={"CAJA_DATABASE_URL": database_url})

    assert "no such directory" in one_error_line(result, 1)


# --- caja's own checks of its arguments ------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["catalog", "enable", "shop", "x"], "error: kind must be one of operator"),
        (["clients", "create", "--name", "x", "--scope", "ledger", "--max-loan", "1.5"],
         "error: max_loan: must be a whole number"),
        (["clients", "create", "--name", " ", "--scope", "ledger"],
         "error: name: must have 1 to 100 characters"),
        (["deposits", "receive", "coopacc-x", "10", "--bank", "b", "--sender-name", "",
          "--sender-id", "1"], "error: --sender-name must have 1 to 150 characters"),
    ],
    ids=["catalog kind", "max loan", "client name", "sender name"],
)  # fmt: skip
def test_a_bad_argument_is_one_line(database_url: str, args: list[str], said: str) -> None:
    result = runner.invoke(app, args, env={"CAJA_DATABASE_URL": database_url})

    assert one_error_line(result, 1).startswith(said)


# --- a port in use ---------------------------------------------------------------------------


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something already listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


@pytest.mark.parametrize("command", [["serve"], ["demo"], ["operator", "serve"]])
def test_a_port_in_use_is_one_line(database_url: str, busy_port: int, command: list[str]) -> None:
    result = runner.invoke(
        app, [*command, "--port", str(busy_port)], env={"CAJA_DATABASE_URL": database_url}
    )

    line = one_error_line(result, 1)
    assert line == (
        f"error: port {busy_port} on 127.0.0.1 is in use: stop what listens there or choose "
        "another with --port"
    )


def row_counts(url: str) -> dict[str, int]:
    async def count(database: Database) -> dict[str, int]:
        async with database.read() as connection:
            return {
                table.name: (
                    await connection.execute(select(func.count()).select_from(table))
                ).scalar_one()
                for table in metadata.sorted_tables
            }

    return on_database(url, count)


def test_demo_on_a_busy_port_writes_nothing(database_url: str, busy_port: int) -> None:
    before = row_counts(database_url)

    result = runner.invoke(
        app, ["demo", "--port", str(busy_port)], env={"CAJA_DATABASE_URL": database_url}
    )

    one_error_line(result, 1)
    assert result.stdout == ""
    assert row_counts(database_url) == before
    assert sum(before.values()) > 0  # the seeded catalog and banks, at least
