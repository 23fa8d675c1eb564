"""``caja backup`` and ``caja restore``: online backups, restores into a new database."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy import func, select

from caja.db.engine import Database
from caja.db.schema import metadata
from caja.ledger.tables import accounts, transfers
from caja.ops.backup import BackupError, _libpq_environment, backup, restore
from tests.conftest import Backend
from tests.gateway import GATEWAY, merchant, topup_body
from tests.helpers import Caja, transfer_body

pytestmark = pytest.mark.anyio


@pytest.fixture
def target_url(backend: Backend) -> Iterator[str]:
    """A second database, as `caja db upgrade` leaves it: the target of a restore."""
    url, drop = backend.fresh()
    yield url
    drop()


async def snapshot(url: str) -> dict[str, Any]:
    """Every table's row count, and every account's balance and held amount."""
    database = Database(url)
    try:
        async with database.read() as connection:
            counts = {
                table.name: (
                    await connection.execute(select(func.count()).select_from(table))
                ).scalar_one()
                for table in metadata.sorted_tables
            }
            query = select(
                accounts.c.token, accounts.c.balance_minor, accounts.c.pending_out_minor
            ).order_by(accounts.c.token)
            balances = [tuple(row) for row in await connection.execute(query)]
            tokens = sorted((await connection.execute(select(transfers.c.token))).scalars().all())
    finally:
        await database.dispose()
    return {"counts": counts, "balances": balances, "transfers": tokens}


async def make_ledger(caja: Caja) -> str:
    """Two funded accounts, transfers between them and a top-up; the client's key."""
    key = await caja.client_key()
    first = (await caja.account(key))["token"]
    second = (await caja.account(key))["token"]
    await caja.fund(first, "50000.00")
    for amount in ("1000.00", "2500.50", "10.01"):
        response = await caja.transfer(key, transfer_body(first, second, amount))
        assert response.status_code == 201, response.text
    buyer = await merchant(caja.database, funds=20000)
    bought = await caja.http.post(
        f"{GATEWAY}/topup_account", json=topup_body(), headers=buyer.headers
    )
    assert bought.status_code == 200, bought.text
    return key


async def test_a_restore_holds_every_row_and_balance_of_the_backup(
    caja: Caja, database_url: str, target_url: str, tmp_path: Path
) -> None:
    await make_ledger(caja)
    before = await snapshot(database_url)
    path = str(tmp_path / "ledger.backup")

    written = await backup(database_url, path)

    assert written.transfers == len(before["transfers"]) > 0
    assert written.size == os.path.getsize(path) > 0
    restored = await restore(path, target_url)
    assert restored.report.ok, restored.report.checks
    assert restored.report.transfers == written.transfers
    assert restored.report.last_hash == (await caja.verify()).last_hash
    assert await snapshot(target_url) == before
    assert await snapshot(database_url) == before


async def test_a_backup_taken_while_transfers_are_posted_restores_whole(
    caja: Caja, database_url: str, target_url: str, tmp_path: Path
) -> None:
    key = await caja.client_key()
    first = (await caja.account(key))["token"]
    second = (await caja.account(key))["token"]
    await caja.fund(first, "100000.00")
    path = str(tmp_path / "busy.backup")
    sent, backup_after = 60, 20
    under_way = anyio.Event()
    written_during: list[int] = []

    async def post_transfers() -> None:
        for number in range(1, sent + 1):
            response = await caja.transfer(key, transfer_body(first, second, "1.00"))
            assert response.status_code == 201, response.text
            if number == backup_after:
                under_way.set()

    async def take_backup() -> None:
        await under_way.wait()
        written_during.append((await backup(database_url, path)).transfers)

    async with anyio.create_task_group() as group:
        group.start_soon(post_transfers)
        group.start_soon(take_backup)

    # The funding transfer, those posted before the backup began, and maybe some posted
    # while it ran: the ledger at one moment, which verifies.
    assert 1 + backup_after <= written_during[0] <= 1 + sent
    restored = await restore(path, target_url)
    assert restored.report.ok, restored.report.checks
    assert restored.report.transfers == written_during[0]
    assert (await snapshot(database_url))["counts"]["transfers"] == 1 + sent


async def test_a_restore_into_a_ledger_is_refused_and_changes_nothing(
    caja: Caja, database_url: str, backend: Backend, tmp_path: Path
) -> None:
    await make_ledger(caja)
    path = str(tmp_path / "ledger.backup")
    await backup(database_url, path)
    other_url, drop = backend.fresh()
    try:
        other = Caja(Database(other_url), caja.http)
        await other.client_key()
        await other.database.dispose()
        for url in (database_url, other_url):
            before = await snapshot(url)
            with pytest.raises(BackupError, match="holds a ledger"):
                await restore(path, url)
            assert await snapshot(url) == before
    finally:
        drop()


def damaged_copies(path: Path, tmp_path: Path, backend: Backend) -> dict[str, Path]:
    """Files that are no backup to restore here: cut short, of the other database, none."""
    data = path.read_bytes()
    other_magic = b"PGDMP" if backend.kind == "sqlite" else b"SQLite format 3\x00"
    files = {
        "half": data[: len(data) // 2],
        "last bytes cut": data[:-40],
        "of the other database": other_magic + data[len(other_magic) :],
        "not a backup": b'{"transfers": []}\n',
        "empty": b"",
    }
    made = {}
    for name, content in files.items():
        made[name] = tmp_path / name.replace(" ", "-")
        made[name].write_bytes(content)
    return made


async def test_a_damaged_or_foreign_file_is_refused_and_the_target_untouched(
    caja: Caja, database_url: str, target_url: str, backend: Backend, tmp_path: Path
) -> None:
    await make_ledger(caja)
    path = tmp_path / "ledger.backup"
    await backup(database_url, str(path))
    before = await snapshot(target_url)
    expected = {
        "half": "truncated or damaged",
        "last bytes cut": "truncated or damaged",
        "of the other database": "cannot be restored into",
        "not a backup": "is not a caja backup",
        "empty": "is not a caja backup",
    }

    for name, damaged in damaged_copies(path, tmp_path, backend).items():
        with pytest.raises(BackupError, match=expected[name]):
            await restore(str(damaged), target_url)
        assert await snapshot(target_url) == before, name


async def test_a_backup_never_overwrites_a_file(database_url: str, tmp_path: Path) -> None:
    existing = tmp_path / "yesterday.backup"
    existing.write_bytes(b"an older backup")

    with pytest.raises(BackupError, match="exists already"):
        await backup(database_url, str(existing))
    with pytest.raises(BackupError, match="no such directory"):
        await backup(database_url, str(tmp_path / "missing" / "x.backup"))

    assert existing.read_bytes() == b"an older backup"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["yesterday.backup"]


async def test_restore_goes_into_a_new_sqlite_file(
    caja: Caja, database_url: str, backend: Backend, tmp_path: Path
) -> None:
    if backend.kind != "sqlite":
        pytest.skip("a PostgreSQL database is made by the server, not by caja")
    await make_ledger(caja)
    path = str(tmp_path / "ledger.backup")
    await backup(database_url, path)
    target = tmp_path / "new" / "caja.db"

    with pytest.raises(BackupError, match="no such directory"):
        await restore(path, f"sqlite:///{target}")
    target.parent.mkdir()
    restored = await restore(path, f"sqlite:///{target}")

    assert restored.report.ok
    assert await snapshot(f"sqlite:///{target}") == await snapshot(database_url)


def caja_command() -> str:
    found = shutil.which("caja", path=str(Path(sys.executable).parent)) or shutil.which("caja")
    assert found is not None, "the caja console script is not installed"
    return found


def run_caja(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [caja_command(), *args],
        env={**os.environ, "CAJA_DATABASE_URL": url},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


async def test_the_commands_back_up_and_restore(
    caja: Caja, database_url: str, target_url: str, tmp_path: Path
) -> None:
    await make_ledger(caja)
    before = await snapshot(database_url)
    path = str(tmp_path / "ledger.backup")

    wrote = await anyio.to_thread.run_sync(run_caja, database_url, "backup", path, "--json")
    assert wrote.returncode == 0, wrote.stderr
    written = json.loads(wrote.stdout)
    assert written["path"] == path
    assert written["bytes"] == os.path.getsize(path)
    assert written["transfers"] == len(before["transfers"])

    done = await anyio.to_thread.run_sync(run_caja, target_url, "restore", path)
    assert done.returncode == 0, done.stderr
    assert f"{len(before['transfers'])} transfers" in done.stdout
    assert done.stdout.rstrip().endswith("ledger is consistent")
    assert await snapshot(target_url) == before

    again = await anyio.to_thread.run_sync(run_caja, target_url, "restore", path)
    assert again.returncode == 1
    assert "holds a ledger" in again.stderr
    assert await snapshot(target_url) == before


async def test_a_restore_that_does_not_verify_exits_1(
    caja: Caja, database_url: str, target_url: str, tmp_path: Path
) -> None:
    await make_ledger(caja)
    await caja.database.write(
        lambda connection: connection.execute(
            accounts.update().where(accounts.c.kind != "system").values(balance_minor=7)
        )
    )
    path = str(tmp_path / "broken.backup")
    await backup(database_url, path)

    done = await anyio.to_thread.run_sync(run_caja, target_url, "restore", path, "--json")

    assert done.returncode == 1
    assert json.loads(done.stdout)["ok"] is False
    assert "breaks its invariants" in done.stderr


async def test_the_password_reaches_the_postgresql_programs_only_through_the_environment(
    caja: Caja, database_url: str, target_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no password")
    await make_ledger(caja)
    secret = "s3cret-pass"  # the test server trusts every local connection, and ignores it
    source = database_url.replace("postgres@", f"postgres:{secret}@", 1)
    target = target_url.replace("postgres@", f"postgres:{secret}@", 1)
    calls: list[tuple[list[str], dict[str, str]]] = []
    run = subprocess.run

    def recording(command: list[str], **options: Any) -> Any:
        calls.append((command, options["env"]))
        return run(command, **options)

    monkeypatch.setattr(subprocess, "run", recording)
    path = str(tmp_path / "ledger.backup")
    await backup(source, path)
    restored = await restore(path, target)

    assert restored.report.ok
    assert secret not in restored.target
    programs = [Path(command[0]).name for command, _ in calls]
    assert "pg_dump" in programs
    assert "pg_restore" in programs
    for command, environment in calls:
        assert not any(secret in argument for argument in command), command
        if any(argument.startswith("--dbname") for argument in command):  # it connects
            assert environment["PGPASSWORD"] == secret


def test_a_url_becomes_the_postgresql_programs_environment() -> None:
    url = "postgresql+asyncpg://caja:s3cr%40t@db.example:5433/ledger?sslmode=require"

    environment = _libpq_environment(url)

    assert environment["PGPASSWORD"] == "s3cr@t"
    assert environment["PGHOST"] == "db.example"
    assert environment["PGPORT"] == "5433"
    assert environment["PGUSER"] == "caja"
    assert environment["PGDATABASE"] == "ledger"
    assert environment["PGSSLMODE"] == "require"
    with pytest.raises(BackupError, match="not supported"):
        _libpq_environment("postgresql://caja@db/ledger?prepared_statement_cache_size=0")
