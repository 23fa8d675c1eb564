"""The bench's webhook comparison: spread and the webhook modes run in interleaved
rounds, each workload's rounds added into one run, and compared with spread's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from bench.cpu import CpuUse
from bench.goals import evaluate
from bench.load import LoadRun, combined
from bench.report import DatabaseResult
from bench.run import Plan, Stage, _load, _webhook_note


def _cpu(server: int, runner: int | None) -> CpuUse:
    return CpuUse(
        ticks_per_second=100,
        server_ticks=server,
        runner_ticks=runner,
        database_ticks=None,
        load_us=1000,
    )


def _segment(workload: str, created: int, p50_ms: float, p99_ms: float, **cpu: Any) -> LoadRun:
    return LoadRun(
        workload=workload,
        connections=64,
        seconds=3.0,
        requests=created + 1,
        statuses={201: created, 500: 1},
        socket_errors={"timeout": 1},
        replays_sent=0,
        p50_ms=p50_ms,
        p99_ms=p99_ms,
        cpu=_cpu(**cpu) if cpu else None,
    )


def test_rounds_are_added_into_one_run() -> None:
    run = combined(
        [
            _segment("webhook-200", 9000, 10.0, 30.0, server=200, runner=None),
            _segment("webhook-200", 12000, 14.0, 25.0, server=250, runner=5),
            _segment("webhook-200", 9000, 11.0, 40.0, server=150, runner=3),
        ]
    )
    assert (run.workload, run.connections, run.seconds) == ("webhook-200", 64, 9.0)
    assert run.statuses == {201: 30000, 500: 3}
    assert run.socket_errors == {"timeout": 3}
    assert run.per_second == pytest.approx(30000 / 9.0)
    assert run.errors == 6
    assert (run.p50_ms, run.p99_ms) == (11.0, 40.0)
    assert run.cpu is not None
    assert (run.cpu.server_ticks, run.cpu.runner_ticks, run.cpu.load_us) == (600, 8, 3000)
    assert run.cpu.database_ticks is None
    # Each round may leave one request per connection in flight when wrk stops.
    assert run.segments == 3
    result = DatabaseResult(db="sqlite", workers=2, accounts=10, runs=[run])
    assert result.unanswered_bound == 3 * 64


def test_a_round_without_cpu_leaves_the_run_without_cpu() -> None:
    run = combined([_segment("spread", 10, 1.0, 2.0, server=1, runner=None)])
    assert run.cpu is not None
    assert combined([run, _segment("spread", 10, 1.0, 2.0)]).cpu is None


def test_the_note_compares_with_spread_and_counts_deliveries() -> None:
    spread = _segment("spread", 12000, 10.0, 30.0)
    hooked = _segment("webhook-dead", 10800, 10.0, 30.0)
    note = _webhook_note(hooked, {"delivered": 0, "pending": 5, "failed": 2}, spread)
    assert note == (
        "webhook-dead at 64 conns: 3600 transfers/s = 0.90 x spread (4000/s); "
        "deliveries: 0 delivered, 5 pending, 2 failed"
    )
    alone = _webhook_note(hooked, {}, None)
    assert "= spread not run" in alone
    assert alone.endswith(
        "(none yet: the runner had not fanned out any of its events when it ended)"
    )


def test_the_webhook_goals_read_the_ratio_to_spread() -> None:
    result = DatabaseResult(db="sqlite", workers=2, accounts=1000)
    result.runs = [
        _segment("spread", 12000, 10.0, 30.0),
        _segment("webhook-200", 10800, 10.0, 30.0),  # 0.90x
        _segment("webhook-dead", 10700, 10.0, 30.0),  # 0.89x
    ]
    verdicts = {goal.goal: goal.met for goal in evaluate([result])}
    assert verdicts["SQLite webhook-200 >= 0.9x spread at 64 connections"] is True
    assert verdicts["SQLite webhook-dead >= 0.9x spread at 64 connections"] is False
    result.runs = result.runs[1:]
    verdicts = {goal.goal: goal.met for goal in evaluate([result])}
    assert verdicts["SQLite webhook-200 >= 0.9x spread at 64 connections"] is None


class _Recorder:
    """Stands in for a Stage's measure: the order of the runs, and a run for each."""

    def __init__(self) -> None:
        self.order: list[tuple[str, int]] = []

    def __call__(
        self, workload: str, connections: int, seconds: int
    ) -> tuple[LoadRun, dict[str, int]]:
        self.order.append((workload, seconds))
        counts = {"delivered": 1} if workload.startswith("webhook") else {}
        return _segment(workload, 100 * len(self.order), 1.0, 2.0), counts


def test_spread_and_the_webhook_modes_take_turns_in_another_order_each_round(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = Plan(
        databases=["sqlite"],
        postgres_url=None,
        workers=None,
        workloads=["spread", "webhook-200", "webhook-dead"],
        connections=[64],
        duration=10,
        warmup=0,
        accounts=10,
        pgbench_scale=1,
        pgbench_init_steps=None,
        rounds=3,
    )
    result = DatabaseResult(db="sqlite", workers=2, accounts=10)
    recorder = _Recorder()
    stage = Stage(plan, None, {}, None, result, None, object())  # type: ignore[arg-type]
    monkeypatch.setattr(Stage, "measure", lambda self, *args: recorder(*args))
    _load(stage)
    assert recorder.order == [
        ("empty", 10),
        ("spread", 3),
        ("webhook-200", 3),
        ("webhook-dead", 3),
        ("webhook-200", 3),
        ("webhook-dead", 3),
        ("spread", 3),
        ("webhook-dead", 3),
        ("spread", 3),
        ("webhook-200", 3),
    ]
    runs = {run.workload: run for run in result.runs}
    assert runs["spread"].created == 200 + 700 + 900
    assert runs["spread"].seconds == 9.0
    assert any(
        note.startswith("webhook-dead at 64 conns") and "3 delivered" in note
        for note in result.notes
    )
