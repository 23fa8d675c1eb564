"""Graceful drain: on SIGTERM a server first says it is not ready, then stops.

uvicorn stops at once on SIGTERM: it closes its listening socket and its idle
keep-alive connections, answers what is in flight and runs the lifespan's shut-down. A
load balancer that learns of it only then may already have sent a request on one of
those connections, and it does not (and should not) send a POST again. So ``caja
serve`` drains first: SIGTERM marks the process draining (``/readyz`` answers 503 and
every answer closes its connection) and reaches uvicorn only ``seconds`` later, once
the load balancer's health check has taken the server out of rotation.

The flag is the process's own: each worker drains when it gets its SIGTERM.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["drain_on_sigterm", "draining"]

log = logging.getLogger("caja.http.drain")

_draining = False


def draining() -> bool:
    """Whether this process got SIGTERM and is about to stop."""
    return _draining


@contextmanager
def drain_on_sigterm(seconds: float) -> Iterator[None]:
    """Within the block, SIGTERM starts a drain and reaches the handler installed before
    it (uvicorn's) ``seconds`` later; a second SIGTERM changes nothing. Outside the
    main thread, or with no handler to pass the signal on to, nothing changes."""
    previous = signal.getsignal(signal.SIGTERM)
    if threading.current_thread() is not threading.main_thread() or not callable(previous):
        yield
        return
    loop = asyncio.get_running_loop()

    def on_sigterm(signum: int, _frame: FrameType | None) -> None:
        global _draining
        if _draining:
            return
        _draining = True
        log.info("SIGTERM: not ready, stopping in %.1f s", seconds)
        loop.call_soon_threadsafe(loop.call_later, seconds, previous, signum, None)

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
