"""pgbench's own transaction sent from Python: the floor of a Python server's latency.

pgbench is C on libpq. caja reaches PostgreSQL through asyncpg on uvloop, like any async
Python server. This sends pgbench's built-in TPC-B transaction (BEGIN, three updates, a
select and an insert, END: seven round trips, the same SQL on the same tables) through
asyncpg, one transaction at a time on one connection, for as long as pgbench ran. Its
median is what the driver alone costs a single client, before any HTTP or any ledger
code; caja's batch of one makes eight round trips.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import uvloop

from bench.pgbench import percentile

__all__ = ["DriverRun", "run"]

_BRANCHES_PER_SCALE, _TELLERS_PER_SCALE, _ACCOUNTS_PER_SCALE = 1, 10, 100_000

_STATEMENTS = (
    "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2",
    "SELECT abalance FROM pgbench_accounts WHERE aid = $1",
    "UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2",
    "UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2",
    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) "
    "VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP)",
)


@dataclass(frozen=True, slots=True)
class DriverRun:
    """Transactions made, their latency, and this process's CPU per transaction."""

    transactions: int
    p50_ms: float
    average_ms: float
    client_us: float


def run(url: str, scale: int, seconds: float) -> DriverRun:
    """pgbench's TPC-B transaction through asyncpg on uvloop, one at a time, for
    ``seconds`` on the pgbench database ``url`` (initialized at ``scale``)."""
    return uvloop.run(_run(url, scale, seconds))


async def _run(url: str, scale: int, seconds: float) -> DriverRun:
    connection = await asyncpg.connect(url)
    try:
        prepared = [await connection.prepare(sql) for sql in _STATEMENTS]
        latencies: list[int] = []
        cpu_started = time.process_time_ns()
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            started = time.perf_counter_ns()
            await _transaction(connection, prepared, scale)
            latencies.append((time.perf_counter_ns() - started) // 1000)
        cpu_ns = time.process_time_ns() - cpu_started
    finally:
        await connection.close()
    latencies.sort()
    count = len(latencies)
    return DriverRun(
        transactions=count,
        p50_ms=(percentile(latencies, 50) or 0) / 1000,
        average_ms=sum(latencies) / count / 1000 if count else 0.0,
        client_us=cpu_ns / 1000 / count if count else 0.0,
    )


async def _transaction(connection: asyncpg.Connection, prepared: list[Any], scale: int) -> None:
    account = random.randint(1, _ACCOUNTS_PER_SCALE * scale)
    branch = random.randint(1, _BRANCHES_PER_SCALE * scale)
    teller = random.randint(1, _TELLERS_PER_SCALE * scale)
    delta = random.randint(-5000, 5000)
    update_account, select_account, update_teller, update_branch, insert_history = prepared
    async with connection.transaction():
        await update_account.fetch(delta, account)
        await select_account.fetchval(account)
        await update_teller.fetch(delta, teller)
        await update_branch.fetch(delta, branch)
        await insert_history.fetch(teller, branch, account, delta)
