"""``python -m bench``: benchmark the ledger's transfer endpoint (and the electronic deposit
surface's) end to end, print a table.

Starts caja's server on a fresh database (SQLite, a throwaway PostgreSQL, or both), makes
the accounts in-process, loads the server with wrk from a separate process, compares it
with an endpoint that does nothing and with pgbench, and checks the ledger with
``caja verify``. See bench/README.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit, urlunsplit

from bench.goals import evaluate, goal_lines
from bench.load import WORKLOADS, find_wrk
from bench.postgres import is_loopback
from bench.report import DatabaseResult, as_json, markdown, table
from bench.run import Plan, Tags, bench_database, say

MAX_CONNECTIONS = 256
MAX_SECONDS = 3600
MAX_ACCOUNTS = 1_000_000
MAX_PGBENCH_SCALE = 1000


def _connection_counts(text: str) -> list[int]:
    try:
        numbers = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of whole numbers: {text!r}") from None
    if not numbers or any(not 1 <= number <= MAX_CONNECTIONS for number in numbers):
        raise argparse.ArgumentTypeError(f"give numbers from 1 to {MAX_CONNECTIONS}")
    return list(dict.fromkeys(numbers))


def _workloads(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names or not set(names) <= set(WORKLOADS):
        raise argparse.ArgumentTypeError(f"workloads are among {', '.join(WORKLOADS)}")
    return list(dict.fromkeys(names))


def _whole(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"give a whole number from {low} to {high}")
        return value

    return parse


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark POST /api/ledger/v1/public/transaction (and, for the deposit "
        "workload, POST /api/coopcentral/v1/transactions/create) end to end: caja serve "
        "on a fresh database, loaded by wrk, compared with an empty endpoint and pgbench, "
        "then caja verify. Exits 1 when any error is counted or the ledger does not check.",
    )
    add = parser.add_argument
    add("--db", choices=["sqlite", "postgresql", "both"], default="both", help="(default: both)")
    add(
        "--postgres-url",
        help="use this PostgreSQL database (on 127.0.0.1 or localhost) instead of a throwaway "
        "cluster; the bench adds its client, accounts and transfers to it, and runs pgbench "
        "in the database 'pgbench' of the same server (created if missing)",
    )
    add(
        "--workers",
        type=_whole(1, 64),
        help="caja serve --workers, for every database (default: 2, one per core)",
    )
    add(
        "--workloads",
        type=_workloads,
        default=list(WORKLOADS),
        help=f"comma-separated, among {', '.join(WORKLOADS)} (default: all)",
    )
    add(
        "--connections",
        type=_connection_counts,
        default=[1, 16, 64],
        help="comma-separated connection counts (default: 1,16,64)",
    )
    add(
        "--bulk-connections",
        type=_connection_counts,
        default=[4],
        help="connection counts of the bulk workloads, which send 1,000 transfers per "
        "request; the empty endpoint and pgbench also run at these (default: 4)",
    )
    numbers = [
        ("--duration", 1, MAX_SECONDS, 15, "measured seconds per run"),
        ("--warmup", 0, MAX_SECONDS, 2, "unmeasured seconds of the same load before each run"),
        ("--accounts", 2, MAX_ACCOUNTS, 10_000, "customer accounts made before the load"),
        (
            "--rounds",
            1,
            MAX_SECONDS,
            5,
            "with webhook modes: spread and they run in this many interleaved rounds, "
            "each of --duration / ROUNDS seconds (at least 1), added into one run each",
        ),
    ]
    for flag, low, high, default, meaning in numbers:
        add(flag, type=_whole(low, high), default=default, help=f"{meaning} (default: {default})")
    add(
        "--pgbench-scale",
        type=_whole(1, MAX_PGBENCH_SCALE),
        help="pgbench -i --scale (default: the largest connection count)",
    )
    add(
        "--pgbench-init-steps",
        help="pgbench -i --init-steps, e.g. dtGvp to generate the data server-side "
        "(default: pgbench's own, dtgvp)",
    )
    add("--json", type=Path, help="also write every figure to this file as JSON")
    add("--markdown", type=Path, help="also write the tables to this file as markdown")
    add(
        "--smoke",
        action="store_true",
        help="a short check for CI: both databases, every workload and the empty endpoint at "
        "16 connections (the bulk ones at 4) for 2 s without warm-up, 1000 accounts, "
        "pgbench scale 1; overrides the options above but --postgres-url, --workers, "
        "--json and --markdown",
    )
    return parser


def _plan(options: argparse.Namespace) -> Plan:
    if options.smoke:
        options.db, options.workloads, options.connections = "both", list(WORKLOADS), [16]
        options.bulk_connections = [4]
        options.duration, options.warmup, options.accounts = 2, 0, 1000
        options.pgbench_scale, options.pgbench_init_steps = 1, None
    if options.postgres_url and not is_loopback(options.postgres_url):
        raise SystemExit("--postgres-url: the bench only targets 127.0.0.1 or localhost")
    return Plan(
        databases=["sqlite", "postgresql"] if options.db == "both" else [options.db],
        postgres_url=options.postgres_url,
        workers=options.workers,
        workloads=options.workloads,
        connections=options.connections,
        duration=options.duration,
        warmup=options.warmup,
        accounts=options.accounts,
        pgbench_scale=options.pgbench_scale or max(options.connections),
        pgbench_init_steps=options.pgbench_init_steps,
        bulk_connections=options.bulk_connections,
        rounds=options.rounds,
    )


def _stop_on_sigterm() -> None:
    """SIGTERM ends the run as Ctrl-C does, through every cleanup on the way out."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


@contextmanager
def _directories() -> Iterator[tuple[Path, Path]]:
    """A work directory, always removed, and a log directory kept if the run fails."""
    work = Path(tempfile.mkdtemp(prefix="caja-bench-"))
    logs = Path(tempfile.mkdtemp(prefix="caja-bench-logs-"))
    keep_logs = True
    try:
        yield work, logs
        keep_logs = False
    except KeyboardInterrupt:
        keep_logs = False
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if keep_logs:
            say(f"server logs kept in {logs}")
        else:
            shutil.rmtree(logs, ignore_errors=True)


def _described(plan: Plan) -> dict[str, object]:
    """The plan for the JSON output, without the password of --postgres-url."""
    described: dict[str, object] = dataclasses.asdict(plan)
    if plan.postgres_url:
        parts = urlsplit(plan.postgres_url)
        if parts.password is not None:
            host = parts.netloc.rsplit("@", 1)[-1]
            netloc = f"{parts.username}:***@{host}"
            described["postgres_url"] = urlunsplit(parts._replace(netloc=netloc))
    return described


class Failed(Exception):
    """The run finished, but counted errors or found the ledger wrong."""


def _report(
    results: list[DatabaseResult], options: argparse.Namespace, run: dict[str, object]
) -> None:
    for result in results:
        print(table(result))
        print()
    print("Against the goals (informative: they do not set the exit status):")
    for line in goal_lines(evaluate(results)):
        print(f"  {line}")
    print()
    print(f"total wall time {run['wall_seconds']:.0f} s")
    for result in results:
        if result.errors:
            print(f"FAILED: {result.errors} errors counted on {result.db}")
        if result.verify is None or not result.verify.ok:
            print(f"FAILED: caja verify on {result.db}")
        if result.accounted is False:
            print(f"FAILED: the {result.db} ledger does not hold what was answered 201")
    if options.json:
        options.json.write_text(json.dumps(as_json(results, run), indent=2) + "\n")
    if options.markdown:
        options.markdown.write_text(markdown(results, "## Transfer benchmark"))


def main(argv: list[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    plan = _plan(options)
    find_wrk()
    _stop_on_sigterm()
    tags = Tags()
    started = time.perf_counter()
    results: list[DatabaseResult] = []
    try:
        with _directories() as (work, logs):
            for db in plan.databases:
                say(f"{db}: run {tags.run_id}")
                results.append(bench_database(db, plan, work / db, logs, tags))
            run = {
                "run_id": tags.run_id,
                "wall_seconds": time.perf_counter() - started,
                "plan": _described(plan),
            }
            _report(results, options, run)
            if any(result.failed for result in results):
                raise Failed
    except Failed:
        return 1
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        for result in results:
            print(table(result), end="\n\n")
        say(f"error: {error}")
        return 1
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
