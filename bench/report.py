"""The figures of a bench run: what was measured, as a table, markdown or JSON."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from bench.driver import DriverRun
from bench.goals import evaluate, goal_lines
from bench.load import EMPTY, LoadRun
from bench.pgbench import PgbenchRun

__all__ = ["COLUMNS", "DatabaseResult", "Verify", "as_json", "markdown", "table"]

COLUMNS = (
    "db",
    "workers",
    "workload",
    "conns",
    "transfers/s",
    "p50 ms",
    "p99 ms",
    "errors",
    "vs empty",
    "vs pgbench",
    "server µs",
    "db µs",
    "python µs",
    "load µs",
)


@dataclass(frozen=True, slots=True)
class Verify:
    exit_code: int
    summary: str
    output: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


@dataclass(slots=True)
class DatabaseResult:
    db: str
    workers: int
    accounts: int
    open_seconds: float = 0.0
    fund_seconds: float = 0.0
    # Deposit accounts, for the deposit workload (0 when it was not run).
    deposit_accounts: int = 0
    deposit_open_seconds: float = 0.0
    deposit_fund_seconds: float = 0.0
    runs: list[LoadRun] = field(default_factory=list)
    warmups: list[LoadRun] = field(default_factory=list)
    pgbench_scale: int | None = None
    pgbench_init_seconds: float | None = None
    pgbench: list[PgbenchRun] = field(default_factory=list)
    # pgbench's own transaction sent from Python (asyncpg), at one connection.
    driver: DriverRun | None = None
    verify: Verify | None = None
    # Transfers in the ledger after the run, when it started empty: fundings plus what every
    # 201 posted.
    ledger_transfers: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def errors(self) -> int:
        counted = sum(run.errors for run in [*self.runs, *self.warmups])
        return counted + sum(run.failed for run in self.pgbench)

    @property
    def created(self) -> int:
        """Transfers the server answered 201 for (items of batches included), warm-ups
        included."""
        return sum(run.created for run in [*self.runs, *self.warmups])

    @property
    def posted(self) -> int:
        """Ledger transfers the 201 answers posted: two for a deposit transfer and its fee."""
        return sum(run.created * run.posted_per_transfer for run in [*self.runs, *self.warmups])

    @property
    def fundings(self) -> int:
        """One funding transfer per account, deposit accounts included."""
        return self.accounts + self.deposit_accounts

    @property
    def unanswered_bound(self) -> int:
        """At most one request per connection is still in flight when a wrk run ends:
        the server may commit it (two ledger transfers for a deposit request, a batch's
        1,000 for a bulk one), but no one reads its answer. A run made of interleaved
        rounds counts one wrk run per round."""
        runs = [*self.runs, *self.warmups]
        return sum(run.segments * run.connections * run.posted_per_request for run in runs)

    @property
    def accounted(self) -> bool | None:
        """Whether the ledger holds the funding transfers, what every 201 posted and at most
        what the requests left in flight posted; None when unknown (a database that was not
        fresh, or errors)."""
        if self.ledger_transfers is None or self.errors:
            return None
        made = self.ledger_transfers - self.fundings
        return self.posted <= made <= self.posted + self.unanswered_bound

    @property
    def failed(self) -> bool:
        verified = self.verify is not None and self.verify.ok
        return bool(self.errors) or not verified or self.accounted is False

    def run_at(self, workload: str, connections: int) -> LoadRun | None:
        """The measured run of ``workload`` at ``connections``, if it ran."""
        for run in self.runs:
            if run.workload == workload and run.connections == connections:
                return run
        return None

    def pgbench_at(self, connections: int) -> PgbenchRun | None:
        for run in self.pgbench:
            if run.connections == connections:
                return run
        return None

    def empty_rate(self, connections: int) -> float | None:
        empty = self.run_at(EMPTY, connections)
        return None if empty is None else empty.per_second

    def python_us(self, run: LoadRun) -> float | None:
        """The server's CPU µs per transfer of ``run`` minus the empty endpoint's per
        request at the same connection count: what the transfer itself costs in Python."""
        empty = self.run_at(EMPTY, run.connections)
        ours = run.server_us()
        baseline = None if empty is None else empty.server_us()
        if run.workload == EMPTY or ours is None or baseline is None:
            return None
        return ours - baseline

    def pgbench_tps(self, connections: int) -> float | None:
        for run in self.pgbench:
            if run.connections == connections:
                return run.tps
        return None


def _ratio(ours: float, baseline: float | None) -> str:
    if not baseline:
        return "-"
    return f"{ours / baseline:.2f}x"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _us(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def rows(result: DatabaseResult) -> list[list[str]]:
    """One row per (workload, conns), then the empty endpoint's, then pgbench's."""
    transfers = [run for run in result.runs if run.workload != EMPTY]
    empties = [run for run in result.runs if run.workload == EMPTY]
    found: list[list[str]] = []
    for run in [*transfers, *empties]:
        is_transfer = run.workload != EMPTY
        found.append(
            [
                result.db,
                str(result.workers),
                run.workload,
                str(run.connections),
                f"{run.per_second:.0f}",
                _ms(run.p50_ms),
                _ms(run.p99_ms),
                str(run.errors),
                _ratio(run.per_second, result.empty_rate(run.connections)) if is_transfer else "-",
                _ratio(run.per_second, result.pgbench_tps(run.connections)) if is_transfer else "-",
                _us(run.server_us()),
                _us(run.database_us()),
                _us(result.python_us(run)),
                _us(run.load_us()),
            ]
        )
    for bench in result.pgbench:
        found.append(
            [
                result.db,
                "-",
                "pgbench",
                str(bench.connections),
                f"{bench.tps:.0f}",
                _ms(bench.p50_ms),
                _ms(bench.p99_ms),
                str(bench.failed),
                "-",
                "-",
                "-",
                _us(bench.database_us()),
                "-",
                _us(bench.load_us()),
            ]
        )
    return found


def _setup_line(result: DatabaseResult) -> str:
    deposits = ""
    if result.deposit_accounts:
        deposits = (
            f"; {result.deposit_accounts} deposit accounts opened in "
            f"{result.deposit_open_seconds:.1f} s, funded in {result.deposit_fund_seconds:.1f} s"
        )
    return (
        f"setup: {result.accounts} accounts opened in {result.open_seconds:.1f} s, "
        f"funded in {result.fund_seconds:.1f} s{deposits} (not measured)"
    )


def _pgbench_line(result: DatabaseResult) -> str | None:
    if result.pgbench_init_seconds is None:
        return None
    return (
        f"pgbench -i --scale {result.pgbench_scale}: {result.pgbench_init_seconds:.1f} s "
        "(not measured)"
    )


def _verify_line(result: DatabaseResult) -> str:
    if result.verify is None:
        return "caja verify: not run"
    return f"caja verify: exit {result.verify.exit_code}: {result.verify.summary}"


def _accounting_line(result: DatabaseResult) -> str | None:
    if result.accounted is None:
        return None
    verdict = "as answered" if result.accounted else "MISMATCH"
    assert result.ledger_transfers is not None
    unanswered = result.ledger_transfers - result.fundings - result.posted
    answered = f"{result.created} answered 201"
    if result.posted != result.created:
        answered = f"{result.posted} posted by the {answered}"
    return (
        f"ledger transfers: {result.ledger_transfers}, {verdict}: {result.fundings} fundings "
        f"+ {answered} + {unanswered} in flight when wrk stopped "
        f"(at most {result.unanswered_bound})"
    )


def one_connection_line(result: DatabaseResult) -> str | None:
    """spread's median at one connection, beside pgbench's single client of the same run
    and pgbench's transaction sent from Python."""
    spread = result.run_at("spread", 1)
    if spread is None:
        return None
    line = f"one connection: spread p50 {spread.p50_ms:.2f} ms"
    bench = result.pgbench_at(1)
    if bench is not None and bench.p50_ms:
        average = "" if bench.average_ms is None else f", latency average {bench.average_ms:.2f}"
        line += (
            f" = {spread.p50_ms / bench.p50_ms:.2f}x pgbench's single client "
            f"(p50 {bench.p50_ms:.2f} ms{average})"
        )
        if result.driver is not None:
            line += "; " + _driver_words(result.driver, bench.p50_ms)
    return line


def _driver_words(driver: DriverRun, pgbench_p50_ms: float) -> str:
    return (
        f"pgbench's transaction from Python (asyncpg on uvloop, prepared): p50 "
        f"{driver.p50_ms:.2f} ms = {driver.p50_ms / pgbench_p50_ms:.2f}x pgbench's, latency "
        f"average {driver.average_ms:.2f}, {driver.client_us:.0f} µs of the client's CPU each"
    )


def _runner_line(result: DatabaseResult) -> str | None:
    """The webhook runner's CPU per transfer, per run: it is not in the server column."""
    figures = [
        f"{run.workload}@{run.connections} {_us(run.runner_us())}"
        for run in result.runs
        if run.workload != EMPTY and run.runner_us() is not None
    ]
    if not figures:
        return None
    return "webhook runner CPU, µs per transfer (not in 'server µs'): " + ", ".join(figures)


def _lines_after(result: DatabaseResult) -> list[str]:
    lines = [_setup_line(result)]
    pgbench_line = _pgbench_line(result)
    if pgbench_line is not None:
        lines.append(pgbench_line)
    lines.extend(result.notes)
    for line in (one_connection_line(result), _runner_line(result)):
        if line is not None:
            lines.append(line)
    warmup_errors = sum(run.errors for run in result.warmups)
    if warmup_errors:
        lines.append(f"warm-up errors: {warmup_errors} (not in the table; they fail the run)")
    lines.append(_verify_line(result))
    accounting = _accounting_line(result)
    if accounting is not None:
        lines.append(accounting)
    return lines


def table(result: DatabaseResult) -> str:
    """The result as an aligned text table, numbers to the right, then its notes."""
    all_rows = [list(COLUMNS), *rows(result)]
    widths = [max(len(row[index]) for row in all_rows) for index in range(len(COLUMNS))]
    text_columns = {0, 2}

    def line(row: list[str]) -> str:
        cells = (
            cell.ljust(width) if index in text_columns else cell.rjust(width)
            for index, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        return "  ".join(cells).rstrip()

    printed = [line(all_rows[0]), "  ".join("-" * width for width in widths)]
    printed.extend(line(row) for row in all_rows[1:])
    printed.extend(_lines_after(result))
    if result.verify is not None and not result.verify.ok:
        printed.append(result.verify.output.rstrip())
    return "\n".join(printed)


def markdown(results: list[DatabaseResult], heading: str) -> str:
    """All tables as one markdown document, for docs/performance.md, then the goals."""
    out = [f"{heading}\n"]
    for result in results:
        out.append("| " + " | ".join(COLUMNS) + " |")
        out.append(
            "|" + "|".join("---" if i in (0, 2) else "---:" for i in range(len(COLUMNS))) + "|"
        )
        out.extend("| " + " | ".join(row) + " |" for row in rows(result))
        out.append("")
        out.extend(f"- {line}" for line in _lines_after(result))
        out.append("")
    out.append("Against the goals:\n")
    out.extend(f"- {line}" for line in goal_lines(evaluate(results)))
    out.append("")
    return "\n".join(out)


def as_json(results: list[DatabaseResult], run: dict[str, Any]) -> dict[str, Any]:
    """Every figure, with the derived ones (rates, errors, ratios) spelled out."""
    databases = []
    for result in results:
        figures = dataclasses.asdict(result)
        for run_figures, load in zip(figures["runs"], result.runs, strict=True):
            run_figures["per_second"] = load.per_second
            run_figures["expected_responses"] = load.expected
            run_figures["errors"] = load.errors
            run_figures["statuses"] = {str(k): v for k, v in load.statuses.items()}
            run_figures["created"] = load.created
            run_figures["items"] = {str(k): v for k, v in load.items.items()}
            run_figures["cpu_us_each"] = {
                "server": load.server_us(),
                "database": load.database_us(),
                "runner": load.runner_us(),
                "load": load.load_us(),
                "python": result.python_us(load),
            }
            if load.workload != EMPTY:
                empty = result.empty_rate(load.connections)
                tps = result.pgbench_tps(load.connections)
                run_figures["vs_empty"] = load.per_second / empty if empty else None
                run_figures["vs_pgbench"] = load.per_second / tps if tps else None
        for bench_figures, bench in zip(figures["pgbench"], result.pgbench, strict=True):
            bench_figures["cpu_us_each"] = {
                "database": bench.database_us(),
                "load": bench.load_us(),
            }
        for warmup_figures, load in zip(figures["warmups"], result.warmups, strict=True):
            warmup_figures["errors"] = load.errors
            warmup_figures["statuses"] = {str(k): v for k, v in load.statuses.items()}
            warmup_figures["items"] = {str(k): v for k, v in load.items.items()}
        figures["verify_ok"] = None if result.verify is None else result.verify.ok
        figures["answered_201"] = result.created
        figures["posted_by_201"] = result.posted
        figures["accounted"] = result.accounted
        figures["failed"] = result.failed
        databases.append(figures)
    goals = [dataclasses.asdict(goal) for goal in evaluate(results)]
    return {**run, "databases": databases, "goals": goals}
