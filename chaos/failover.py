"""``python -m chaos failover``: lose the primary again and again under load, then prove
that nothing acknowledged was lost, doubled or made up.

One run, on a fresh cluster (:mod:`chaos.cluster`, state in a temporary directory):

1. The cluster up (3 etcd, 3 Patroni/PostgreSQL in strict synchronous mode, HAProxy);
   ``caja db upgrade`` through HAProxy's write port; the clients and fundings made as in
   the crash test.
2. ``caja operator serve`` as its own service, and two caja hosts (``caja serve
   --workers 2`` each) whose database URL is HAProxy's write port (or, with
   ``--multi-host``, the second host's is the libpq multi-host URL); HAProxy's HTTP port
   in front of both.
3. The load (:mod:`chaos.failover_load`: ledger transfers, top-ups, deposit transfers
   and wallet sends), through HAProxy, and the faults: ``--kills``
   PostgreSQL kills, one Patroni kill, one 20 s freeze, one caja host kill (``--smoke``:
   one PostgreSQL kill only).
4. The hosts stopped; ``caja reconcile`` settles what the faults left open; the checks of
   the crash test (:mod:`chaos.check`) and those of deposit transfers and wallet sends
   (:mod:`chaos.more_surfaces`), plus: no transfer was answered 5XX by an attempt
   that in fact committed it; ``caja verify`` on the last primary.
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from bench.server import run_caja

from chaos.check import Findings, Known, check_run
from chaos.cluster import Cluster, Layout
from chaos.crash import OPEN_STATUSES, _open_accounts, _verify, say
from chaos.failover_load import FailoverLoad, Fault, Timeline, fault_schedule
from chaos.journal import Journal
from chaos.load import Keys, LoadPlan
from chaos.more_surfaces import SURFACES, check_more, prepare_more
from chaos.prepare import create_client, fund, fund_many, run_json
from chaos.processes import CajaServer, Operator
from chaos.snapshot import read_snapshot

__all__ = ["FailoverPlan", "FailoverResult", "failover_runs"]

WORKERS_PER_HOST = 2
HOSTS = 2


@dataclass(frozen=True, slots=True)
class FailoverPlan:
    runs: int
    kills: int
    seed: int
    accounts: int
    base_port: int
    multi_host: bool
    smoke: bool
    load: LoadPlan
    pause: tuple[float, float]
    account_pesos: int = 20_000
    merchant_pesos: int = 10_000_000
    operator_delay_ms: int = 1000
    # Deposit accounts and wallets, each funded with more_pesos.
    deposit_accounts: int = 20
    wallets: int = 12
    more_pesos: int = 500_000


@dataclass(slots=True)
class FailoverResult:
    run: int
    seed: int
    journal: Journal
    findings: Findings
    faults: list[Fault] = field(default_factory=list)
    cold_start: float = 0.0
    held: int = 0
    reconciled: dict[str, int] = field(default_factory=dict)
    verify_code: int | None = None
    verify_summary: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        recovered = all(fault.recovery is not None for fault in self.faults)
        return self.findings.ok and self.verify_code == 0 and recovered


def _host_env(url: str, operator_url: str, secret: str) -> dict[str, str]:
    return {
        **os.environ,
        "CAJA_DATABASE_URL": url,
        "CAJA_OPERATOR_URL": operator_url,
        "CAJA_OPERATOR_TIMEOUT_MS": "10000",
        "CAJA_RECONCILE_INTERVAL_MS": "0",
        "CAJA_ACCESS_LOG": "0",
        # Every host must sign and check wallet tokens with one secret.
        "CAJA_WALLET_JWT_SECRET": secret,
        # The load logs each wallet in once; its token must outlast the run.
        "CAJA_WALLET_TOKEN_SECONDS": "86400",
    }


def _hosts(
    cluster: Cluster, plan: FailoverPlan, operator: Operator, logs: Path
) -> list[CajaServer]:
    layout = cluster.layout
    secret = secrets.token_urlsafe(32)
    urls = [layout.write_url(), layout.multi_host_url() if plan.multi_host else layout.write_url()]
    return [
        CajaServer(
            _host_env(url, operator.url, secret),
            port,
            WORKERS_PER_HOST,
            logs / f"caja{index + 1}.log",
            logs / f"caja{index + 1}-metrics",
        )
        for index, (url, port) in enumerate(zip(urls, layout.caja_ports(HOSTS), strict=True))
    ]


def _lied(timeline: Timeline, findings: Findings) -> None:
    """A 5XX says nothing was changed. A transfer finally answered 208 whose every earlier
    attempt was answered 5XX (none went unanswered) was committed by one of those: that
    5XX was untrue."""
    for token, answers in timeline.answers.items():
        earlier = answers[:-1]
        if (
            answers[-1:] == [208]
            and earlier
            and all(status is not None and status >= 500 for status in earlier)
        ):
            findings.violate("5XX yet committed", f"{token}: {answers}")


def failover_run(plan: FailoverPlan, run: int, seed: int, logs: Path) -> FailoverResult:
    started = time.monotonic()
    state = Path(tempfile.mkdtemp(prefix="caja-failover-"))
    journal = Journal()
    cluster = Cluster(Layout(state, plan.base_port), HOSTS)
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, state, True)
        stack.callback(_keep_logs, cluster, logs, run)
        stack.callback(cluster.stop)
        cluster.start()
        cold = cluster.wait_healthy()
        say(f"  run {run}: cluster healthy {cold:.1f} s after start")
        cluster.ensure_database()
        url = cluster.layout.write_url()
        upgraded = run_caja(["db", "upgrade"], url, 300)
        if upgraded.returncode != 0:
            raise RuntimeError(f"caja db upgrade failed: {upgraded.stderr.strip()}")
        operator = Operator(cluster.layout.operator_port, logs / f"{run}-operator.log")
        stack.callback(operator.stop)
        operator.start(plan.operator_delay_ms)
        hosts = _hosts(cluster, plan, operator, logs)
        for host in hosts:
            stack.callback(host.stop)
            host.start()
        ledger = create_client(url, "failover ledger", ["ledger:admin"])
        merchant = create_client(url, "failover merchant", ["topup"])
        fundings = [fund(url, merchant.client_id, plan.merchant_pesos)]
        for host in hosts:
            host.wait_healthy()
        accounts = _open_accounts(hosts[0].base_url, ledger.api_key, plan.accounts)
        fundings += fund_many(url, [(account, plan.account_pesos) for account in accounts])
        more = prepare_more(
            url, hosts[0].base_url, plan.deposit_accounts, plan.wallets, plan.more_pesos
        )
        faults = fault_schedule(plan.kills, plan.smoke, random.Random(seed))
        say(f"  run {run}: load with faults {', '.join(faults)}")
        load = FailoverLoad(
            plan.load,
            hosts[0],
            Keys(ledger.api_key, merchant.api_key),
            accounts,
            f"f{run}",
            seed,
            journal,
            cluster=cluster,
            hosts=hosts,
            faults=faults,
            pause=plan.pause,
            more=more,
        )
        load.run()
        ended = time.monotonic()
        for index, fault in enumerate(load.faults):
            until = load.faults[index + 1].at if index + 1 < len(load.faults) else ended
            load.timeline.recover(fault, until)
        for host in hosts:
            host.stop()
        say(f"  run {run}: reconcile and check")
        held = sum(row.status in OPEN_STATUSES for row in read_snapshot(url).purchases)
        reconciled = run_json(
            ["reconcile", "--operator-url", operator.url, "--not-found-after", "0"], url
        )
        known = Known(ledger.client_id, merchant.client_id, fundings + more.fundings)
        snapshot = read_snapshot(url)
        findings = check_run(journal, known, snapshot, operator.final_status, SURFACES)
        check_more(journal, more, snapshot, findings)
        _lied(load.timeline, findings)
        result = FailoverResult(run, seed, journal, findings, load.faults, cold, held, reconciled)
        primary = cluster.primary()
        if primary is not None:
            direct = url.replace(f":{cluster.layout.write_port}/", f":{primary.pg_port}/")
            result.verify_code, result.verify_summary = _verify(direct)
        else:
            result.verify_summary = "no primary at the end"
    result.seconds = time.monotonic() - started
    return result


def _keep_logs(cluster: Cluster, logs: Path, run: int) -> None:
    """The cluster's logs join the run's, before its state directory is removed."""
    if cluster.logs.exists():
        shutil.copytree(cluster.logs, logs / f"{run}-cluster", dirs_exist_ok=True)


def failover_runs(plan: FailoverPlan, logs: Path) -> Iterator[FailoverResult]:
    """Every run of ``plan``, each yielded as it ends."""
    for run in range(1, plan.runs + 1):
        seed = plan.seed + run - 1
        say(f"failover: run {run} of {plan.runs}, seed {seed}")
        yield failover_run(plan, run, seed, logs)
