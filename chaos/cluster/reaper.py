"""Reaping the PostgreSQL processes that a killed Patroni leaves behind.

Patroni starts PostgreSQL as its own child and, once started again, adopts a postmaster
that is still running. When Patroni dies, its children are re-parented; a PostgreSQL that
dies afterwards stays a zombie until its new parent reaps it, and while it is a zombie
Patroni (which asks whether the postmaster's pid is alive) believes it alive and does not
fail over. So the process that runs Patroni makes itself a *child subreaper*
(``PR_SET_CHILD_SUBREAPER``): orphans of its descendants become its children, not
init's; and a thread reaps every zombie among them at once.
"""

from __future__ import annotations

import ctypes
import os
import pwd
import threading
from collections.abc import Callable
from pathlib import Path

from chaos.procfs import process_states

__all__ = ["Reaper", "become_subreaper"]

PR_SET_CHILD_SUBREAPER = 36
# Patroni checks its postmaster every loop_wait (2 s): reaping within 0.1 s is prompt.
REAP_INTERVAL_SECONDS = 0.1


def become_subreaper() -> None:
    """Orphaned descendants of this process become its children (Linux only)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def _zombie_children() -> list[int]:
    """The pids of this process's children that have exited and wait to be reaped.

    Read from /proc (``/proc/<pid>/task/<tid>/children`` is not in every kernel).
    """
    me = os.getpid()
    pids: list[int] = []
    for pid, fields in process_states():
        if len(fields) > 1 and fields[0] == "Z" and int(fields[1]) == me:
            pids.append(pid)
    return pids


def _owner(pid: int) -> int | None:
    try:
        return (Path("/proc") / str(pid)).stat().st_uid
    except OSError:
        return None


class Reaper:
    """A daemon thread reaping zombie children that run as the ``postgres`` user (the
    orphaned PostgreSQL processes), except the pids ``owned()`` names: those have a
    ``Popen`` of their own that reaps them."""

    def __init__(self, owned: Callable[[], set[int]], user: str = "postgres") -> None:
        self._owned = owned
        self._uid = pwd.getpwnam(user).pw_uid if os.geteuid() == 0 else os.geteuid()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reaper", daemon=True)
        self.reaped = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)

    def reap_once(self) -> None:
        owned = self._owned()
        for pid in _zombie_children():
            if pid in owned or _owner(pid) != self._uid:
                continue
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    self.reaped += 1
            except ChildProcessError:
                pass

    def _run(self) -> None:
        while not self._stop.wait(REAP_INTERVAL_SECONDS):
            self.reap_once()
