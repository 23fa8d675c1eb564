"""``python -m bench.statement``: a statement of 100,000 entries, streamed in bounded memory.

Fills one ledger v1 account with ``--entries`` entries (a funding, then transfers of one
peso back and forth with a second account, posted through ``caja.ledger.batching`` in
batches of 1,000), then asks ledger v1 for the account's statement of the day, as CSV
and as JSON, over HTTP in-process: the ASGI app is called directly and each piece of the
body is checked and dropped as it arrives (so the measurement is the server's, not a
client's buffer). Prints, per format, the time, the rows, the bytes, the peak of Python
allocations while streaming (tracemalloc) and the peak RSS growth (VmHWM, reset just
before the request where the kernel allows it). With ``--explain``, the query plans of
the balance at a moment and of a statement page. ``--postgres`` runs on a throwaway
PostgreSQL cluster (or ``--postgres-url``) instead of SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Select, event, text
from sqlalchemy.engine import Connection

from caja.app import create_app, services_of
from caja.clients.service import client_id_of, create_client
from caja.core.clock import BOGOTA
from caja.customers.service import ASSET, OwnerData, open_customer_account
from caja.db import migrate
from caja.db.engine import Database
from caja.ledger import batching, statements
from caja.ledger.accounts import system_account_id
from caja.ledger.model import NewTransfer

ENTRIES = 100_000
V1 = "/api/ledger/v1/public"


@dataclass(frozen=True, slots=True)
class Filled:
    api_key: str
    token: str
    account_id: int
    seconds: float


@dataclass(frozen=True, slots=True)
class Streamed:
    format: str
    status: int
    rows: int
    bytes: int
    seconds: float
    traced_peak: int
    rss_growth: int | None
    adds_up: bool


async def _owner_account(database: Database, client_id: int, number: int) -> tuple[int, str]:
    owner = OwnerData("CC", f"{2_000_000_000 + number}", f"Statement Owner {number}",
                      f"statement{number}@bench.example")  # fmt: skip
    opened = await open_customer_account(database, client_id, f"+57310{number:07d}", owner)
    return opened.customer.account.id, opened.customer.account.token


async def fill(database: Database, entries: int) -> Filled:
    """An account with ``entries`` entries: a funding, then one peso back and forth."""
    started = time.perf_counter()
    client = await create_client(database, f"statement bench {time.time_ns()}", ["ledger"])
    async with database.read() as connection:
        client_id = await connection.run_sync(client_id_of, client.client_id)
        funding = await connection.run_sync(system_account_id, ASSET, "funding")
    assert client_id is not None
    hot, token = await _owner_account(database, client_id, 1)
    other, _ = await _owner_account(database, client_id, 2)
    moves = [(funding, hot, 100 * entries)]
    moves += [(hot, other, 100) if n % 2 == 0 else (other, hot, 100) for n in range(entries - 1)]
    for start in range(0, len(moves), batching.MAX_BATCH):
        batch = [
            NewTransfer(
                surface="funding",
                description=f"move {start + n}",
                debit_account_id=debit,
                credit_account_id=credit,
                amount_minor=amount,
            )
            for n, (debit, credit, amount) in enumerate(moves[start : start + batching.MAX_BATCH])
        ]
        for result in await batching.post(database, batch):
            if result.error is not None:
                raise RuntimeError(f"posting failed: {result.error.message}")
    return Filled(client.api_key, token, hot, time.perf_counter() - started)


def _vm_hwm() -> int | None:
    """The process's peak resident set, in bytes (None where /proc does not tell)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _reset_hwm() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class _Checker:
    """Reads the body as it arrives, one piece at a time, keeping only running totals:
    the rows, the bytes, and whether opening + the amounts = closing at every row."""

    def __init__(self, chosen: str) -> None:
        self.chosen = chosen
        self.rows = 0
        self.bytes = 0
        self.pieces = 0
        self.running: Decimal | None = None
        self.closing: Decimal | None = None
        self.adds_up = True

    def _entry(self, amount: str, balance: str) -> None:
        assert self.running is not None
        self.running += Decimal(amount)
        self.adds_up = self.adds_up and self.running == Decimal(balance)
        self.rows += 1

    def _head(self, piece: bytes) -> None:
        head = json.loads(piece.removesuffix(b',"entries":[') + b"}")
        self.running, self.closing = (
            Decimal(head["opening_balance"]),
            Decimal(head["closing_balance"]),
        )

    def feed(self, piece: bytes) -> None:
        self.bytes += len(piece)
        self.pieces += 1
        if self.chosen == "json":
            if self.pieces == 1:
                self._head(piece)
            elif piece != b"]}":
                for item in json.loads(b"[" + piece.removeprefix(b",") + b"]"):
                    self._entry(item["amount"], item["balance"])
            return
        for line in piece.decode().splitlines()[1 if self.pieces == 1 else 0 :]:
            *_, amount, balance = line.rsplit(",", 2)
            if self.running is None:
                self.running = Decimal(balance) - Decimal(amount)
            self._entry(amount, balance)

    def finished(self) -> bool:
        if self.chosen == "json":
            return self.adds_up and self.running == self.closing
        return self.adds_up


async def stream(app: Any, path: str, key: str, chosen: str) -> tuple[int, _Checker]:
    """Call the ASGI app for ``path`` (with its query) and check the body piece by piece."""
    checker = _Checker(chosen)
    status = 0
    route, _, query = path.partition("?")
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": route, "raw_path": route.encode(), "root_path": "",
        "query_string": query.encode(), "server": ("caja.bench", 80),
        "client": ("127.0.0.1", 1), "headers": [(b"host", b"caja.bench"),
        (b"x-account-api-key", key.encode())],
    }  # fmt: skip

    requested = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if requested.is_set():  # the client stays connected: wait as a connection would
            await asyncio.Event().wait()
        requested.set()
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body" and message.get("body"):
            checker.feed(message["body"])

    await app(scope, receive, send)
    return status, checker


async def measure(app: Any, filled: Filled, day: date, chosen: str) -> Streamed:
    query = urlencode({"from": day - timedelta(days=1), "to": day, "format": chosen})
    path = f"{V1}/account/{filled.token}/statement?{query}"
    reset = _reset_hwm()
    before = _vm_hwm()
    tracemalloc.start()
    started = time.perf_counter()
    status, checker = await stream(app, path, filled.api_key, chosen)
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    after = _vm_hwm()
    growth = after - before if reset and after is not None and before is not None else None
    return Streamed(chosen, status, checker.rows, checker.bytes, seconds, peak, growth,
                    checker.finished())  # fmt: skip


@contextmanager
def _explaining(connection: Connection) -> Iterator[None]:
    prefix = "EXPLAIN QUERY PLAN " if connection.dialect.name == "sqlite" else "EXPLAIN "

    def rewrite(_c: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> Any:
        return prefix + statement, parameters

    event.listen(connection, "before_cursor_execute", rewrite, retval=True)
    try:
        yield
    finally:
        event.remove(connection, "before_cursor_execute", rewrite)


def _plan(connection: Connection, query: Select[Any]) -> list[str]:
    with _explaining(connection):
        rows = connection.execute(query).all()
    return [" | ".join(str(cell) for cell in row) for row in rows]


def plans(connection: Connection, account_id: int) -> dict[str, list[str]]:
    """The plans of a balance at a moment (its two reads) and of a statement page."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("ANALYZE"))
    moment = datetime.now(UTC) - timedelta(seconds=1)
    bound = statements.entry_bound(connection, moment)
    span = statements.Span(account_id, moment.date(), moment.date(), 0, 0, 0, bound)
    return {
        "the last entry id at a moment": _plan(connection, statements.bound_query(moment)),
        "the balance after it": _plan(connection, statements.balance_query(account_id, bound)),
        "a statement page": _plan(connection, statements.page_query(span, 0)),
    }


async def run(url: str, entries: int, explain: bool) -> tuple[Filled, list[Streamed]]:
    database = Database(url)
    try:
        await migrate.upgrade(database)
        filled = await fill(database, entries)
        print(f"filled {entries:,} entries in {filled.seconds:.1f} s", flush=True)
        if explain:
            async with database.read() as connection:
                found = await connection.run_sync(plans, filled.account_id)
            for name, lines in found.items():
                print(f"plan, {name}:")
                print("\n".join(f"    {line}" for line in lines))
        app = create_app(database)
        day = datetime.now(BOGOTA).date()
        try:
            results = [await measure(app, filled, day, chosen) for chosen in ("csv", "json")]
        finally:
            await services_of(app).batcher.close()
        return filled, results
    finally:
        await database.dispose()


def report(results: list[Streamed]) -> None:
    print(f"{'format':<7}{'status':>7}{'rows':>10}{'MB':>8}{'seconds':>9}{'rows/s':>10}"
          f"{'traced peak MB':>16}{'RSS growth MB':>15}{'adds up':>9}")  # fmt: skip
    for r in results:
        growth = "n/a" if r.rss_growth is None else f"{r.rss_growth / 2**20:.1f}"
        print(f"{r.format:<7}{r.status:>7}{r.rows:>10,}{r.bytes / 2**20:>8.1f}{r.seconds:>9.2f}"
              f"{r.rows / r.seconds:>10,.0f}{r.traced_peak / 2**20:>16.2f}{growth:>15}"
              f"{'yes' if r.adds_up else 'NO':>9}")  # fmt: skip


def _postgres_run(entries: int, explain: bool, server_url: str | None) -> list[Streamed]:
    from bench.postgres import create_database, throwaway_cluster

    if server_url is not None:
        url = create_database(server_url, f"caja_statement_{time.time_ns()}")
        return asyncio.run(run(url, entries, explain))[1]
    with throwaway_cluster() as server:
        url = create_database(server, "caja_statement")
        return asyncio.run(run(url, entries, explain))[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.statement", description=__doc__)
    parser.add_argument("--entries", type=int, default=ENTRIES, help="entries in the account")
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL")
    parser.add_argument("--postgres-url", help="a PostgreSQL server to make a database on")
    parser.add_argument("--explain", action="store_true", help="print the query plans")
    arguments = parser.parse_args(argv)
    if not 2 <= arguments.entries <= 10_000_000:
        parser.error("--entries: from 2 to 10,000,000")
    if arguments.postgres or arguments.postgres_url:
        results = _postgres_run(arguments.entries, arguments.explain, arguments.postgres_url)
    else:
        with tempfile.TemporaryDirectory(prefix="caja-statement-") as home:
            url = f"sqlite:///{home}/caja.db"
            results = asyncio.run(run(url, arguments.entries, arguments.explain))[1]
    report(results)
    ok = all(r.status == 200 and r.rows == arguments.entries and r.adds_up for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
