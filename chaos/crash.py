"""``python -m chaos crash``: kill the server again and again under load, then prove that
nothing was lost, doubled or made up.

One run, on a fresh database:

1. ``caja db upgrade``; an API client with ``ledger:admin`` and a top-up merchant made
   with ``caja clients create``; the merchant funded with ``caja fund``.
2. ``caja operator serve``, answering every purchase after a delay, and ``caja serve``
   pointed at it (its own reconciliation off, so what a kill leaves open stays open).
3. Ledger accounts opened through the v1 API, each funded with ``caja fund`` (run in
   this process: see :func:`chaos.prepare.fund_many`).
4. The load (:mod:`chaos.load`): transfers and top-ups, the server's process group
   killed with SIGKILL at random moments and started again, every unanswered request
   sent again until answered.
5. The server stopped; ``caja webhooks run`` drains the deliveries of the events to the
   run's consumer (:mod:`chaos.consumer`), an endpoint of the ledger client; ``caja
   reconcile`` settles the top-ups the kills left open; the database is checked against
   the answers (:mod:`chaos.check`) and the deliveries against the acknowledged
   transfers; ``caja verify``.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from bench.postgres import create_database, throwaway_cluster
from bench.programs import free_port
from bench.server import run_caja

from chaos.check import Findings, Known, check_run
from chaos.consumer import RUNNER_ENV, Consumer, check_events, drain
from chaos.journal import Journal
from chaos.load import Keys, Load, LoadPlan
from chaos.prepare import create_client, fund, fund_many, open_accounts, run_json
from chaos.processes import CajaServer, Operator
from chaos.snapshot import read_snapshot

__all__ = ["CrashPlan", "RunResult", "crash_database"]

WORKERS = {"sqlite": 1, "postgresql": 2}
OPEN_STATUSES = ("created", "in_progress", "unknown")
VERIFY_TIMEOUT_SECONDS = 600
_STARTED = time.monotonic()


def say(text: str) -> None:
    """Progress on standard error, with the seconds since start: stdout has the figures."""
    print(f"[{time.monotonic() - _STARTED:6.1f} s] {text}", file=sys.stderr, flush=True)


@dataclass(frozen=True, slots=True)
class CrashPlan:
    runs: int
    seed: int
    accounts: int
    account_pesos: int
    merchant_pesos: int
    operator_delay_ms: int
    load: LoadPlan


@dataclass(slots=True)
class RunResult:
    db: str
    run: int
    seed: int
    journal: Journal
    known: Known
    findings: Findings
    held_at_kill: int = 0
    reconciled: dict[str, int] = field(default_factory=dict)
    # How long the webhook runner took to drain after the load.
    drain_seconds: float = 0.0
    verify_code: int | None = None
    verify_summary: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.findings.ok and self.verify_code == 0


def _server_env(database_url: str, operator_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "CAJA_DATABASE_URL": database_url,
        "CAJA_OPERATOR_URL": operator_url,
        # Longer than the operator's delay: a purchase ends open only when a kill lands.
        "CAJA_OPERATOR_TIMEOUT_MS": "10000",
        # The run settles what the kills left open with `caja reconcile`, at the end.
        "CAJA_RECONCILE_INTERVAL_MS": "0",
        "CAJA_ACCESS_LOG": "0",
        "CAJA_WALLET_JWT_SECRET": secrets.token_urlsafe(32),
        # The server's webhook runner delivers the transfers' events to the consumer.
        **RUNNER_ENV,
    }


def _open_accounts(base_url: str, api_key: str, count: int) -> list[str]:
    async def work() -> list[str]:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            return await open_accounts(http, api_key, count)

    return asyncio.run(work())


def _verify(url: str) -> tuple[int, str]:
    finished = run_caja(["verify"], url, VERIFY_TIMEOUT_SECONDS)
    lines = (finished.stdout + finished.stderr).strip().splitlines()
    failed = [line.strip() for line in lines if line.startswith("FAIL")]
    return finished.returncode, "; ".join([*lines[:1], *failed, *lines[-1:]])


def crash_run(db: str, url: str, plan: CrashPlan, run: int, seed: int, logs: Path) -> RunResult:
    """One run on the fresh database at ``url``; its figures and findings."""
    started = time.monotonic()
    upgraded = run_caja(["db", "upgrade"], url, 300)
    if upgraded.returncode != 0:
        raise RuntimeError(f"caja db upgrade failed: {upgraded.stderr.strip()}")
    journal = Journal()
    with ExitStack() as stack:
        consumer = stack.enter_context(Consumer())
        operator = Operator(free_port(), logs / f"{db}-{run}-operator.log")
        server = CajaServer(
            _server_env(url, operator.url),
            free_port(),
            WORKERS[db],
            logs / f"{db}-{run}-server.log",
            logs / f"{db}-{run}-metrics",
        )
        stack.callback(server.stop)
        stack.callback(operator.stop)
        # The server needs neither the operator nor the clients to start: it starts while
        # they are made.
        server.start()
        operator.start(plan.operator_delay_ms)
        with ThreadPoolExecutor(max_workers=2) as pool:
            ledger_made = pool.submit(create_client, url, "chaos ledger", ["ledger:admin"])
            merchant_made = pool.submit(create_client, url, "chaos merchant", ["topup"])
            ledger, merchant = ledger_made.result(), merchant_made.result()
        consumer.subscribe(url, ledger.api_key)
        fundings = [fund(url, merchant.client_id, plan.merchant_pesos)]
        server.wait_healthy()
        say(f"  {db} run {run}: opening and funding {plan.accounts} accounts")
        accounts = _open_accounts(server.base_url, ledger.api_key, plan.accounts)
        fundings += fund_many(url, [(account, plan.account_pesos) for account in accounts])
        say(f"  {db} run {run}: load with {plan.load.kills} kills")
        keys = Keys(ledger.api_key, merchant.api_key)
        Load(plan.load, server, keys, accounts, f"{db[:2]}{run}", seed, journal).run()
        server.stop()
        say(f"  {db} run {run}: webhooks drain")
        env = _server_env(url, operator.url)
        drained = drain(url, env, logs / f"{db}-{run}-webhooks.log", say)
        say(f"  {db} run {run}: reconcile and check")
        before = read_snapshot(url)
        held = sum(row.status in OPEN_STATUSES for row in before.purchases)
        reconciled = run_json(
            ["reconcile", "--operator-url", operator.url, "--not-found-after", "0"], url
        )
        known = Known(ledger.client_id, merchant.client_id, fundings)
        findings = check_run(journal, known, read_snapshot(url), operator.final_status)
        check_events(url, journal, consumer, findings)
    result = RunResult(db, run, seed, journal, known, findings, held, reconciled, drained)
    result.verify_code, result.verify_summary = _verify(url)
    result.seconds = time.monotonic() - started
    return result


@contextmanager
def _databases(db: str, work: Path) -> Iterator[Any]:
    """A function making a fresh database URL per run: SQLite files in ``work``, or
    databases of one throwaway PostgreSQL cluster."""
    if db == "sqlite":
        yield lambda run: f"sqlite:///{work / f'chaos-{run}.db'}"
        return
    say("  postgresql: starting a throwaway cluster")
    with throwaway_cluster() as server_url:
        yield lambda run: create_database(server_url, f"chaos_{run}")


def crash_database(db: str, plan: CrashPlan, logs: Path) -> Iterator[RunResult]:
    """Every run of ``plan`` on ``db``, each yielded as it ends."""
    work = Path(tempfile.mkdtemp(prefix=f"caja-chaos-{db}-"))
    try:
        with _databases(db, work) as fresh:
            for run in range(1, plan.runs + 1):
                url = fresh(run)
                say(f"{db}: run {run} of {plan.runs}, seed {plan.seed + run - 1}")
                yield crash_run(db, url, plan, run, plan.seed + run - 1, logs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
