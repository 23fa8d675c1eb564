"""One database's bench: fresh data, the server under load, caja verify, then pgbench."""

from __future__ import annotations

import dataclasses
import re
import secrets
import sys
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from bench import driver, pgbench
from bench.cpu import Probe, measure
from bench.load import (
    BULK_WORKLOADS,
    DEPOSIT,
    DEPOSIT_PATH,
    EMPTY,
    WORKLOADS,
    LoadRun,
    combined,
    run_wrk,
    write_accounts_file,
)
from bench.postgres import create_database, postmaster_pid, throwaway_cluster
from bench.report import DatabaseResult, Verify
from bench.server import Server, run_caja
from bench.setup_data import DEPOSIT_ACCOUNTS, Prepared, prepare
from bench.webhooks import NOTE, WEBHOOK_WORKLOADS, Hooks

__all__ = ["DEFAULT_WORKERS", "Plan", "Stage", "Tags", "bench_database"]

DEFAULT_WORKERS = {"sqlite": 2, "postgresql": 2}
UPGRADE_TIMEOUT_SECONDS = 300
VERIFY_TIMEOUT_SECONDS = 900
PGBENCH_INIT_TIMEOUT_SECONDS = 900
_LEDGER_COUNTS = re.compile(r"^(\d+) accounts, (\d+) transfers, (\d+) entries$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Plan:
    """What to run, from the command line."""

    databases: list[str]
    postgres_url: str | None
    workers: int | None
    workloads: list[str]
    connections: list[int]
    duration: int
    warmup: int
    accounts: int
    pgbench_scale: int
    pgbench_init_steps: str | None
    # The connection counts of the bulk workloads.
    bulk_connections: list[int] = dataclasses.field(default_factory=lambda: [4])
    # Spread and the webhook modes run in this many interleaved rounds (at most one a second).
    rounds: int = 5

    def workers_for(self, db: str) -> int:
        return self.workers or DEFAULT_WORKERS[db]

    def connections_for(self, workload: str) -> list[int]:
        """A bulk workload's connection counts; the empty endpoint (and pgbench) run at
        every count any workload runs at, for the ratios; the others at --connections."""
        bulk = self.bulk_connections if set(BULK_WORKLOADS) & set(self.workloads) else []
        if workload in BULK_WORKLOADS:
            return self.bulk_connections
        if workload == EMPTY:
            return sorted({*self.connections, *bulk})
        return self.connections

    @property
    def deposit_accounts(self) -> int:
        """Deposit accounts to make: only for the deposit workload."""
        return DEPOSIT_ACCOUNTS if DEPOSIT in self.workloads else 0


class Tags:
    """Unique prefixes for unique_transfer_token: a random run id and a wrk-run counter."""

    def __init__(self) -> None:
        self.run_id = secrets.token_hex(6)
        self._count = 0

    def next(self) -> str:
        self._count += 1
        return f"{self.run_id}.{self._count}"


_STARTED = time.monotonic()


def say(text: str) -> None:
    """Progress with the seconds since start, on standard error: stdout has the figures."""
    print(f"[{time.monotonic() - _STARTED:6.1f} s] {text}", file=sys.stderr, flush=True)


def _verify(url: str) -> tuple[Verify, int | None]:
    """``caja verify``'s outcome, and the number of transfers it counted."""
    finished = run_caja(["verify"], url, VERIFY_TIMEOUT_SECONDS)
    output = (finished.stdout + finished.stderr).strip()
    lines = output.splitlines()
    summary = "; ".join(line for line in [*lines[:1], *lines[-1:]] if line) or "-"
    counts = _LEDGER_COUNTS.search(finished.stdout)
    return Verify(finished.returncode, summary, output), int(counts[2]) if counts else None


def _accounts_files(prepared: Prepared, work: Path) -> dict[str, Path]:
    """The accounts file of each workload: the ledger client's, or the deposit client's."""
    ledger = work / "accounts.txt"
    write_accounts_file(ledger, prepared.api_key, prepared.account_tokens)
    files = {workload: ledger for workload in (EMPTY, *WORKLOADS) if workload != DEPOSIT}
    if prepared.deposit is not None:
        files[DEPOSIT] = work / "deposit-accounts.txt"
        deposit = prepared.deposit
        write_accounts_file(files[DEPOSIT], deposit.api_key, deposit.account_tokens)
    return files


@dataclass(frozen=True, slots=True)
class Stage:
    """What one database's load runs against, and where its figures go."""

    plan: Plan
    server: Server
    files: dict[str, Path]
    tags: Tags
    result: DatabaseResult
    probe: Probe
    hooks: Hooks | None

    def measure(
        self, workload: str, connections: int, seconds: int
    ) -> tuple[LoadRun, dict[str, int]]:
        """One run after its warm-up, its CPU read around it (not the warm-up's); for a
        webhook mode, its endpoint is there for both, and its deliveries are counted after."""
        hooks = self.hooks if workload in WEBHOOK_WORKLOADS else None
        if hooks is not None:
            hooks.attach(workload)
        where = (self.server.base_url, workload, connections)
        accounts_file = self.files[workload]
        if self.plan.warmup:
            warmup = run_wrk(*where, self.plan.warmup, accounts_file, self.tags.next())
            self.result.warmups.append(warmup)
        load = partial(run_wrk, *where, seconds, accounts_file, self.tags.next())
        measured, cpu = measure(self.probe, load)
        counts = {} if hooks is None else hooks.detach()
        self.server.check_alive()
        return dataclasses.replace(measured, cpu=cpu), counts


def _interleaved(plan: Plan, hooks: Hooks | None) -> list[str]:
    """Spread and the webhook modes when both are run: they are measured in rounds."""
    if hooks is None or "spread" not in plan.workloads:
        return []
    return ["spread", *(workload for workload in plan.workloads if workload in WEBHOOK_WORKLOADS)]


def _load(stage: Stage) -> None:
    """Every workload at its connection counts, the empty endpoint first; spread and the
    webhook modes last, in interleaved rounds."""
    plan, result = stage.plan, stage.result
    rounds = _interleaved(plan, stage.hooks)
    for workload in [EMPTY, *plan.workloads]:
        if workload in rounds:
            continue
        for connections in plan.connections_for(workload):
            say(f"  {result.db}: {workload} at {connections} connections")
            run, counts = stage.measure(workload, connections, plan.duration)
            result.runs.append(run)
            if workload in WEBHOOK_WORKLOADS:
                result.notes.append(_webhook_note(run, counts, None))
    for connections in plan.connections_for("spread") if rounds else []:
        _rounds(stage, rounds, connections)


def _rounds(stage: Stage, workloads: list[str], connections: int) -> None:
    """``workloads`` in turns of short runs, each turn in another order, so that the
    machine's drift and the database's growth weigh on all of them alike; each
    workload's runs are then taken as one."""
    plan, result = stage.plan, stage.result
    count = min(plan.rounds, plan.duration)
    seconds = plan.duration // count
    segments: dict[str, list[LoadRun]] = {workload: [] for workload in workloads}
    deliveries: dict[str, Counter[str]] = {workload: Counter() for workload in workloads}
    for number in range(count):
        turn = number % len(workloads)
        for workload in workloads[turn:] + workloads[:turn]:
            say(f"  {result.db}: {workload} at {connections} connections, {number + 1}/{count}")
            run, counts = stage.measure(workload, connections, seconds)
            segments[workload].append(run)
            deliveries[workload].update(counts)
    runs = {workload: combined(segments[workload]) for workload in workloads}
    result.runs.extend(runs.values())
    result.notes.append(
        f"spread and {', '.join(workloads[1:])} at {connections} conns: {count} rounds of "
        f"{seconds} s each, interleaved, each workload's rounds added into one run "
        "(its p50 the median of theirs, its p99 the highest)"
    )
    for workload in workloads[1:]:
        note = _webhook_note(runs[workload], dict(deliveries[workload]), runs["spread"])
        result.notes.append(note)


def _webhook_note(run: LoadRun, counts: dict[str, int], spread: LoadRun | None) -> str:
    """The run's throughput against spread's, and its deliveries counted right after
    each of its rounds."""
    ratio = "spread not run"
    if spread is not None and spread.per_second:
        ratio = f"{run.per_second / spread.per_second:.2f} x spread ({spread.per_second:.0f}/s)"
    made = ", ".join(
        f"{counts.get(status, 0)} {status}" for status in ("delivered", "pending", "failed")
    )
    line = (
        f"{run.workload} at {run.connections} conns: {run.per_second:.0f} transfers/s = "
        f"{ratio}; deliveries: {made}"
    )
    if not any(counts.values()):
        line += " (none yet: the runner had not fanned out any of its events when it ended)"
    return line


def _pgbench(
    plan: Plan, server_url: str, work: Path, result: DatabaseResult, postmaster: int | None
) -> None:
    url = create_database(server_url, "pgbench")
    say(f"  {result.db}: pgbench -i --scale {plan.pgbench_scale}")
    result.pgbench_scale = plan.pgbench_scale
    result.pgbench_init_seconds = pgbench.initialize(
        url, plan.pgbench_scale, plan.pgbench_init_steps, PGBENCH_INIT_TIMEOUT_SECONDS
    )
    probe = Probe(None, postmaster)
    for connections in plan.connections_for(EMPTY):
        say(f"  {result.db}: pgbench at {connections} connections")
        log_dir = work / f"pgbench-{connections}"
        run = partial(pgbench.run, url, connections, plan.duration, log_dir)
        measured, cpu = measure(probe, run)
        result.pgbench.append(dataclasses.replace(measured, cpu=cpu))
        if connections == 1:
            say(f"  {result.db}: pgbench's transaction from Python at 1 connection")
            result.driver = driver.run(url, plan.pgbench_scale, plan.duration)
    result.notes.append(
        "pgbench: built-in TPC-B, default (simple) protocol, --jobs min(conns, 2), "
        "database 'pgbench' of the same PostgreSQL server, run after the caja server stopped"
    )


def _record_setup(prepared: Prepared, result: DatabaseResult) -> None:
    result.open_seconds, result.fund_seconds = prepared.open_seconds, prepared.fund_seconds
    if prepared.deposit is not None:
        result.deposit_accounts = len(prepared.deposit.account_tokens)
        result.deposit_open_seconds = prepared.deposit.open_seconds
        result.deposit_fund_seconds = prepared.deposit.fund_seconds
        result.notes.append(
            f"deposit: POST {DEPOSIT_PATH} with a fee; each 201 posts 2 ledger transfers "
            "(the transfer and its fee) and counts as 1 in transfers/s"
        )


def bench_database(db: str, plan: Plan, work: Path, logs: Path, tags: Tags) -> DatabaseResult:
    """The whole bench on ``db`` (sqlite or postgresql); ``work`` is made and filled here."""
    result = DatabaseResult(db=db, workers=plan.workers_for(db), accounts=plan.accounts)
    work.mkdir()
    with ExitStack() as stack:
        server_url: str | None = None
        if db == "sqlite":
            url = f"sqlite:///{work / 'bench.db'}"
        elif plan.postgres_url:
            server_url = url = plan.postgres_url
        else:
            say("  postgresql: starting a throwaway cluster")
            server_url = stack.enter_context(throwaway_cluster())
            url = create_database(server_url, "caja")
        upgraded = run_caja(["db", "upgrade"], url, UPGRADE_TIMEOUT_SECONDS)
        if upgraded.returncode != 0:
            raise RuntimeError(f"caja db upgrade failed: {upgraded.stderr.strip()}")
        # The server starts while the accounts are made: it needs none of them to start.
        server = stack.enter_context(Server(url, result.workers, logs / f"{db}-server.log"))
        deposits = f" and {plan.deposit_accounts} deposit accounts" if plan.deposit_accounts else ""
        say(f"  {db}: opening and funding {plan.accounts} accounts{deposits}")
        prepared = prepare(url, plan.accounts, plan.deposit_accounts)
        _record_setup(prepared, result)
        files = _accounts_files(prepared, work)
        server.wait_ready()
        hooks = None
        if set(WEBHOOK_WORKLOADS) & set(plan.workloads):
            result.notes.append(NOTE)
            hooks = stack.enter_context(Hooks(url, prepared.api_key, logs / f"{db}-receiver.log"))
        postmaster = None if server_url is None else postmaster_pid(url)
        probe = Probe(server.group, postmaster)
        _load(Stage(plan, server, files, tags, result, probe, hooks))
        server.stop()
        say(f"  {db}: caja verify")
        result.verify, ledger_transfers = _verify(url)
        if url != plan.postgres_url:
            # A database made for this run: the ledger can be matched with the answers.
            result.ledger_transfers = ledger_transfers
        if server_url is not None:
            _pgbench(plan, server_url, work, result, postmaster)
    return result
