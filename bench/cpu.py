"""CPU time of the processes under test, from /proc: where a transfer's time goes.

Each process's ``utime + stime`` (fields 14 and 15 of ``/proc/PID/stat``), in clock ticks
(``os.sysconf("SC_CLK_TCK")``, 100 a second on Linux), is read before and after a
measured window; a role's CPU is the sum over its live processes of what each used in
between (a process born during the window counts from zero; one that ended during it is
lost). The roles:

- ``server``: the ``caja serve`` process group (the master and its workers), but not
- ``runner``: the webhook runner, the server's child process ``caja webhooks run``, and its
  sender (``python -m caja.webhooks.sender``);
- ``database``: the PostgreSQL postmaster and every process it started (backends,
  writers, autovacuum); none for SQLite, which runs inside the server.

The load generator (wrk, or pgbench's client) is a child of the bench: its CPU is what
``getrusage(RUSAGE_CHILDREN)`` gains over the window, in microseconds.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

__all__ = [
    "CpuUse",
    "Probe",
    "ProcStat",
    "Sample",
    "children_us",
    "clock_ticks",
    "combined",
    "measure",
    "parse_stat",
    "read_processes",
    "used",
]

PROC = Path("/proc")
SERVER, RUNNER, DATABASE = "server", "runner", "database"
ROLES = (SERVER, RUNNER, DATABASE)
# The webhook runner's command line, `python -c … webhooks run --parent PID`, and its
# sender's, `python -m caja.webhooks.sender SETTINGS`.
RUNNER_MARKS = (b"\x00webhooks\x00run\x00", b"\x00caja.webhooks.sender\x00")

# role -> pid -> ticks used by that process so far.
Sample = dict[str, dict[int, int]]
T = TypeVar("T")


def clock_ticks() -> int:
    """Clock ticks a second: the unit of /proc's CPU times."""
    return int(os.sysconf("SC_CLK_TCK"))


@dataclass(frozen=True, slots=True)
class ProcStat:
    pid: int
    ppid: int
    pgrp: int
    ticks: int


def parse_stat(text: str) -> ProcStat:
    """One ``/proc/PID/stat`` line. The command name (field 2) is in parentheses and may
    hold spaces or parentheses itself: the fields after it start after the last ``)``."""
    head, _, tail = text.rpartition(")")
    pid = int(head.split("(", 1)[0])
    fields = tail.split()
    # fields[0] is field 3 (state): ppid is field 4, pgrp 5, utime 14, stime 15.
    return ProcStat(
        pid=pid, ppid=int(fields[1]), pgrp=int(fields[2]), ticks=int(fields[11]) + int(fields[12])
    )


def read_processes(proc: Path = PROC) -> dict[int, ProcStat]:
    """Every process readable right now; those that end while being read are skipped."""
    found: dict[int, ProcStat] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            found[int(entry.name)] = parse_stat((entry / "stat").read_text())
        except (OSError, ValueError, IndexError):
            continue
    return found


def _is_runner(pid: int, proc: Path) -> bool:
    try:
        found = b"\x00" + (proc / str(pid) / "cmdline").read_bytes() + b"\x00"
    except OSError:
        return False
    return any(mark in found for mark in RUNNER_MARKS)


class Probe:
    """Samples the CPU of the server's process group and of the database's processes.

    ``server_group`` is the process group id of ``caja serve`` (its pid: it runs in a
    session of its own); ``postmaster`` the PostgreSQL postmaster's pid. Either may be
    None: that role is then not measured.
    """

    def __init__(self, server_group: int | None, postmaster: int | None, proc: Path = PROC) -> None:
        self.server_group = server_group
        self.postmaster = postmaster
        self.proc = proc
        self._runners: dict[int, bool] = {}

    def _role(self, stat: ProcStat) -> str | None:
        if self.server_group is not None and stat.pgrp == self.server_group:
            if stat.pid not in self._runners:
                self._runners[stat.pid] = _is_runner(stat.pid, self.proc)
            return RUNNER if self._runners[stat.pid] else SERVER
        if self.postmaster is not None and self.postmaster in (stat.pid, stat.ppid):
            return DATABASE
        return None

    def sample(self) -> Sample:
        found: Sample = {role: {} for role in ROLES}
        for stat in read_processes(self.proc).values():
            role = self._role(stat)
            if role is not None:
                found[role][stat.pid] = stat.ticks
        return found

    def measured(self, role: str) -> bool:
        if role == DATABASE:
            return self.postmaster is not None
        return self.server_group is not None


def used(before: dict[int, int], after: dict[int, int]) -> int:
    """Ticks the processes alive at ``after`` used since ``before`` (0 before for a new
    one; a process whose pid was reused, with fewer ticks than before, counts from 0)."""
    total = 0
    for pid, ticks in after.items():
        earlier = before.get(pid, 0)
        total += ticks - earlier if ticks >= earlier else ticks
    return total


def children_us() -> int:
    """CPU microseconds of the bench's children that have ended and been waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return round((usage.ru_utime + usage.ru_stime) * 1_000_000)


@dataclass(frozen=True, slots=True)
class CpuUse:
    """CPU used during one measured window: ticks per role (None when not measured),
    and the load generator's microseconds."""

    ticks_per_second: int
    server_ticks: int | None
    runner_ticks: int | None
    database_ticks: int | None
    load_us: int

    def _us(self, ticks: int | None, count: int) -> float | None:
        if ticks is None or count <= 0:
            return None
        return ticks * 1_000_000 / self.ticks_per_second / count

    def server_us(self, count: int) -> float | None:
        """Server microseconds per transfer (or request) of ``count``."""
        return self._us(self.server_ticks, count)

    def runner_us(self, count: int) -> float | None:
        return self._us(self.runner_ticks, count)

    def database_us(self, count: int) -> float | None:
        return self._us(self.database_ticks, count)

    def load_us_each(self, count: int) -> float | None:
        return None if count <= 0 else self.load_us / count


def _total(values: list[int | None]) -> int | None:
    """The sum of the windows' ticks of one role; None when it was never measured."""
    known = [value for value in values if value is not None]
    return sum(known) if known else None


def combined(uses: list[CpuUse]) -> CpuUse:
    """The CPU of several measured windows taken as one."""
    return CpuUse(
        ticks_per_second=uses[0].ticks_per_second,
        server_ticks=_total([use.server_ticks for use in uses]),
        runner_ticks=_total([use.runner_ticks for use in uses]),
        database_ticks=_total([use.database_ticks for use in uses]),
        load_us=sum(use.load_us for use in uses),
    )


def measure(probe: Probe, work: Callable[[], T]) -> tuple[T, CpuUse]:
    """Run ``work`` (which runs the load generator to its end) between two samples."""
    before, load_before = probe.sample(), children_us()
    outcome = work()
    after, load_after = probe.sample(), children_us()

    def ticks(role: str) -> int | None:
        return used(before[role], after[role]) if probe.measured(role) else None

    runner = ticks(RUNNER)
    cpu = CpuUse(
        ticks_per_second=clock_ticks(),
        server_ticks=ticks(SERVER),
        runner_ticks=runner if runner or after[RUNNER] else None,
        database_ticks=ticks(DATABASE),
        load_us=load_after - load_before,
    )
    return outcome, cpu
