"""Load from a separate process: wrk with bench/transfer.lua, one run per (workload, conns)."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from bench import programs

__all__ = [
    "DEPOSIT",
    "DEPOSIT_PATH",
    "EMPTY",
    "EXPECTED",
    "HOOK_DEAD",
    "HOOK_OK",
    "TRANSFER_PATH",
    "WORKLOADS",
    "LoadRun",
    "find_wrk",
    "run_wrk",
    "write_accounts_file",
]

SCRIPT = Path(__file__).with_name("transfer.lua")
TRANSFER_PATH = "/api/ledger/v1/public/transaction"
DEPOSIT_PATH = "/api/coopcentral/v1/transactions/create"
EMPTY_PATH = "/_bench/empty"
MARKER = "BENCH-JSON "
REQUEST_TIMEOUT = "5s"

DEPOSIT = "deposit"
# spread with an endpoint subscribed to every transfer: answering 200, or dead.
HOOK_OK = "webhook-200"
HOOK_DEAD = "webhook-dead"
WORKLOADS = ("spread", "hot", "replay", DEPOSIT, HOOK_OK, HOOK_DEAD)
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
    EMPTY: frozenset({200}),
}
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

    @property
    def expected(self) -> int:
        """Responses with an expected status: transfers made or replayed, or empty answers."""
        return sum(self.statuses.get(status, 0) for status in EXPECTED[self.workload])

    @property
    def errors(self) -> int:
        unexpected = sum(
            count
            for status, count in self.statuses.items()
            if status not in EXPECTED[self.workload]
        )
        return unexpected + sum(self.socket_errors.values())

    @property
    def per_second(self) -> float:
        return self.expected / self.seconds if self.seconds > 0 else 0.0

    @property
    def posted_per_transfer(self) -> int:
        """Ledger transfers each new transfer of this workload posts (none for ``empty``)."""
        if self.workload == EMPTY:
            return 0
        return POSTED_PER_TRANSFER.get(self.workload, 1)


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
        REQUEST_TIMEOUT,
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
    )
