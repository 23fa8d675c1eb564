"""Load from a separate process: wrk with bench/transfer.lua, one run per (workload, conns)."""

from __future__ import annotations

import json
import shutil
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import programs
from bench.cpu import CpuUse
from bench.cpu import combined as combined_cpu

__all__ = [
    "BULK",
    "BULK_ATOMIC",
    "BULK_ITEMS",
    "BULK_PATH",
    "BULK_WORKLOADS",
    "DEPOSIT",
    "DEPOSIT_PATH",
    "EMPTY",
    "EXPECTED",
    "HOOK_DEAD",
    "HOOK_OK",
    "TRANSFER_PATH",
    "WORKLOADS",
    "LoadRun",
    "combined",
    "find_wrk",
    "run_wrk",
    "write_accounts_file",
]

SCRIPT = Path(__file__).with_name("transfer.lua")
TRANSFER_PATH = "/api/ledger/v1/public/transaction"
DEPOSIT_PATH = "/api/coopcentral/v1/transactions/create"
BULK_PATH = "/api/ledger/v1/public/transaction/batch"
EMPTY_PATH = "/_bench/empty"
MARKER = "BENCH-JSON "
REQUEST_TIMEOUT = "5s"
# A request of 1,000 transfers takes far longer than one: wrk waits this long for it.
BULK_REQUEST_TIMEOUT = "60s"

DEPOSIT = "deposit"
# spread with an endpoint subscribed to every transfer: answering 200, or dead.
HOOK_OK = "webhook-200"
HOOK_DEAD = "webhook-dead"
# 1,000 spread transfers per request to the batch endpoint, each applied on its own, or
# all or none.
BULK = "bulk"
BULK_ATOMIC = "bulk-atomic"
BULK_WORKLOADS = (BULK, BULK_ATOMIC)
BULK_ITEMS = 1000
WORKLOADS = ("spread", "hot", "replay", DEPOSIT, HOOK_OK, HOOK_DEAD, BULK, BULK_ATOMIC)
EMPTY = "empty"
# The workloads that send spread's bodies.
SPREAD_BODIES = (EMPTY, HOOK_OK, HOOK_DEAD)
# The statuses each workload expects; anything else counts as an error.
EXPECTED: dict[str, frozenset[int]] = {
    "spread": frozenset({201}),
    "hot": frozenset({201}),
    "replay": frozenset({201, 208}),
    DEPOSIT: frozenset({201}),
    HOOK_OK: frozenset({201}),
    HOOK_DEAD: frozenset({201}),
    BULK: frozenset({200}),
    BULK_ATOMIC: frozenset({200}),
    EMPTY: frozenset({200}),
}
# The statuses expected of each item of a batch answered 200: a new transfer, or (were a
# token ever sent twice) its replay.
ITEM_EXPECTED = frozenset({201, 208})
# Ledger transfers one new transfer posts: a deposit transfer also posts its fee.
POSTED_PER_TRANSFER: dict[str, int] = {DEPOSIT: 2}


@dataclass(frozen=True, slots=True)
class LoadRun:
    workload: str
    connections: int
    seconds: float
    requests: int
    statuses: dict[int, int]
    socket_errors: dict[str, int]
    replays_sent: int
    p50_ms: float
    p99_ms: float
    # Bulk workloads: the items of the batches answered 200, by their own status.
    items: dict[int, int] = field(default_factory=dict)
    # CPU used during the run, when measured.
    cpu: CpuUse | None = None
    # wrk runs added into this one (interleaved rounds): each may leave requests in flight.
    segments: int = 1

    @property
    def is_bulk(self) -> bool:
        return self.workload in BULK_WORKLOADS

    @property
    def expected(self) -> int:
        """Transfers made or replayed (for a bulk workload, the items of batches answered
        200), or empty answers."""
        if self.is_bulk:
            return sum(self.items.get(status, 0) for status in ITEM_EXPECTED)
        return sum(self.statuses.get(status, 0) for status in EXPECTED[self.workload])

    @property
    def created(self) -> int:
        """Transfers answered 201: responses, or items of a batch."""
        return (self.items if self.is_bulk else self.statuses).get(201, 0)

    @property
    def errors(self) -> int:
        """Responses with another status (a whole batch counts as one), items of a batch
        with another status, and socket errors."""
        unexpected = sum(
            count
            for status, count in self.statuses.items()
            if status not in EXPECTED[self.workload]
        )
        failed_items = sum(
            count for status, count in self.items.items() if status not in ITEM_EXPECTED
        )
        return unexpected + failed_items + sum(self.socket_errors.values())

    @property
    def per_second(self) -> float:
        return self.expected / self.seconds if self.seconds > 0 else 0.0

    @property
    def posted_per_transfer(self) -> int:
        """Ledger transfers each new transfer of this workload posts (none for ``empty``)."""
        if self.workload == EMPTY:
            return 0
        return POSTED_PER_TRANSFER.get(self.workload, 1)

    @property
    def posted_per_request(self) -> int:
        """Ledger transfers one request may post: a batch's items, or one transfer's."""
        return BULK_ITEMS if self.is_bulk else self.posted_per_transfer

    def server_us(self) -> float | None:
        """Server CPU µs per transfer (per request for ``empty``)."""
        return None if self.cpu is None else self.cpu.server_us(self.expected)

    def database_us(self) -> float | None:
        return None if self.cpu is None else self.cpu.database_us(self.expected)

    def runner_us(self) -> float | None:
        return None if self.cpu is None else self.cpu.runner_us(self.expected)

    def load_us(self) -> float | None:
        """wrk's CPU µs per transfer (per request for ``empty``)."""
        return None if self.cpu is None else self.cpu.load_us_each(self.expected)


def _added(counts: list[dict[Any, int]]) -> dict[Any, int]:
    total: Counter[Any] = Counter()
    for each in counts:
        total.update(each)
    return dict(total)


def combined(runs: list[LoadRun]) -> LoadRun:
    """Runs of one workload at one connection count, in segments, taken as one run: their
    counts and seconds added, the median of their p50s and the highest of their p99s
    (wrk reports percentiles, not the latencies, so none can be merged exactly)."""
    uses = [run.cpu for run in runs if run.cpu is not None]
    return LoadRun(
        workload=runs[0].workload,
        connections=runs[0].connections,
        seconds=sum(run.seconds for run in runs),
        requests=sum(run.requests for run in runs),
        statuses=_added([run.statuses for run in runs]),
        socket_errors=_added([run.socket_errors for run in runs]),
        replays_sent=sum(run.replays_sent for run in runs),
        p50_ms=statistics.median(run.p50_ms for run in runs),
        p99_ms=max(run.p99_ms for run in runs),
        items=_added([run.items for run in runs]),
        cpu=combined_cpu(uses) if len(uses) == len(runs) else None,
        segments=sum(run.segments for run in runs),
    )


def find_wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    return found


def write_accounts_file(path: Path, api_key: str, account_tokens: list[str]) -> None:
    """The file transfer.lua reads in ``init``: the API key, then one token a line."""
    path.write_text("\n".join([api_key, *account_tokens]) + "\n")


def _path(workload: str) -> str:
    if workload == EMPTY:
        return EMPTY_PATH
    if workload in BULK_WORKLOADS:
        return BULK_PATH
    return DEPOSIT_PATH if workload == DEPOSIT else TRANSFER_PATH


def run_wrk(
    base_url: str,
    workload: str,
    connections: int,
    seconds: int,
    accounts_file: Path,
    tag: str,
) -> LoadRun:
    """One wrk run; ``tag`` must be unique to this run (it prefixes transfer tokens).
    ``accounts_file`` holds the deposit client and accounts for ``deposit``."""
    # The empty endpoint and the webhook modes get the same bodies as a spread of transfers.
    mode = "spread" if workload in SPREAD_BODIES else workload
    command = [
        find_wrk(),
        "--threads",
        str(min(connections, 2)),
        "--connections",
        str(connections),
        "--duration",
        f"{seconds}s",
        "--timeout",
        BULK_REQUEST_TIMEOUT if workload in BULK_WORKLOADS else REQUEST_TIMEOUT,
        "--latency",
        "--script",
        str(SCRIPT),
        f"{base_url}{_path(workload)}",
        "--",
        str(accounts_file),
        mode,
        tag,
    ]
    finished = programs.run(command, seconds + 60)
    return _parse(workload, connections, finished.stdout)


def _parse(workload: str, connections: int, output: str) -> LoadRun:
    for line in output.splitlines():
        if line.startswith(MARKER):
            figures = json.loads(line.removeprefix(MARKER))
            break
    else:
        raise RuntimeError(f"no {MARKER.strip()} line in wrk output:\n{output}")
    return LoadRun(
        workload=workload,
        connections=connections,
        seconds=figures["duration_us"] / 1_000_000,
        requests=figures["requests"],
        statuses={int(status): count for status, count in figures["statuses"].items()},
        socket_errors=dict(figures["socket_errors"]),
        replays_sent=figures["replays_sent"],
        p50_ms=figures["p50_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        items={int(status): count for status, count in figures.get("items", {}).items()},
    )
