"""What request metrics and the JSON request log cost per request, in-process.

``python -m bench.observe_overhead [--requests 20000] [--rounds 40]``

The app is built without the observing middleware, with it (metrics only, metrics and
the request log) and, for comparison, with each log line written to standard error at
once, or sent through :mod:`logging`. Each variant serves a cheap route
through the ASGI interface directly (a scope dict, a receive that returns the body, a
send that does nothing); standard error goes to a temporary file meanwhile. The
variants take turns in short rounds; the figure per variant is its best round's mean,
in microseconds per request.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI

from caja.app import EMPTY_PATH, create_app
from caja.db.engine import Database
from caja.http.observe import (
    Entry,
    ObserveMiddleware,
    entry_fields,
    format_entries,
    request_log,
    write_chunks,
)

ROUTES: list[tuple[str, str, bytes]] = [
    ("GET", "/healthz", b""),
    ("POST", EMPTY_PATH, b'{"a": 1}'),
]


class _LineByLine:
    """Each line formatted and written at once, as to a line-buffered stream."""

    def add(self, entry: Entry, _now: float) -> None:
        write_chunks(format_entries([entry]))


class _ThroughLogging:
    """Each line formatted and handed to a ``logging`` logger (a StreamHandler)."""

    logger = logging.getLogger("bench.access")

    def add(self, entry: Entry, _now: float) -> None:
        self.logger.info(orjson.dumps(entry_fields(entry)).decode())


class LineByLineMiddleware(ObserveMiddleware):
    def __init__(self, app: Any, *, access_log: bool = True) -> None:
        super().__init__(app, access_log=access_log)
        self.log = _LineByLine()  # type: ignore[assignment]


class LoggingMiddleware(ObserveMiddleware):
    def __init__(self, app: Any, *, access_log: bool = True) -> None:
        super().__init__(app, access_log=access_log)
        self.log = _ThroughLogging()  # type: ignore[assignment]


def _log_through_logging(stream: Any) -> None:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    _ThroughLogging.logger.addHandler(handler)
    _ThroughLogging.logger.setLevel(logging.INFO)
    _ThroughLogging.logger.propagate = False


def build(database: Database, middleware: type[ObserveMiddleware] | None, log: bool) -> FastAPI:
    app = create_app(database)
    app.user_middleware = [
        m for m in app.user_middleware if getattr(m, "cls", None) is not ObserveMiddleware
    ]
    if middleware is not None:
        app.add_middleware(middleware, access_log=log)
    return app


async def serve(app: FastAPI, method: str, path: str, body: bytes, requests: int) -> float:
    """Mean CPU seconds of this process per request over ``requests`` calls (CPU time,
    not wall time, so that other processes on the machine weigh less)."""
    headers = [
        (b"host", b"bench"),
        (b"user-agent", b"bench"),
        (b"accept", b"*/*"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    message = {"type": "http.request", "body": body, "more_body": False}

    async def receive() -> dict[str, Any]:
        return message

    async def send(_message: Any) -> None:
        return None

    def scope() -> dict[str, Any]:
        return {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }

    started = time.process_time()
    for _ in range(requests):
        await app(scope(), receive, send)
    return (time.process_time() - started) / requests


async def main(requests: int, rounds: int) -> None:
    os.environ["CAJA_BENCH_ENDPOINT"] = "1"
    with tempfile.TemporaryDirectory() as directory:
        log_path = Path(directory) / "stderr.log"
        database = Database(f"sqlite:///{directory}/bench.db")
        variants: list[tuple[str, Callable[[], FastAPI]]] = [
            ("no middleware", lambda: build(database, None, False)),
            ("metrics only", lambda: build(database, ObserveMiddleware, False)),
            ("metrics + log", lambda: build(database, ObserveMiddleware, True)),
            ("metrics + log, line by line", lambda: build(database, LineByLineMiddleware, True)),
            ("metrics + log via logging", lambda: build(database, LoggingMiddleware, True)),
        ]
        saved = sys.stderr
        with log_path.open("w", buffering=1) as stream:
            _log_through_logging(stream)
            sys.stderr = stream
            try:
                results = await _measure(variants, requests, rounds)
                request_log.flush()
            finally:
                sys.stderr = saved
        lines = sum(1 for _ in log_path.open())
        await database.dispose()
    print(f"{requests} requests per variant in {rounds} rounds, best round; {lines} log lines")
    for method, path, _ in ROUTES:
        base = results[("no middleware", path)]
        print(f"{method} {path}")
        for name, _ in variants:
            each = results[(name, path)]
            added = "" if name == "no middleware" else f"  (+{(each - base) * 1e6:.2f} µs)"
            print(f"  {name:30} {each * 1e6:8.2f} µs/request{added}")


async def _measure(
    variants: list[tuple[str, Callable[[], FastAPI]]], requests: int, rounds: int
) -> dict[tuple[str, str], float]:
    """Best round per variant; variants take turns, round by round, so that other load
    on the machine falls on all of them alike."""
    apps = {name: make() for name, make in variants}
    best: dict[tuple[str, str], float] = {}
    per_round = max(1, requests // rounds)
    for method, path, body in ROUTES:
        for app in apps.values():
            await serve(app, method, path, body, min(requests, 2000))
        for _ in range(rounds):
            for name, app in apps.items():
                mean = await serve(app, method, path, body, per_round)
                key = (name, path)
                best[key] = min(best.get(key, mean), mean)
    return best


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=40)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.requests, arguments.rounds))
