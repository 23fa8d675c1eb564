"""The processes of this machine as /proc shows them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

__all__ = ["process_states"]


def process_states() -> Iterator[tuple[int, list[str]]]:
    """Each process's pid and the fields of its ``/proc/<pid>/stat`` after the command
    name: state, parent pid, process group, …"""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces: split after it.
        yield int(entry.name), stat.rsplit(")", 1)[-1].split()
