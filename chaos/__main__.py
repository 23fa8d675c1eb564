"""``python -m chaos crash``: the crash test (see chaos/README.md).

Exits 0 when every run passed, 1 when any check found a violation or a run could not
finish, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from chaos.crash import CrashPlan, RunResult, crash_database, say
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
    return parser


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


def main(argv: list[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    plan = _plan(options)
    databases = ["sqlite", "postgresql"] if options.db == "both" else [options.db]
    _stop_on_sigterm()
    logs = Path(tempfile.mkdtemp(prefix="caja-chaos-logs-"))
    results: list[RunResult] = []
    keep_logs = True
    try:
        for db in databases:
            for result in crash_database(db, plan, logs):
                results.append(result)
                print(run_report(result), flush=True)
        print(summary(results))
        keep_logs = not all(result.ok for result in results)
        return 0 if not keep_logs else 1
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
