"""``python -m chaos crash``: the crash test; ``python -m chaos failover``: the failover
test; ``python -m chaos cluster up|down|status``: the PostgreSQL cluster (see
chaos/README.md).

The tests exit 0 when every run passed, 1 when any check found a violation or a run
could not finish, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from chaos.crash import CrashPlan, RunResult, crash_database, say
from chaos.failover import FailoverPlan
from chaos.load import LoadPlan
from chaos.report import run_report, summary

MAX_KILLS = 1000
MAX_RUNS = 100
MAX_ACCOUNTS = 5000
MAX_CONNECTIONS = 128


def _whole(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"give a whole number from {low} to {high}")
        return value

    return parse


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    crash = commands.add_parser(
        "crash",
        help="kill caja serve under load, again and again, then check the ledger",
        description="Start caja serve on a fresh database, load it with ledger transfers "
        "and top-ups, SIGKILL its process group at random moments and start it again, "
        "then check that every acknowledged transfer is stored once, nothing else is "
        "stored, balances match the answers, top-ups left open are settled by caja "
        "reconcile, and caja verify passes. Exits 1 on any violation.",
    )
    add = crash.add_argument
    add("--db", choices=["sqlite", "postgresql", "both"], default="both", help="(default: both)")
    add("--kills", type=_whole(1, MAX_KILLS), help="kills per run (default: 20; smoke 5)")
    add("--runs", type=_whole(1, MAX_RUNS), help="runs per database (default: 1)")
    add("--seed", type=int, default=1, help="run k uses seed S+k-1 (default: 1)")
    add(
        "--accounts",
        type=_whole(2, MAX_ACCOUNTS),
        help="ledger accounts per run (default: 200; smoke 50)",
    )
    add(
        "--connections",
        type=_whole(1, MAX_CONNECTIONS),
        default=16,
        help="concurrent connections sending transfers (default: 16)",
    )
    add(
        "--smoke",
        action="store_true",
        help="a short run for CI: 5 kills, 1 run and 50 accounts per database, unless "
        "--kills, --runs or --accounts say otherwise",
    )
    _add_failover(commands)
    _add_cluster(commands)
    return parser


def _add_failover(commands: Any) -> None:
    failover = commands.add_parser(
        "failover",
        help="lose the cluster's primary again and again under load, then check the ledger",
        description="Bring up the PostgreSQL cluster (chaos cluster), two caja hosts behind "
        "HAProxy and the sandbox operator; load transfers and top-ups through HAProxy; SIGKILL "
        "the primary's PostgreSQL --kills times, its Patroni once, freeze it 20 s once and "
        "kill a caja host once; then check that every acknowledged request is stored once, "
        "nothing else is, balances match, no top-up is left open and caja verify passes on "
        "the last primary. Exits 1 on any violation.",
    )
    add = failover.add_argument
    add("--runs", type=_whole(1, MAX_RUNS), default=1, help="runs, each on a fresh cluster")
    add("--kills", type=_whole(1, MAX_KILLS), help="PostgreSQL kills per run (default 5; smoke 1)")
    add("--seed", type=int, default=1, help="run k uses seed S+k-1 (default: 1)")
    add("--accounts", type=_whole(2, MAX_ACCOUNTS), help="accounts (default 200; smoke 50)")
    add("--connections", type=_whole(1, MAX_CONNECTIONS), default=16, help="(default: 16)")
    add("--base-port", type=_whole(1024, 32717), default=15500, help="(default: 15500)")
    add(
        "--multi-host",
        action="store_true",
        help="the second caja host connects with the libpq multi-host URL, not through HAProxy",
    )
    add("--smoke", action="store_true", help="for CI: one PostgreSQL kill, 50 accounts")


def _add_cluster(commands: Any) -> None:
    cluster = commands.add_parser(
        "cluster",
        help="the PostgreSQL cluster on loopback: up, down or status",
        description="Three etcd members, three PostgreSQL nodes under Patroni (strict "
        "synchronous replication) and HAProxy, on 127.0.0.1 ports from --base-port. up "
        "starts it and prints its URLs; down stops everything it started; status prints "
        "each node's role.",
    )
    cluster.add_argument("action", choices=["up", "down", "status", "supervise"])
    cluster.add_argument("--state", type=Path, default=None, help="state directory")
    cluster.add_argument("--base-port", type=_whole(1024, 32717), default=15400)


def _plan(options: argparse.Namespace) -> CrashPlan:
    smoke = options.smoke
    load = LoadPlan(
        kills=options.kills or (5 if smoke else 20),
        connections=options.connections,
        topup_connections=2,
        kill_after=(0.3, 1.5) if smoke else (0.5, 3.0),
        settle_seconds=0.5 if smoke else 2.0,
        transfer_minor=(100, 200_000),
    )
    return CrashPlan(
        runs=options.runs or 1,
        seed=options.seed,
        accounts=options.accounts or (50 if smoke else 200),
        account_pesos=20_000,
        merchant_pesos=10_000_000,
        operator_delay_ms=1000,
        load=load,
    )


def _stop_on_sigterm() -> None:
    """SIGTERM ends the run as Ctrl-C does, through every cleanup on the way out."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def _cluster(options: argparse.Namespace) -> int:
    from chaos.cluster import command

    state = options.state or command.default_state()
    if options.action == "up":
        return command.up(state, options.base_port)
    if options.action == "down":
        return command.down(state)
    if options.action == "supervise":
        return command.supervise(state, options.base_port)
    return command.status(state, options.base_port)


def _failover_plan(options: argparse.Namespace) -> FailoverPlan:
    smoke = options.smoke
    load = LoadPlan(
        kills=0,
        connections=options.connections,
        topup_connections=2,
        kill_after=(0.0, 0.0),
        settle_seconds=1.0 if smoke else 3.0,
        transfer_minor=(100, 200_000),
    )
    return FailoverPlan(
        runs=options.runs,
        kills=options.kills or (1 if smoke else 5),
        seed=options.seed,
        accounts=options.accounts or (50 if smoke else 200),
        base_port=options.base_port,
        multi_host=options.multi_host,
        smoke=smoke,
        load=load,
        pause=(2.0, 3.0) if smoke else (2.0, 5.0),
        deposit_accounts=8 if smoke else 20,
        wallets=6 if smoke else 12,
    )


def _failover(options: argparse.Namespace, logs: Path) -> bool:
    from chaos.failover import failover_runs
    from chaos.failover_report import failover_report, failover_summary

    results = []
    for result in failover_runs(_failover_plan(options), logs):
        results.append(result)
        print(failover_report(result), flush=True)
    print(failover_summary(results))
    return all(result.ok for result in results)


def main(argv: list[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    if options.command == "cluster":
        return _cluster(options)
    _stop_on_sigterm()
    if options.command == "failover":
        return _run_logged(lambda logs: _failover(options, logs))
    return _run_logged(lambda logs: _crash(options, logs))


def _crash(options: argparse.Namespace, logs: Path) -> bool:
    plan = _plan(options)
    databases = ["sqlite", "postgresql"] if options.db == "both" else [options.db]
    results: list[RunResult] = []
    for db in databases:
        for result in crash_database(db, plan, logs):
            results.append(result)
            print(run_report(result), flush=True)
    print(summary(results))
    return all(result.ok for result in results)


def _run_logged(work: Callable[[Path], bool]) -> int:
    """Run a test with a log directory: removed when it passes or is interrupted, kept
    (and its path printed) otherwise, or always with ``CHAOS_KEEP_LOGS=1``."""
    logs = Path(tempfile.mkdtemp(prefix="caja-chaos-logs-"))
    keep_logs = True
    try:
        passed = work(logs)
        keep_logs = not passed or os.environ.get("CHAOS_KEEP_LOGS") == "1"
        return 0 if passed else 1
    except (RuntimeError, OSError, subprocess.SubprocessError, TimeoutError) as error:
        say(f"error: {error}")
        return 1
    except KeyboardInterrupt:
        keep_logs = False
        say("interrupted")
        return 130
    finally:
        if keep_logs:
            say(f"logs kept in {logs}")
        else:
            shutil.rmtree(logs, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
