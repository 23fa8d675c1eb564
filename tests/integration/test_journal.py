"""The tamper-evident journal: rows changed by hand in the database, caught by verify."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text

from caja.db.engine import Database
from caja.db.migrate import alembic_config
from caja.ledger import batching as engine
from caja.ledger.model import NewTransfer, ResolvePending
from caja.ledger.verify import Report
from tests.helpers import Caja, transfer_body

pytestmark = pytest.mark.anyio

CHAIN = "the journal's hash chain is unbroken"


async def _ledger(caja: Caja) -> list[str]:
    """Accounts, transfers and a resolved hold; the tokens of the transfers in order."""
    key = await caja.client_key()
    first = (await caja.account(key))["token"]
    second = (await caja.account(key))["token"]
    await caja.fund(first, "500.00")
    for amount in ("10.00", "20.00", "30.00", "40.00"):
        response = await caja.transfer(key, transfer_body(first, second, amount))
        assert response.status_code == 201, response.text
    async with caja.database.read() as connection:
        ids = (
            (
                await connection.execute(
                    text(
                        "SELECT id FROM accounts WHERE token IN (:a, :b) ORDER BY token = :a DESC"
                    ),
                    {"a": first, "b": second},
                )
            )
            .scalars()
            .all()
        )
    hold = NewTransfer(debit_account_id=ids[0], credit_account_id=ids[1], amount_minor=500,
                       pending=True)  # fmt: skip
    [held] = await engine.post(caja.database, [hold])
    assert held.transfer is not None
    [posted] = await engine.post(
        caja.database, [ResolvePending(pending_transfer_id=held.transfer.id, post=True)]
    )
    assert posted.transfer is not None
    return await _tokens(caja.database)


async def _tokens(database: Database) -> list[str]:
    async with database.read() as connection:
        return list(
            (await connection.execute(text("SELECT token FROM transfers ORDER BY id")))
            .scalars()
            .all()
        )


async def _tamper(database: Database, *statements: tuple[str, dict[str, Any]]) -> None:
    async with database.engine.begin() as connection:
        for sql, parameters in statements:
            await connection.execute(text(sql), parameters)


def _chain(report: Report) -> list[str]:
    [check] = [check for check in report.checks if check.name == CHAIN]
    assert check.violations == len(check.examples)
    return check.examples


async def test_an_untouched_ledger_keeps_an_unbroken_chain(caja: Caja) -> None:
    tokens = await _ledger(caja)

    report = await caja.verify()

    assert report.ok, report
    assert _chain(report) == []
    async with caja.database.read() as connection:
        rows = (
            await connection.execute(text("SELECT prev_hash, hash FROM transfers ORDER BY id"))
        ).all()
        head = (await connection.execute(text("SELECT hash FROM journal"))).scalar_one()
    assert len(rows) == len(tokens)
    assert rows[0][0] == "0" * 64
    assert all(later[0] == earlier[1] for earlier, later in itertools.pairwise(rows))
    assert head == rows[-1][1]


async def test_a_changed_amount_is_named(caja: Caja) -> None:
    tokens = await _ledger(caja)
    changed = tokens[2]

    await _tamper(
        caja.database,
        ("UPDATE transfers SET amount_minor = amount_minor + 100 WHERE token = :t", {"t": changed}),
    )
    report = await caja.verify()

    assert not report.ok
    assert _chain(report)[0] == (
        f"transfer {changed} (id {await _id(caja, changed)}): "
        "altered: its content no longer matches"
    )


async def test_a_changed_entry_is_named_as_its_transfer(caja: Caja) -> None:
    tokens = await _ledger(caja)
    changed = tokens[1]
    transfer_id = await _id(caja, changed)

    await _tamper(
        caja.database,
        (
            "UPDATE entries SET balance_after_minor = balance_after_minor + 1 "
            "WHERE transfer_id = :id AND amount_minor > 0",
            {"id": transfer_id},
        ),
    )
    examples = _chain(await caja.verify())

    assert examples == [
        f"transfer {changed} (id {transfer_id}): altered: its content no longer matches"
    ]


async def test_a_deleted_transfer_is_found_at_the_next_one(caja: Caja) -> None:
    tokens = await _ledger(caja)
    deleted, following = tokens[2], tokens[3]
    deleted_id = await _id(caja, deleted)

    await _tamper(
        caja.database,
        ("DELETE FROM entries WHERE transfer_id = :id", {"id": deleted_id}),
        ("DELETE FROM events WHERE transfer_id = :id", {"id": deleted_id}),
        ("DELETE FROM transfers WHERE id = :id", {"id": deleted_id}),
    )
    report = await caja.verify()

    assert not report.ok
    assert _chain(report) == [
        f"transfer {following} (id {await _id(caja, following)}): "
        "a transfer before it was deleted or replaced"
    ]


async def test_deleting_the_last_transfer_is_found(caja: Caja) -> None:
    tokens = await _ledger(caja)
    last_id = await _id(caja, tokens[-1])

    await _tamper(
        caja.database,
        ("DELETE FROM entries WHERE transfer_id = :id", {"id": last_id}),
        ("DELETE FROM events WHERE transfer_id = :id", {"id": last_id}),
        ("DELETE FROM transfers WHERE id = :id", {"id": last_id}),
    )

    assert _chain(await caja.verify()) == [
        f"transfer id {last_id}: deleted: the last transfer written is missing"
    ]


_COPY = (
    "INSERT INTO transfers (id, token, client_id, surface, idempotency_key, request_digest, "
    "kind, status, debit_account_id, credit_account_id, asset, amount_minor, description, "
    "created_at, prev_hash, hash) "
    "SELECT :new_id, :token, client_id, surface, NULL, NULL, kind, status, "
    "debit_account_id, credit_account_id, asset, amount_minor, description, created_at, "
    ":prev_hash, :hash FROM transfers WHERE token = :source"
)


async def test_a_transfer_inserted_without_a_hash_is_named(caja: Caja) -> None:
    tokens = await _ledger(caja)
    new_id = await _id(caja, tokens[-1]) + 1000

    await _tamper(
        caja.database,
        (_COPY, {"new_id": new_id, "token": "tx-forged", "source": tokens[1],
                 "prev_hash": None, "hash": None}),
    )  # fmt: skip

    assert _chain(await caja.verify()) == [
        f"transfer tx-forged (id {new_id}): inserted by hand: it has no hash"
    ]


async def test_a_transfer_inserted_with_a_forged_hash_is_named(caja: Caja) -> None:
    """Whoever inserts a row and links it to the chain's last hash still leaves the journal's
    head behind; once a real transfer follows, the chain skips the forged one."""
    tokens = await _ledger(caja)
    last_hash = await _scalar(caja, "SELECT hash FROM journal")
    new_id = await _id(caja, tokens[-1]) + 1

    await _tamper(
        caja.database,
        (_COPY, {"new_id": new_id, "token": "tx-forged", "source": tokens[1],
                 "prev_hash": last_hash, "hash": "f" * 64}),
    )  # fmt: skip
    assert _chain(await caja.verify())[0] == (
        f"transfer tx-forged (id {new_id}): altered: its content no longer matches"
    )
    key = await caja.client_key(name="later")
    origin = (await caja.account(key))["token"]
    await caja.fund(origin, "1.00")

    examples = _chain(await caja.verify())

    assert examples[0] == f"transfer tx-forged (id {new_id}): inserted by hand: the chain skips it"


async def test_a_changed_balance_is_named(caja: Caja) -> None:
    await _ledger(caja)
    account = await _scalar(caja, "SELECT token FROM accounts WHERE kind = 'customer' LIMIT 1")

    await _tamper(
        caja.database,
        (
            "UPDATE accounts SET balance_minor = balance_minor + 100 WHERE token = :t",
            {"t": account},
        ),
    )
    report = await caja.verify()

    failed = {check.name: check.examples for check in report.checks if check.violations}
    assert failed["every balance equals the sum of its entries"][0].startswith(f"{account}, ")
    assert CHAIN not in failed


async def test_the_migration_chains_existing_transfers_as_the_write_path_does(
    caja: Caja,
) -> None:
    await _ledger(caja)
    async with caja.database.read() as connection:
        written = (
            await connection.execute(text("SELECT prev_hash, hash FROM transfers ORDER BY id"))
        ).all()

    def down_and_up(connection: Any) -> None:
        command.downgrade(alembic_config(connection), "0006")
        command.upgrade(alembic_config(connection), "head")

    await caja.database.write(down_and_up)

    async with caja.database.read() as connection:
        chained = (
            await connection.execute(text("SELECT prev_hash, hash FROM transfers ORDER BY id"))
        ).all()
    assert chained == written
    assert (await caja.verify()).ok


async def _id(caja: Caja, token: str) -> int:
    return int(await _scalar(caja, f"SELECT id FROM transfers WHERE token = '{token}'"))


async def _scalar(caja: Caja, sql: str) -> Any:
    async with caja.database.read() as connection:
        return (await connection.execute(text(sql))).scalar_one()
