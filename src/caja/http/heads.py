"""``caja serve``'s HTTP protocol: uvicorn's, with a deadline on each request head and a
cap on open connections.

uvicorn closes an idle keep-alive connection, but nothing closes a connection that never
sends its request head (or sends it a byte at a time): enough of them use up the
process's file descriptors and no real client gets in. Here a connection has
``CAJA_HEADER_TIMEOUT_SECONDS`` to send a complete head, from the moment it is accepted
and, for each later request, from the end of the first read that did not hold its whole
head, or it is closed. And once the process holds :func:`connection_cap` connections,
each new one closes the oldest connection still waiting for its head, so a flood of
silent connections cannot keep a real client out even before their deadline: a real
client sends its head at once.

uvicorn's ``limit_concurrency`` would not do: it counts silent connections too, and
answers real requests 503 while they are open.

The waiting connections are this process's own, kept in insertion order.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import resource

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from caja.config import serve_settings
from caja.http.drain import draining

__all__ = ["GuardedHttpProtocol", "connection_cap"]

log = logging.getLogger("caja.http.heads")

# File descriptors left for what is not a client connection: the database's, log files,
# pipes between workers.
RESERVED_DESCRIPTORS = 128

_waiting: dict[GuardedHttpProtocol, None] = {}


@functools.cache
def connection_cap() -> int:
    """Connections this process keeps open at most: its file-descriptor limit, less
    what it needs for the rest (at least half of the limit for connections)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1_000_000
    return max(soft - RESERVED_DESCRIPTORS, soft // 2)


@functools.cache
def _head_timeout() -> float:
    return serve_settings().header_timeout_seconds


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a head deadline, the cap, and, while the
    process drains, answers that close their connection."""

    _head_timer: asyncio.TimerHandle | None = None
    _in_head = False  # between the first byte of a request and the end of its head

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()
        if len(self.connections) > connection_cap():
            _close_oldest_waiting(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # A head that came whole costs no timer; one that did not gets its deadline.
        if self._in_head and self._head_timer is None:
            self._await_head()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._stop_waiting()
        super().on_headers_complete()
        if draining() and self.cycle is not None:
            self.cycle.keep_alive = False

    def _await_head(self) -> None:
        self._head_timer = self.loop.call_later(_head_timeout(), self._head_late)
        _waiting[self] = None

    def _stop_waiting(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        _waiting.pop(self, None)

    def _head_late(self) -> None:
        self._head_timer = None
        _waiting.pop(self, None)
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined head waits behind a request still being answered: it gets
            # another period.
            self._await_head()
            return
        log.debug("closing a connection that sent no request head in time")
        self.transport.close()


def _close_oldest_waiting(newcomer: GuardedHttpProtocol) -> None:
    for connection in _waiting:
        if connection is not newcomer:
            connection._stop_waiting()
            connection.transport.close()
            return
