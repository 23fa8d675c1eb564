"""Statements and balances at a past moment, on ledger v1 and the deposit surface: the
sums add up, the closing balance is the balance at the end of the last day, CSV and JSON
agree, entries at the edges of Bogotá days fall on the right day, and bad requests and
other clients' accounts are refused in each surface's own words."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from alembic import command
from sqlalchemy.engine import Connection

from caja.core.clock import BOGOTA
from caja.db.engine import Database
from caja.db.migrate import alembic_config
from caja.ledger import queries, store
from caja.ledger import statements as ledger_statements
from caja.ledger.queries import account_by
from tests.helpers import V1, Caja, Clock, transfer_body
from tests.integration.test_deposits import (
    API,
    Coop,
    coop_client,
    open_account,
    receive,
    send,
)
from tests.integration.test_deposits import transfer_body as deposit_body

pytestmark = pytest.mark.anyio

MARCH_9_NOON = datetime(2026, 3, 9, 12, 0, tzinfo=BOGOTA)
MARCH_10_START = datetime(2026, 3, 10, 0, 0, tzinfo=BOGOTA)
MARCH_10_END = datetime(2026, 3, 10, 23, 59, 59, 999999, tzinfo=BOGOTA)
MARCH_11_START = datetime(2026, 3, 11, 0, 0, tzinfo=BOGOTA)
MARCH_12_TEN = datetime(2026, 3, 12, 10, 0, tzinfo=BOGOTA)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fixed = Clock(MARCH_9_NOON)
    monkeypatch.setattr(store, "fixed_clock", fixed)
    return fixed


def headers(key: str) -> dict[str, str]:
    return {"X-Account-api-key": key}


def assert_adds_up(body: dict[str, Any]) -> None:
    opening, closing = Decimal(body["opening_balance"]), Decimal(body["closing_balance"])
    running = opening
    for entry in body["entries"]:
        running += Decimal(entry["amount"])
        assert Decimal(entry["balance"]) == running, entry
    assert running == closing


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


# --- ledger v1 -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Ledger:
    key: str
    origin: str
    destination: str


async def ledger_world(caja: Caja, clock: Clock) -> Ledger:
    """10,000 funded on March 9; then, from the origin, 1,000 at the first instant of
    March 10, 500 at its last, 200 back at the first instant of March 11 and 100 on
    March 12 (Bogotá)."""
    key = await caja.client_key("ledger:admin")
    origin = (await caja.account(key))["token"]
    destination = (await caja.account(key))["token"]
    await caja.fund(origin, "10000")
    moves = [
        (MARCH_10_START, origin, destination, "1000"),
        (MARCH_10_END, origin, destination, "500"),
        (MARCH_11_START, destination, origin, "200"),
        (MARCH_12_TEN, origin, destination, "100"),
    ]
    for moment, source, target, amount in moves:
        clock.now = moment
        response = await caja.transfer(key, transfer_body(source, target, amount))
        assert response.status_code == 201, response.text
    return Ledger(key, origin, destination)


async def statement(
    caja: Caja, key: str, token: str, first: str, last: str, **extra: str
) -> httpx.Response:
    params = {"from": first, "to": last, **extra}
    return await caja.http.get(
        f"{V1}/account/{token}/statement", params=params, headers=headers(key)
    )


async def balance_at(caja: Caja, key: str, token: str, at: str) -> httpx.Response:
    return await caja.http.get(f"{V1}/account/{token}", params={"at": at}, headers=headers(key))


async def test_a_statement_adds_up_and_puts_edge_entries_on_their_day(
    caja: Caja, clock: Clock
) -> None:
    w = await ledger_world(caja, clock)

    day = await statement(caja, w.key, w.origin, "2026-03-10", "2026-03-10")

    assert day.status_code == 200, day.text
    assert day.headers["content-type"] == "application/json"
    body = day.json()
    assert body["account_token"] == w.origin
    assert (body["from"], body["to"]) == ("2026-03-10", "2026-03-10")
    assert (body["opening_balance"], body["closing_balance"]) == ("10000.00", "8500.00")
    assert [entry["amount"] for entry in body["entries"]] == ["-1000.00", "-500.00"]
    assert [entry["balance"] for entry in body["entries"]] == ["9000.00", "8500.00"]
    first = body["entries"][0]
    assert first["counterparty"] == w.destination
    assert first["description"] == "test tx"
    assert first["transaction_token"].startswith("tx-")
    assert first["created_at"] == "2026-03-10T05:00:00.000000Z"
    assert_adds_up(body)

    two_days = (await statement(caja, w.key, w.destination, "2026-03-10", "2026-03-11")).json()
    assert [entry["amount"] for entry in two_days["entries"]] == ["1000.00", "500.00", "-200.00"]
    assert two_days["entries"][-1]["counterparty"] == w.origin
    assert (two_days["opening_balance"], two_days["closing_balance"]) == ("0.00", "1300.00")
    assert_adds_up(two_days)

    funded = (await statement(caja, w.key, w.origin, "2026-03-01", "2026-03-31")).json()
    assert funded["entries"][0]["counterparty"] == "sys-funding-cop"
    assert len(funded["entries"]) == 5
    assert_adds_up(funded)


async def test_the_closing_balance_is_the_balance_at_the_end_of_the_last_day(
    caja: Caja, clock: Clock
) -> None:
    w = await ledger_world(caja, clock)

    for last, end in [
        ("2026-03-09", "2026-03-09T23:59:59.999999-05:00"),
        ("2026-03-10", "2026-03-10T23:59:59.999999-05:00"),
        ("2026-03-11", "2026-03-12T04:59:59.999999Z"),
        ("2026-03-20", "2026-03-20T23:59:59.999999-05:00"),
    ]:
        closing = (await statement(caja, w.key, w.origin, "2026-03-01", last)).json()
        at = await balance_at(caja, w.key, w.origin, end)
        assert at.status_code == 200, at.text
        assert at.json()["balance"] == closing["closing_balance"], last
        assert at.json()["token"] == w.origin

    before = await balance_at(caja, w.key, w.origin, "2026-03-09T11:59:59.999999-05:00")
    just_at = await balance_at(caja, w.key, w.origin, "2026-03-10T00:00:00-05:00")
    just_before = await balance_at(caja, w.key, w.origin, "2026-03-09T23:59:59.999999-05:00")
    assert before.json()["balance"] == "0.00"
    assert just_at.json()["balance"] == "9000.00"
    assert just_before.json()["balance"] == "10000.00"
    assert (await caja.balance(w.key, w.origin)) == "8600.00"


async def test_csv_and_json_agree_and_accept_asks_for_csv(caja: Caja, clock: Clock) -> None:
    w = await ledger_world(caja, clock)
    as_json = (await statement(caja, w.key, w.origin, "2026-03-01", "2026-03-31")).json()

    by_format = await statement(caja, w.key, w.origin, "2026-03-01", "2026-03-31", format="csv")
    by_accept = await caja.http.get(
        f"{V1}/account/{w.origin}/statement",
        params={"from": "2026-03-01", "to": "2026-03-31"},
        headers={**headers(w.key), "Accept": "text/csv"},
    )

    for response in (by_format, by_accept):
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert response.text.startswith(
            "created_at,transaction_token,description,counterparty,amount,balance\r\n"
        )
        assert csv_rows(response.text) == as_json["entries"]


async def test_days_without_entries_have_equal_opening_and_closing(
    caja: Caja, clock: Clock
) -> None:
    w = await ledger_world(caja, clock)

    quiet = (await statement(caja, w.key, w.origin, "2026-03-13", "2026-03-14")).json()
    early = (await statement(caja, w.key, w.origin, "2025-03-13", "2025-03-14")).json()
    empty_csv = await statement(caja, w.key, w.origin, "2026-03-13", "2026-03-13", format="csv")

    assert quiet == {**quiet, "opening_balance": "8600.00", "closing_balance": "8600.00"}
    assert quiet["entries"] == []
    assert (early["opening_balance"], early["closing_balance"], early["entries"]) == (
        "0.00",
        "0.00",
        [],
    )
    assert csv_rows(empty_csv.text) == []


async def test_another_clients_account_answers_like_a_missing_one(caja: Caja, clock: Clock) -> None:
    w = await ledger_world(caja, clock)
    other = await caja.client_key("ledger")

    answers = [
        await statement(caja, other, w.origin, "2026-03-01", "2026-03-31"),
        await statement(caja, w.key, "acc-missing", "2026-03-01", "2026-03-31"),
        await balance_at(caja, other, w.origin, "2026-03-10T00:00:00Z"),
        await balance_at(caja, w.key, "acc-missing", "2026-03-10T00:00:00Z"),
    ]

    for response in answers:
        assert response.status_code == 422, response.text
        assert response.json() == {
            "code": "AccountNotFound",
            "message": "The account does not exist.",
        }


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"to": "2026-03-10"}, "from: Field required"),
        ({"from": "2026-02-30", "to": "2026-03-10"}, "from: must be a date as YYYY-MM-DD"),
        ({"from": "20260301", "to": "2026-03-10"}, "from: must be a date as YYYY-MM-DD"),
        ({"from": "2026-03-01", "to": "9999-12-31"}, "to: must be a date as YYYY-MM-DD"),
        ({"from": "2026-03-11", "to": "2026-03-10"}, "from: must not be after to"),
        ({"from": "2025-03-09", "to": "2026-03-10"}, "to: must be less than 366 days after from"),
        (
            {"from": "2026-03-10", "to": "2026-03-10", "format": "xml"},
            "format: must be json or csv",
        ),
    ],
    ids=["from missing", "no such day", "no dashes", "too late", "reversed", "too long", "xml"],
)
async def test_a_bad_statement_request_answers_422(
    caja: Caja, params: dict[str, str], message: str
) -> None:
    key = await caja.client_key("ledger:admin")
    token = (await caja.account(key))["token"]

    response = await caja.http.get(
        f"{V1}/account/{token}/statement", params=params, headers=headers(key)
    )

    assert response.status_code == 422, response.text
    assert response.json() == {"code": "InvalidData", "message": message}


@pytest.mark.parametrize("at", ["2026-03-10T00:00:00", "2026-03-10", "yesterday", ""])
async def test_a_time_without_an_offset_or_no_time_answers_422(caja: Caja, at: str) -> None:
    key = await caja.client_key("ledger:admin")
    token = (await caja.account(key))["token"]

    response = await balance_at(caja, key, token, at)

    assert response.status_code == 422, response.text
    assert response.json() == {
        "code": "InvalidData",
        "message": "at: must be an ISO 8601 time with an offset, such as 2026-03-31T23:59:59-05:00",
    }


async def test_a_statement_is_pinned_when_it_starts(caja: Caja, clock: Clock) -> None:
    """Transfers made while a statement is read (in pages of two) are not in it, and its
    sums still add up."""
    w = await ledger_world(caja, clock)
    async with caja.database.read() as connection:
        account = await connection.run_sync(account_by, token=w.origin)
        assert account is not None
        span = await connection.run_sync(
            ledger_statements.statement_span,
            account.id,
            MARCH_9_NOON.date(),
            MARCH_12_TEN.date(),
        )
    lines = []
    async for page in ledger_statements.statement_lines(caja.database, span, page=2):
        lines.extend(page)
        clock.now = MARCH_12_TEN + timedelta(minutes=len(lines))
        response = await caja.transfer(w.key, transfer_body(w.origin, w.destination, "1"))
        assert response.status_code == 201, response.text

    assert [line.amount_minor for line in lines] == [1000000, -100000, -50000, 20000, -10000]
    assert span.opening_minor + sum(line.amount_minor for line in lines) == span.closing_minor
    assert span.closing_minor == 860000


# --- the deposit surface -------------------------------------------------------------------


async def deposit_statement(
    http: httpx.AsyncClient, who: Coop, token: str, first: str, last: str, **extra: str
) -> httpx.Response:
    params = {"account_token": token, "initial_date": first, "final_date": last, **extra}
    return await http.get(f"{API}/accounts/statement", params=params, headers=who.headers)


async def test_a_deposit_statement_and_its_balance_at_the_end_agree(
    http: httpx.AsyncClient, caja: Caja, clock: Clock
) -> None:
    who = await coop_client(caja.database)
    origin = await open_account(http, who)
    destination = await open_account(http, who)
    await receive(caja.database, origin, "2000")
    clock.now = MARCH_10_END
    sent = await send(http, who, deposit_body(origin, destination, "100", fee_amount="1.50"))
    assert sent.status_code == 201, sent.text
    clock.now = MARCH_11_START
    assert (await send(http, who, deposit_body(destination, origin, "40"))).status_code == 201

    day = await deposit_statement(http, who, origin, "2026-03-10", "2026-03-10")
    as_csv = await deposit_statement(http, who, origin, "2026-03-01", "2026-03-31", format="csv")
    month = (await deposit_statement(http, who, origin, "2026-03-01", "2026-03-31")).json()
    then = await http.get(
        f"{API}/accounts/balance",
        params={"account_token": origin, "at": "2026-03-10T23:59:59.999999-05:00"},
        headers=who.headers,
    )

    assert day.status_code == 200, day.text
    body = day.json()
    assert (body["initial_date"], body["final_date"]) == ("2026-03-10", "2026-03-10")
    assert (body["opening_balance"], body["closing_balance"]) == ("2000.00", "1898.50")
    assert [entry["amount"] for entry in body["entries"]] == ["-100.00", "-1.50"]
    assert body["entries"][0]["counterparty"] == destination
    assert body["entries"][1]["counterparty"] == "sys-fees-cop"
    assert body["entries"][0]["transaction_token"].startswith("cooptx-")
    assert body["entries"][0]["created_at"] == "2026-03-10T23:59:59.999999-05:00"
    assert_adds_up(body)
    assert_adds_up(month)
    assert month["closing_balance"] == "1938.50"
    assert csv_rows(as_csv.text) == month["entries"]
    assert then.status_code == 200, then.text
    state = then.json()
    assert (state["balance"], state["expected_balance"]) == ("1898.50", "1898.50")
    assert state["withdrawn_this_month"] == "101.50"
    assert state["updated_from_source"] is False


@pytest.mark.parametrize(
    ("params", "field", "code"),
    [
        ({"initial_date": "2026-03-01"}, "final_date", "required"),
        (
            {"initial_date": "2026-03-11", "final_date": "2026-03-10"},
            "initial_date",
            "invalid_range",
        ),
        ({"initial_date": "2025-01-01", "final_date": "2026-03-10"}, "final_date", "invalid_range"),
        ({"initial_date": "2026-03-01", "final_date": "9999-12-31"}, "final_date", "invalid_date"),
        (
            {"initial_date": "2026-03-01", "final_date": "2026-03-10", "format": "pdf"},
            "format",
            "invalid_choice",
        ),
    ],
    ids=["final missing", "reversed", "too long", "too late", "pdf"],
)
async def test_a_bad_deposit_statement_request_answers_422(
    http: httpx.AsyncClient, caja: Caja, params: dict[str, str], field: str, code: str
) -> None:
    who = await coop_client(caja.database)
    token = await open_account(http, who)

    response = await http.get(
        f"{API}/accounts/statement", params={"account_token": token, **params}, headers=who.headers
    )

    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert response.json()["error_code"] == code


async def test_deposit_reads_of_another_clients_account_or_a_bad_at_answer_422(
    http: httpx.AsyncClient, caja: Caja
) -> None:
    who = await coop_client(caja.database)
    other = await coop_client(caja.database)
    token = await open_account(http, who)

    foreign = await deposit_statement(http, other, token, "2026-03-01", "2026-03-10")
    foreign_at = await http.get(
        f"{API}/accounts/balance",
        params={"account_token": token, "at": "2026-03-10T00:00:00Z"},
        headers=other.headers,
    )
    naive = await http.get(
        f"{API}/accounts/balance",
        params={"account_token": token, "at": "2026-03-10T00:00:00"},
        headers=who.headers,
    )

    for response in (foreign, foreign_at):
        assert response.status_code == 422, response.text
        assert response.json() == {
            "error_code": "AccountNotFound",
            "error_message": "The account does not exist.",
            "field": "account_token",
            "value": token,
        }
    assert naive.status_code == 422, naive.text
    assert naive.json()["field"] == "at"
    assert naive.json()["error_code"] == "invalid_datetime"
    assert naive.json()["value"] == "2026-03-10T00:00:00"


async def _made_on_a_whole_second(caja: Caja, clock: Clock) -> str:
    """The origin of a transfer of 300 made exactly at the first instant of March 10
    (Bogotá), no fraction of a second; it was funded with 1,000 on March 9."""
    key = await caja.client_key("ledger:admin")
    origin = (await caja.account(key))["token"]
    destination = (await caja.account(key))["token"]
    await caja.fund(origin, "1000")
    clock.now = MARCH_10_START
    response = await caja.transfer(key, transfer_body(origin, destination, "300"))
    assert response.status_code == 201, response.text
    return str(origin)


async def _moved(database: Database, token: str, start: datetime, end: datetime) -> tuple[int, int]:
    def read(connection: Connection) -> tuple[int, int]:
        account = account_by(connection, token=token)
        assert account is not None
        return queries.moved_between(connection, account.id, start, end)

    async with database.read() as connection:
        return await connection.run_sync(read)


async def test_a_transfer_made_on_a_whole_second_counts_from_that_second(
    caja: Caja, clock: Clock, database: Database
) -> None:
    """Made exactly at the first instant of a Bogotá day, a transfer is of that day, not
    of the one before, wherever days are compared."""
    origin = await _made_on_a_whole_second(caja, clock)

    assert await _moved(database, origin, MARCH_10_START, MARCH_11_START) == (0, 30000)
    # The day before holds the funding only.
    day_before = MARCH_10_START - timedelta(days=1)
    assert await _moved(database, origin, day_before, MARCH_10_START) == (100000, 0)


def _migrate(connection: Connection, revision: str) -> None:
    if revision == "head":
        command.upgrade(alembic_config(connection), revision)
    else:
        command.downgrade(alembic_config(connection), revision)


def _strip_fractions(connection: Connection) -> None:
    """Whole-second times as the driver used to write them on SQLite."""
    if connection.dialect.name == "sqlite":
        for table in ("transfers", "events"):
            connection.exec_driver_sql(
                f"UPDATE {table} SET created_at = substr(created_at, 1, 19) "
                "WHERE created_at LIKE '%.000000'"
            )


async def test_the_migration_gives_whole_second_times_their_fraction(
    caja: Caja, clock: Clock, database: Database
) -> None:
    origin = await _made_on_a_whole_second(caja, clock)
    # Below 0016 there is no table for witnesses: these writes leave none.
    await database.write(lambda connection: _migrate(connection, "0014"), witnessed=False)
    await database.write(_strip_fractions, witnessed=False)
    day_before = MARCH_10_START - timedelta(days=1)
    wrong = (100000, 30000) if database.is_sqlite else (100000, 0)
    assert await _moved(database, origin, day_before, MARCH_10_START) == wrong

    await database.write(lambda connection: _migrate(connection, "head"), witnessed=False)

    assert await _moved(database, origin, day_before, MARCH_10_START) == (100000, 0)
    assert await _moved(database, origin, MARCH_10_START, MARCH_11_START) == (0, 30000)
    assert (await caja.verify()).ok
