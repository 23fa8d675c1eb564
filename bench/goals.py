"""The throughput goals, against what a run measured: MET, NOT MET, or not measured.

Each goal is read from the runs of the same bench run (ratios within one run: the
machine's own speed moves between runs). A goal whose runs did not happen (another
connection count, a workload left out, a database not run) is "not measured". The goals
inform; they do not change the exit status, which only errors and ``caja verify`` set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.load import BULK_WORKLOADS, EMPTY, HOOK_DEAD, HOOK_OK

if TYPE_CHECKING:
    from bench.report import DatabaseResult

__all__ = ["Goal", "evaluate", "goal_lines"]

# Where the goals are set: spread and hot at 64 connections, latency at one.
CONNECTIONS = 64
PG_VS_PGBENCH = 2.0
PG_P99_MS = 50.0
SQLITE_VS_EMPTY = 0.4
PG_ONE_CONNECTION_VS_PGBENCH = 1.5
SQLITE_ONE_CONNECTION_P50_MS = 0.8
PYTHON_US = 60.0
SQLITE_BULK_PER_SECOND = 25_000.0
PG_BULK_VS_PGBENCH = 5.0
HOT_VS_SPREAD = 0.5
WEBHOOKS_VS_SPREAD = 0.9
NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


@dataclass(frozen=True, slots=True)
class Goal:
    db: str
    goal: str
    measured: str
    # None: not measured in this run.
    met: bool | None


def _not_measured(db: str, goal: str, missing: str) -> Goal:
    return Goal(db, goal, f"needs {missing}", None)


def _ratio_goal(
    db: str,
    goal: str,
    figures: tuple[float | None, float | None],
    at_least: float,
    what: str,
    missing: str,
) -> Goal:
    """``ours / baseline >= at_least`` for ``figures = (ours, baseline)``; ``what`` names
    the two figures for the reader, ``missing`` the runs when one is missing."""
    ours, baseline = figures
    if ours is None or not baseline:
        return _not_measured(db, goal, missing)
    ratio = ours / baseline
    measured = f"{ratio:.2f}x ({what}: {ours:,.0f} / {baseline:,.0f})"
    return Goal(db, goal, measured, ratio >= at_least)


def _spread_vs_baseline(result: DatabaseResult) -> Goal:
    db, name = result.db, NAMES.get(result.db, result.db)
    spread = result.run_at("spread", CONNECTIONS)
    rate = None if spread is None else spread.per_second
    if db == "postgresql":
        goal = f"{name} spread at {CONNECTIONS} connections >= {PG_VS_PGBENCH}x pgbench TPC-B"
        tps = result.pgbench_tps(CONNECTIONS)
        missing = f"spread and pgbench at {CONNECTIONS} connections"
        return _ratio_goal(db, goal, (rate, tps), PG_VS_PGBENCH, "transfers/s over tps", missing)
    goal = f"{name} spread at {CONNECTIONS} connections >= {SQLITE_VS_EMPTY}x the empty endpoint"
    empty = result.empty_rate(CONNECTIONS)
    missing = f"spread and empty at {CONNECTIONS} connections"
    what = "transfers/s over requests/s"
    return _ratio_goal(db, goal, (rate, empty), SQLITE_VS_EMPTY, what, missing)


def _pg_tail(result: DatabaseResult) -> Goal:
    db = result.db
    goal = f"PostgreSQL spread at {CONNECTIONS} connections: p99 < {PG_P99_MS:.0f} ms"
    spread = result.run_at("spread", CONNECTIONS)
    if spread is None:
        return _not_measured(db, goal, f"spread at {CONNECTIONS} connections")
    return Goal(db, goal, f"p99 {spread.p99_ms:.2f} ms", spread.p99_ms < PG_P99_MS)


def _clean(result: DatabaseResult) -> Goal:
    """No error in any run, caja verify clean, and the ledger holds what was answered."""
    verified = result.verify is not None and result.verify.ok
    return Goal(
        result.db,
        f"{NAMES.get(result.db, result.db)}: zero errors, caja verify clean",
        f"{result.errors} errors, verify {'clean' if verified else 'NOT clean'}",
        result.errors == 0 and verified and result.accounted is not False,
    )


def _one_connection(result: DatabaseResult) -> Goal:
    db = result.db
    spread = result.run_at("spread", 1)
    if db == "postgresql":
        goal = (
            f"PostgreSQL one connection: spread p50 <= {PG_ONE_CONNECTION_VS_PGBENCH}x "
            "pgbench's single client"
        )
        bench = result.pgbench_at(1)
        if spread is None or bench is None or not bench.p50_ms:
            return _not_measured(db, goal, "spread and pgbench at 1 connection")
        ratio = spread.p50_ms / bench.p50_ms
        measured = f"{ratio:.2f}x (p50 {spread.p50_ms:.2f} ms against {bench.p50_ms:.2f} ms)"
        return Goal(db, goal, measured, ratio <= PG_ONE_CONNECTION_VS_PGBENCH)
    goal = f"SQLite one connection: spread p50 < {SQLITE_ONE_CONNECTION_P50_MS} ms"
    if spread is None:
        return _not_measured(db, goal, "spread at 1 connection")
    measured = f"p50 {spread.p50_ms:.2f} ms"
    return Goal(db, goal, measured, spread.p50_ms < SQLITE_ONE_CONNECTION_P50_MS)


def _python_cost(result: DatabaseResult) -> Goal:
    db, name = result.db, NAMES.get(result.db, result.db)
    goal = (
        f"{name} Python cost (server CPU per transfer minus the empty endpoint's per "
        f"request), spread at {CONNECTIONS} connections: <= {PYTHON_US:.0f} µs"
    )
    spread = result.run_at("spread", CONNECTIONS)
    cost = None if spread is None else result.python_us(spread)
    empty = result.run_at(EMPTY, CONNECTIONS)
    if spread is None or cost is None or empty is None:
        return _not_measured(db, goal, f"spread and empty at {CONNECTIONS} connections with CPU")
    measured = f"{cost:.0f} µs ({spread.server_us():.0f} - {empty.server_us():.0f})"
    return Goal(db, goal, measured, cost <= PYTHON_US)


def _bulk(result: DatabaseResult) -> list[Goal]:
    db = result.db
    found: list[Goal] = []
    for workload in BULK_WORKLOADS:
        runs = [run for run in result.runs if run.workload == workload]
        if db == "postgresql":
            goal = f"PostgreSQL {workload}, 1,000 per request: >= {PG_BULK_VS_PGBENCH:.0f}x TPC-B"
        else:
            goal = f"SQLite {workload}, 1,000 per request: >= {SQLITE_BULK_PER_SECOND:,.0f}/s"
        if not runs:
            found.append(_not_measured(db, goal, f"a {workload} run"))
        for run in runs:
            at = f"{goal} (at {run.connections} connections)"
            if db == "postgresql":
                tps = result.pgbench_tps(run.connections)
                figures = (run.per_second, tps)
                what, missing = "transfers/s over tps", f"pgbench at {run.connections} connections"
                found.append(_ratio_goal(db, at, figures, PG_BULK_VS_PGBENCH, what, missing))
            else:
                measured = f"{run.per_second:,.0f} transfers/s"
                found.append(Goal(db, at, measured, run.per_second >= SQLITE_BULK_PER_SECOND))
    return found


def _hot(result: DatabaseResult) -> Goal:
    db, name = result.db, NAMES.get(result.db, result.db)
    goal = f"{name} hot >= {HOT_VS_SPREAD}x spread at {CONNECTIONS} connections"
    hot = result.run_at("hot", CONNECTIONS)
    spread = result.run_at("spread", CONNECTIONS)
    figures = (
        None if hot is None else hot.per_second,
        None if spread is None else spread.per_second,
    )
    missing = f"hot and spread at {CONNECTIONS} connections"
    return _ratio_goal(db, goal, figures, HOT_VS_SPREAD, "hot over spread, transfers/s", missing)


def _webhooks(result: DatabaseResult) -> list[Goal]:
    """Spread with an endpoint subscribed to every transfer, answering and dead, against
    spread without one."""
    name = NAMES.get(result.db, result.db)
    spread = result.run_at("spread", CONNECTIONS)
    found = []
    for workload in (HOOK_OK, HOOK_DEAD):
        goal = f"{name} {workload} >= {WEBHOOKS_VS_SPREAD}x spread at {CONNECTIONS} connections"
        run = result.run_at(workload, CONNECTIONS)
        figures = (
            None if run is None else run.per_second,
            None if spread is None else spread.per_second,
        )
        what = f"{workload} over spread, transfers/s"
        missing = f"{workload} and spread at {CONNECTIONS} connections"
        found.append(_ratio_goal(result.db, goal, figures, WEBHOOKS_VS_SPREAD, what, missing))
    return found


def _of_database(result: DatabaseResult) -> list[Goal]:
    checks: list[Callable[[DatabaseResult], Goal]] = [
        _spread_vs_baseline,
        _one_connection,
        _python_cost,
        _hot,
    ]
    found = [check(result) for check in checks]
    found[1:1] = (
        [_pg_tail(result), _clean(result)] if result.db == "postgresql" else [_clean(result)]
    )
    found.extend(_bulk(result))
    found.extend(_webhooks(result))
    return found


def evaluate(results: list[DatabaseResult]) -> list[Goal]:
    """Every goal of each database that ran, in the order of the results."""
    return [goal for result in results for goal in _of_database(result)]


def goal_lines(goals: list[Goal]) -> list[str]:
    """One line per goal: its verdict, the goal, and the figure measured."""
    verdicts = {True: "MET", False: "NOT MET", None: "NOT MEASURED"}
    return [f"{verdicts[goal.met]}: {goal.goal}: {goal.measured}" for goal in goals]
