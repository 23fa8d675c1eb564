"""The bench's floor at one connection: pgbench's transaction sent from Python through
asyncpg, on a real PostgreSQL initialized by pgbench, and the line that reports it."""

from __future__ import annotations

import asyncio

import asyncpg
from bench import driver
from bench.pgbench import PgbenchRun, initialize
from bench.report import DatabaseResult, one_connection_line

from tests.faults.common import empty_database
from tests.unit.test_bench_goals import _run


async def _sums(url: str) -> tuple[int, int, int, int]:
    connection = await asyncpg.connect(url)
    try:
        row = await connection.fetchrow(
            "SELECT (SELECT sum(abalance) FROM pgbench_accounts),"
            " (SELECT sum(tbalance) FROM pgbench_tellers),"
            " (SELECT sum(bbalance) FROM pgbench_branches),"
            " (SELECT count(*) FROM pgbench_history)"
        )
    finally:
        await connection.close()
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


def test_the_driver_run_makes_pgbench_transactions_and_times_them(postgres_url: str) -> None:
    url = asyncio.run(empty_database(postgres_url, "caja_bench_driver"))
    initialize(url, 1, None, 120)

    run = driver.run(url, 1, 0.5)

    assert run.transactions > 10
    assert 0 < run.p50_ms < 1000
    assert run.average_ms > 0
    assert run.client_us > 0
    accounts, tellers, branches, history = asyncio.run(_sums(url))
    # Every transaction moved the same delta through an account, a teller and a branch,
    # and wrote one history row: as pgbench's own do.
    assert history == run.transactions
    assert accounts == tellers == branches


def test_the_one_connection_line_puts_the_driver_beside_pgbench() -> None:
    result = DatabaseResult(db="postgresql", workers=2, accounts=10)
    result.pgbench = [PgbenchRun(1, 2000.0, 20_000, 0, 0.40, 1.2, average_ms=0.48)]
    result.driver = driver.DriverRun(transactions=9000, p50_ms=0.44, average_ms=0.5, client_us=110)
    assert one_connection_line(result) is None  # no spread at one connection

    result.runs = [_run("spread", 1, 480, p50_ms=2.0)]
    line = one_connection_line(result)

    assert line is not None
    assert "spread p50 2.00 ms = 5.00x pgbench's single client (p50 0.40 ms" in line
    assert "p50 0.44 ms = 1.10x pgbench's" in line
    assert "110 µs of the client's CPU each" in line
