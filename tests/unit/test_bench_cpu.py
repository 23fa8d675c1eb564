"""The bench's /proc reader: CPU ticks per process, by role, over a window."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from bench.cpu import CpuUse, Probe, children_us, clock_ticks, parse_stat, read_processes, used


def _stat(pid: int, comm: str, ppid: int, pgrp: int, utime: int, stime: int) -> str:
    # Fields 3 to 13, then utime (14) and stime (15), then the rest of a real line.
    middle = f"S {ppid} {pgrp} {pgrp} 0 -1 4194304 96 0 0 0"
    return f"{pid} ({comm}) {middle} {utime} {stime} 0 0 20 0 1 0 4207434 3133440 360\n"


def _fake_proc(root: Path, processes: list[tuple[int, str, int, int, int, int, bytes]]) -> Path:
    for pid, comm, ppid, pgrp, utime, stime, cmdline in processes:
        directory = root / str(pid)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "stat").write_text(_stat(pid, comm, ppid, pgrp, utime, stime))
        (directory / "cmdline").write_bytes(cmdline)
    (root / "self").mkdir(exist_ok=True)
    (root / "meminfo").write_text("")
    return root


def test_a_stat_line_is_read_past_a_command_name_with_spaces_and_parentheses() -> None:
    stat = parse_stat(_stat(4242, "python3 (x) y", 7, 4200, 1234, 56))
    assert (stat.pid, stat.ppid, stat.pgrp, stat.ticks) == (4242, 7, 4200, 1290)


def test_the_real_proc_holds_this_process_and_its_group() -> None:
    found = read_processes()
    me = found[os.getpid()]
    assert me.pgrp == os.getpgrp()
    assert me.ppid == os.getppid()
    assert me.ticks >= 0
    assert clock_ticks() > 0
    assert children_us() >= 0


def test_used_counts_new_processes_from_zero_and_loses_ended_ones() -> None:
    before = {1: 100, 2: 50, 3: 10}
    after = {1: 130, 2: 20, 4: 7}  # 2 is a new process with a reused pid; 3 ended
    assert used(before, after) == 30 + 20 + 7


def test_the_probe_sorts_server_runner_and_database(tmp_path: Path) -> None:
    server, postmaster = 500, 900
    proc = _fake_proc(
        tmp_path,
        [
            (500, "caja", 1, 500, 10, 5, b"python\x00caja\x00serve\x00"),
            (501, "python3", 500, 500, 200, 20, b"python\x00-c\x00spawn\x00"),
            (
                502,
                "python3",
                500,
                500,
                30,
                3,
                b"python\x00-c\x00import os\x00webhooks\x00run\x00--parent\x00500\x00",
            ),
            (900, "postgres", 1, 900, 40, 4, b"postgres\x00"),
            (901, "postgres", 900, 900, 70, 7, b"postgres: caja\x00"),
            (700, "wrk", 1, 700, 999, 9, b"wrk\x00"),
        ],
    )
    probe = Probe(server, postmaster, proc)
    sample = probe.sample()
    assert sample["server"] == {500: 15, 501: 220}
    assert sample["runner"] == {502: 33}
    assert sample["database"] == {900: 44, 901: 77}
    assert Probe(None, None, proc).sample() == {"server": {}, "runner": {}, "database": {}}


def test_cpu_use_gives_microseconds_per_transfer() -> None:
    cpu = CpuUse(
        ticks_per_second=100, server_ticks=50, runner_ticks=None, database_ticks=20, load_us=9000
    )
    # 50 ticks = 0.5 s over 2,000 transfers: 250 µs each.
    assert cpu.server_us(2000) == pytest.approx(250.0)
    assert cpu.database_us(2000) == pytest.approx(100.0)
    assert cpu.runner_us(2000) is None
    assert cpu.load_us_each(2000) == pytest.approx(4.5)
    assert cpu.server_us(0) is None


def test_measure_reads_the_group_around_the_work_and_the_load_s_own_cpu() -> None:
    import subprocess
    import sys

    from bench.cpu import measure

    def work() -> int:
        burn = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"
        subprocess.run([sys.executable, "-c", burn], check=True, timeout=30)
        return 7

    outcome, cpu = measure(Probe(os.getpgrp(), None), work)
    assert outcome == 7
    assert cpu.server_ticks is not None
    assert cpu.database_ticks is None
    # The child burnt 0.3 s of CPU: counted as the load's, having ended and been waited for.
    assert cpu.load_us >= 250_000
