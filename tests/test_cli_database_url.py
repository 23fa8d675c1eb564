"""A database URL caja cannot use, or a database it cannot reach, ends a command with one
plain line (never a traceback) and leaves nothing behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from caja.cli import app
from tests.postgres import free_port

runner = CliRunner()


def _caja(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The ``caja`` command as a person runs it, in a process of its own."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "caja"), *args],
        env={
            "CAJA_DATABASE_URL": url,
            "CAJA_WALLET_JWT_SECRET": "a shared secret of at least 32 characters",
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("notaurl", "not a database URL caja takes: use sqlite:///path.db"),
        ("mysql://ana:secret@db/caja", "not a database URL caja takes (the scheme 'mysql')"),
        ("postgresql://ana:secret@db:notaport/caja", "not a URL: use sqlite:///path.db"),
    ],
)
def test_a_url_caja_cannot_use_is_refused_in_one_line(url: str, said: str) -> None:
    result = runner.invoke(app, ["verify"], env={"CAJA_DATABASE_URL": url})

    assert result.exit_code == 2
    assert result.output.startswith("error: CAJA_DATABASE_URL: ")
    assert len(result.output.strip().splitlines()) == 1
    assert said in result.output
    assert "secret" not in result.output  # the URL, which may hold a password, is not echoed


def test_a_sqlite_file_in_a_missing_folder_is_refused_and_nothing_is_made(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "not-there" / "caja.db"

    result = runner.invoke(
        app, ["clients", "list"], env={"CAJA_DATABASE_URL": f"sqlite:///{missing}"}
    )

    assert result.exit_code == 2
    assert f"the folder '{missing.parent}' of the SQLite database does not exist" in result.output
    assert not missing.parent.exists()


@pytest.mark.parametrize("command", [["verify"], ["serve", "--port", "0"]])
def test_an_unreachable_postgresql_is_one_line_not_a_traceback(command: list[str]) -> None:
    hosts = f"127.0.0.1:{free_port()},127.0.0.1:{free_port()}"  # nothing listens there

    done = _caja(f"postgresql://caja:secret@{hosts}/caja", *command)

    assert done.returncode == 1
    assert done.stderr.startswith("error: the database cannot be reached: ")
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr
    assert "secret" not in done.stderr
