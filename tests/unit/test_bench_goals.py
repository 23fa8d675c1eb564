"""The bench's goals: each read from the runs of one bench run, MET, NOT MET or not
measured; and the Python cost per transfer, server CPU minus the empty endpoint's."""

from __future__ import annotations

import dataclasses

import pytest
from bench.cpu import CpuUse
from bench.goals import evaluate, goal_lines
from bench.load import LoadRun
from bench.pgbench import PgbenchRun
from bench.report import DatabaseResult, Verify, table


def _run(
    workload: str,
    connections: int,
    per_second: float,
    *,
    p50_ms: float = 1.0,
    p99_ms: float = 10.0,
    server_us: float | None = None,
) -> LoadRun:
    seconds = 10.0
    answered = round(per_second * seconds)
    status = 200 if workload in ("empty", "bulk", "bulk-atomic") else 201
    items = {201: answered} if workload.startswith("bulk") else {}
    requests = answered // 1000 if items else answered
    cpu = None
    if server_us is not None:
        ticks = round(server_us * answered / 10_000)  # 100 ticks a second
        cpu = CpuUse(
            ticks_per_second=100,
            server_ticks=ticks,
            runner_ticks=None,
            database_ticks=None,
            load_us=0,
        )
    return LoadRun(
        workload=workload,
        connections=connections,
        seconds=seconds,
        requests=requests,
        statuses={status: requests},
        socket_errors={},
        replays_sent=0,
        p50_ms=p50_ms,
        p99_ms=p99_ms,
        items=items,
        cpu=cpu,
    )


def _pgbench(connections: int, tps: float, p50_ms: float) -> PgbenchRun:
    return PgbenchRun(connections, tps, round(tps * 10), 0, p50_ms, p50_ms * 3)


def _verdicts(result: DatabaseResult) -> dict[str, bool | None]:
    return {goal.goal: goal.met for goal in evaluate([result])}


def _find(verdicts: dict[str, bool | None], words: str) -> bool | None:
    matches = [met for goal, met in verdicts.items() if words in goal]
    assert len(matches) == 1, (words, list(verdicts))
    return matches[0]


def test_postgresql_goals_met_and_not_met() -> None:
    result = DatabaseResult(db="postgresql", workers=2, accounts=10_000)
    result.verify = Verify(0, "ok", "ok")
    result.runs = [
        _run("spread", 64, 8000, p99_ms=49.0, server_us=100.0),
        _run("hot", 64, 3900),
        _run("spread", 1, 500, p50_ms=1.6),
        _run("bulk", 4, 20_000),
        _run("bulk-atomic", 4, 19_000),
        _run("empty", 64, 20_000, server_us=45.0),
    ]
    result.pgbench = [_pgbench(64, 4000, 15.0), _pgbench(1, 900, 1.1), _pgbench(4, 3900, 1.0)]
    verdicts = _verdicts(result)
    assert _find(verdicts, "spread at 64 connections >= 2.0x pgbench") is True  # 2.0x exactly
    assert _find(verdicts, "p99 < 50 ms") is True
    assert _find(verdicts, "zero errors") is True
    assert _find(verdicts, "one connection") is True  # 1.6 / 1.1 = 1.45
    assert _find(verdicts, "Python cost") is True  # 100 - 45 = 55 µs
    assert _find(verdicts, "hot >= 0.5x") is False  # 3,900 / 8,000
    assert _find(verdicts, "PostgreSQL bulk,") is True  # 20,000 / 3,900 = 5.1x
    assert _find(verdicts, "bulk-atomic") is False  # 19,000 / 3,900 = 4.9x


def test_sqlite_goals_and_what_was_not_measured() -> None:
    result = DatabaseResult(db="sqlite", workers=2, accounts=1000)
    result.verify = Verify(0, "ok", "ok")
    result.runs = [
        _run("spread", 64, 7000, server_us=140.0),
        _run("spread", 1, 900, p50_ms=0.79),
        _run("bulk", 4, 26_000),
        _run("empty", 64, 18_000, server_us=70.0),
    ]
    verdicts = _verdicts(result)
    assert _find(verdicts, "0.4x the empty endpoint") is False  # 7,000 / 18,000 = 0.39
    assert _find(verdicts, "p50 < 0.8 ms") is True
    assert _find(verdicts, "Python cost") is False  # 70 µs
    assert _find(verdicts, "hot >= 0.5x") is None  # no hot run
    assert _find(verdicts, "SQLite bulk,") is True
    assert _find(verdicts, "bulk-atomic") is None
    lines = goal_lines(evaluate([result]))
    assert "MET: SQLite bulk, 1,000 per request: >= 25,000/s (at 4 connections): 26,000" in (
        "\n".join(lines)
    )
    assert any(line.startswith("NOT MEASURED: SQLite hot") for line in lines)
    assert any(line.startswith("NOT MET: SQLite Python cost") for line in lines)


def test_the_table_has_cpu_columns_and_the_python_cost() -> None:
    result = DatabaseResult(db="sqlite", workers=2, accounts=1000)
    result.runs = [
        _run("spread", 64, 5000, server_us=150.0),
        _run("empty", 64, 20_000, server_us=65.0),
    ]
    printed = table(result)
    header = printed.splitlines()[0]
    for column in ("server µs", "db µs", "python µs", "load µs"):
        assert column in header
    spread = next(line for line in printed.splitlines() if " spread " in line).split()
    assert spread[-4:] == ["150", "-", "85", "0"]
    assert result.python_us(result.runs[0]) == pytest.approx(85.0)
    assert result.python_us(result.runs[1]) is None


def test_bulk_runs_count_items_and_their_failures() -> None:
    run = _run("bulk", 4, 3000)
    assert run.expected == 30_000
    assert run.created == 30_000
    assert run.errors == 0
    failing = LoadRun(
        workload="bulk-atomic",
        connections=4,
        seconds=1.0,
        requests=3,
        statuses={200: 2, 409: 1},
        socket_errors={"timeout": 0},
        replays_sent=0,
        p50_ms=1.0,
        p99_ms=1.0,
        items={201: 1998, 402: 2},
    )
    assert failing.expected == 1998
    assert failing.errors == 1 + 2
    assert failing.posted_per_request == 1000


def test_errors_or_a_failed_verify_miss_the_clean_goal() -> None:
    result = DatabaseResult(db="sqlite", workers=2, accounts=1000)
    result.verify = Verify(1, "ledger is NOT consistent", "…")
    result.runs = [_run("spread", 64, 5000)]
    assert _find(_verdicts(result), "zero errors, caja verify clean") is False
    result.verify = Verify(0, "ok", "ok")
    assert _find(_verdicts(result), "zero errors, caja verify clean") is True
    result.warmups = [dataclasses.replace(_run("spread", 64, 10), statuses={500: 1})]
    assert _find(_verdicts(result), "zero errors, caja verify clean") is False
