"""PostgreSQL's own pgbench (built-in TPC-B) on the same server: the database's ceiling."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from bench import programs
from bench.cpu import CpuUse
from bench.postgres import pg_binary

__all__ = ["PgbenchRun", "initialize", "percentile", "run"]

_TPS = re.compile(r"^tps = ([0-9.]+)", re.MULTILINE)
_FAILED = re.compile(r"^number of failed transactions: (\d+)", re.MULTILINE)
_AVERAGE = re.compile(r"^latency average = ([0-9.]+) ms", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class PgbenchRun:
    connections: int
    tps: float
    transactions: int
    failed: int
    p50_ms: float | None
    p99_ms: float | None
    # pgbench's own "latency average", in ms.
    average_ms: float | None = None
    # CPU used during the run (the database's, and pgbench's as the load), when measured.
    cpu: CpuUse | None = None

    def database_us(self) -> float | None:
        """The database's CPU µs per transaction."""
        return None if self.cpu is None else self.cpu.database_us(self.transactions)

    def load_us(self) -> float | None:
        """pgbench's own CPU µs per transaction."""
        return None if self.cpu is None else self.cpu.load_us_each(self.transactions)


def initialize(url: str, scale: int, init_steps: str | None, timeout: float) -> float:
    """``pgbench -i -s scale`` (``--init-steps`` if given); returns the seconds it took."""
    steps = ["--init-steps", init_steps] if init_steps else []
    started = time.perf_counter()
    programs.run(
        [pg_binary("pgbench"), "--initialize", "--scale", str(scale), "--quiet", *steps, url],
        timeout,
    )
    return time.perf_counter() - started


def percentile(sorted_values: list[int], rank: int) -> int | None:
    """The nearest-rank percentile of already sorted values; None when there are none."""
    if not sorted_values:
        return None
    index = max(0, -(-rank * len(sorted_values) // 100) - 1)
    return sorted_values[index]


def _latencies_us(log_dir: Path) -> list[int]:
    """Per-transaction latencies from ``pgbench -l`` logs: the third field, in µs."""
    found: list[int] = []
    for log in log_dir.glob("pgbench_log*"):
        with log.open() as lines:
            found.extend(int(line.split()[2]) for line in lines if line.strip())
    return found


def run(url: str, connections: int, seconds: int, log_dir: Path) -> PgbenchRun:
    """``pgbench -c C -j min(C, 2) -T seconds``, default (simple) protocol, TPC-B."""
    log_dir.mkdir(parents=True)
    finished = programs.run(
        [
            pg_binary("pgbench"),
            "--client",
            str(connections),
            "--jobs",
            str(min(connections, 2)),
            "--time",
            str(seconds),
            "--log",
            f"--log-prefix={log_dir / 'pgbench_log'}",
            url,
        ],
        seconds + 120,
    )
    tps = _TPS.search(finished.stdout)
    if tps is None:
        raise RuntimeError(f"no tps in pgbench output: {finished.stdout.strip()}")
    failed = _FAILED.search(finished.stdout)
    average = _AVERAGE.search(finished.stdout)
    latencies = sorted(_latencies_us(log_dir))
    p50 = percentile(latencies, 50)
    p99 = percentile(latencies, 99)
    return PgbenchRun(
        connections=connections,
        tps=float(tps.group(1)),
        transactions=len(latencies),
        failed=int(failed.group(1)) if failed else 0,
        p50_ms=None if p50 is None else p50 / 1000,
        p99_ms=None if p99 is None else p99 / 1000,
        average_ms=float(average.group(1)) if average else None,
    )
