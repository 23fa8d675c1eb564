"""Request ids, the request duration histogram and the JSON request log.

A pure ASGI middleware: it wraps ``send`` to learn the status and add the
``X-Request-ID`` header, and reads the matched route from the scope once the app has
answered. It adds a few microseconds to a request (see docs/operations.md).

The request log goes to standard error, one JSON object per line. It does not go
through :mod:`logging` (a logging call costs more than the rest of the middleware
together): :class:`RequestLog` keeps the entries of the last few milliseconds and
writes them together, in writes of at most ``PIPE_BUF`` bytes so that lines of several
worker processes sharing one pipe never interleave. An entry waits at most
``FLUSH_AFTER`` seconds, and whatever is pending is written when the process exits
normally. Only the path is logged, never the query string, a header or a body.

An exception that escapes the app is answered 500 by Starlette's outermost middleware,
which sends its response without this middleware's header; the request log line and the
app's error log line still carry the request id.
"""

from __future__ import annotations

import asyncio
import atexit
import random
import re
import sys
import time
from typing import Any

import orjson
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from caja.core import metrics
from caja.logs import request_id, timestamp

__all__ = [
    "REQUEST_ID_HEADER",
    "UNMATCHED",
    "Entry",
    "ObserveMiddleware",
    "RequestLog",
    "format_entries",
    "request_log",
    "write_chunks",
]

REQUEST_ID_HEADER = "X-Request-ID"
UNMATCHED = "unmatched"
FLUSH_AFTER = 0.05
_WRITE_MAX = 4096  # PIPE_BUF on Linux: writes up to this size to a pipe are atomic
_BATCH = 64
_HEADER_KEY = REQUEST_ID_HEADER.lower().encode("latin-1")
_VALID_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
_MAX_LOGGED_PATH = 1024


# time_ns, request id, method, path, route template, status, duration in µs, client
Entry = tuple[int, str, str, str, str, int, int, str | None]


class RequestLog:
    """Request log entries, written to standard error a few milliseconds' worth at a time.

    An entry is kept as a tuple and formatted only when the batch is written, after
    ``_BATCH`` entries, ``FLUSH_AFTER`` seconds or at exit, whichever comes first.
    """

    def __init__(self) -> None:
        self._entries: list[Entry] = []
        self._due = 0.0  # perf_counter time by which the pending entries must be written
        self._timer: asyncio.TimerHandle | None = None

    def add(self, entry: Entry, now: float) -> None:
        """Keep ``entry``; ``now`` is ``time.perf_counter()``."""
        entries = self._entries
        if not entries:
            self._due = now + FLUSH_AFTER
            self._schedule()
        entries.append(entry)
        if len(entries) >= _BATCH or now >= self._due:
            self.flush()

    def _schedule(self) -> None:
        if self._timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._timer = loop.call_later(FLUSH_AFTER, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.flush()

    def flush(self) -> None:
        """Write every pending entry now."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._entries:
            return
        entries = self._entries
        self._entries = []
        write_chunks(format_entries(entries))


def entry_fields(entry: Entry) -> dict[str, Any]:
    """The fields of one request's log line."""
    time_ns, rid, method, path, route, status, micros, client = entry
    return {
        "ts": timestamp(time_ns),
        "level": "info",
        "event": "request",
        "request_id": rid,
        "method": method,
        "path": path,
        "route": route,
        "status": status,
        "duration_ms": micros / 1000,
        "client": client,
    }


def format_entries(entries: list[Entry]) -> list[bytes]:
    """The JSON lines of ``entries``, joined into chunks of at most ``PIPE_BUF`` bytes
    (a longer line is a chunk of its own)."""
    chunks: list[bytes] = []
    chunk: list[bytes] = []
    size = 0
    for entry in entries:
        line = orjson.dumps(entry_fields(entry), option=orjson.OPT_APPEND_NEWLINE)
        if chunk and size + len(line) > _WRITE_MAX:
            chunks.append(b"".join(chunk))
            chunk, size = [], 0
        chunk.append(line)
        size += len(line)
    if chunk:
        chunks.append(b"".join(chunk))
    return chunks


def write_chunks(chunks: list[bytes]) -> None:
    """Write each chunk to standard error, each in one write."""
    stream = sys.stderr
    try:
        stream.flush()
        binary = getattr(stream, "buffer", None)
        for chunk in chunks:
            if binary is None:
                stream.write(chunk.decode())
                stream.flush()
            else:
                binary.write(chunk)
                binary.flush()
    except (OSError, ValueError):
        pass  # a broken log stream must not fail requests: these lines are dropped


request_log = RequestLog()
atexit.register(request_log.flush)


def _new_request_id() -> str:
    """64 random bits in hex. ``random`` is reseeded in a forked child, so workers do
    not repeat each other's ids; a request id needs to be unique, not unguessable."""
    return f"{random.getrandbits(64):016x}"


class ObserveMiddleware:
    """Gives each HTTP request an id, times it, records it and logs it."""

    def __init__(self, app: ASGIApp, *, access_log: bool = True) -> None:
        self.app = app
        self.access_log = access_log
        self.log = request_log
        # id(endpoint) -> (endpoint, the router's plain routes that serve it)
        self._plain_routes: dict[int, tuple[Any, tuple[Any, ...]]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = ""
        for name, value in scope["headers"]:
            if name == _HEADER_KEY:
                if _VALID_ID.fullmatch(value):
                    rid = value.decode("ascii")
                break
        if not rid:
            rid = _new_request_id()
        token = request_id.set(rid)
        id_header = (_HEADER_KEY, rid.encode("ascii"))
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except BaseException:
            # The request id stays set: the app's outermost error handler logs the
            # traceback in this same context, and its line carries the id.
            self._record(scope, rid, status, started)
            raise
        self._record(scope, rid, status, started)
        request_id.reset(token)

    def _record(self, scope: Scope, rid: str, status: int, started: float) -> None:
        now = time.perf_counter()
        elapsed = now - started
        matched = scope.get("route")
        route: str = (
            getattr(matched, "path_format", UNMATCHED)
            if matched is not None
            else self.other_route(scope)
        )
        method: str = scope["method"]
        metrics.observe_request(route, method, status, elapsed)
        if not self.access_log:
            return
        path: str = scope["path"]
        client: Any = scope.get("client")
        self.log.add(
            (
                time.time_ns(),
                rid,
                method,
                path if len(path) <= _MAX_LOGGED_PATH else path[:_MAX_LOGGED_PATH],
                route,
                status,
                int(elapsed * 1_000_000),
                client[0] if client else None,
            ),
            now,
        )

    def other_route(self, scope: Scope) -> str:
        """The path template of the route that answered when the router left none in
        ``scope["route"]`` (FastAPI routes do), or ``unmatched``.

        A plain Starlette route in a FastAPI router leaves only its endpoint: the
        router's routes with that endpoint are looked up once and remembered.
        """
        endpoint = scope.get("endpoint")
        if endpoint is None:
            return UNMATCHED
        known = self._plain_routes.get(id(endpoint))
        if known is None or known[0] is not endpoint:
            routes = getattr(scope.get("router"), "routes", ())
            serving = tuple(r for r in routes if getattr(r, "endpoint", None) is endpoint)
            if not serving:
                return UNMATCHED
            known = self._plain_routes[id(endpoint)] = (endpoint, serving)
        candidates = known[1]
        if len(candidates) > 1:
            candidates = tuple(r for r in candidates if r.matches(scope)[0] is not Match.NONE)
        return str(getattr(candidates[0], "path_format", UNMATCHED)) if candidates else UNMATCHED
