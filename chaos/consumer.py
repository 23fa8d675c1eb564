"""The crash run's event consumer: a webhook endpoint of the ledger client, subscribed to
``ledger.transfer.created``, that records every delivery and checks its signature; after
the load, the runner is left to drain, and the deliveries are checked against the
acknowledged transfers and the events against the transfers.

- Every acknowledged transfer whose ``ledger.transfer.created`` event exists was
  delivered at least once (found by the transfer's token in the event's data); once the
  transfer routes write these events, every acknowledged transfer must have one.
- No event names a transfer that is not stored (an event without its movement).
- Every delivery's signature verifies with the endpoint's secret.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from bench.server import ProcessGroup, caja_command
from sqlalchemy import select
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from caja.clients.service import authenticate
from caja.db.engine import Database
from caja.ledger.tables import events, transfers
from caja.webhooks import service
from caja.webhooks.stats import totals
from chaos.check import Findings
from chaos.journal import Journal, Kind

__all__ = ["EVENT", "Consumer", "check_events", "drain"]

EVENT = "ledger.transfer.created"
DRAIN_TIMEOUT_SECONDS = 120.0
STOP_SECONDS = 15.0
# The runner of the crash run: short claims (a timeout of 2 s) and quick retries.
RUNNER_ENV = {
    "CAJA_WEBHOOKS_ALLOW_PRIVATE": "1",
    "CAJA_WEBHOOKS_TIMEOUT_SECONDS": "2",
    "CAJA_WEBHOOKS_POLL_SECONDS": "0.2",
    "CAJA_WEBHOOKS_RETRY_SCHEDULE": "0.5,1,2,2,2,2,2,2,2,2",
}


@dataclass(slots=True)
class Consumer:
    """An HTTP endpoint in this process (so the kills never reach it), recording the
    webhook-id and data of each delivery, and whether its signature verified."""

    secret: str = ""
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    unverified: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/events"

    def __enter__(self) -> Consumer:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _take(self, body: bytes, headers: dict[str, str]) -> None:
        try:
            Webhook(self.secret).verify(body, headers)
            verified = True
        except WebhookVerificationError:
            verified = False
        event = json.loads(body)
        with self._lock:
            self.unverified += not verified
            self.received.append((headers.get("webhook-id", ""), event))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        consumer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                consumer._take(body, {k.lower(): v for k, v in self.headers.items()})
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

    def subscribe(self, url: str, api_key: str) -> None:
        """An endpoint of the client of ``api_key`` for this consumer; keeps its secret."""
        self.secret = asyncio.run(_subscribe(url, api_key, self.url))


async def _subscribe(url: str, api_key: str, target: str) -> str:
    database = Database(url)
    try:
        principal = await authenticate(database, api_key)
        assert principal is not None

        def add(connection: Any) -> str:
            created = service.add_endpoint(
                connection, principal.client_id, target, [EVENT], allow_private=True
            )
            return created.secret

        return await database.write(add)
    finally:
        await database.dispose()


async def _backlog(url: str) -> tuple[int, int]:
    """Events not fanned out yet (0 or 1: whether any), and pending deliveries."""
    from caja.webhooks.runner import look

    database = Database(url)
    try:
        async with database.read() as connection:
            counted = await connection.run_sync(totals)
            work = await connection.run_sync(look)
        return int(work.spread is not None), counted.pending_deliveries
    finally:
        await database.dispose()


def drain(url: str, env: dict[str, str], log_path: Path, say: Callable[[str], None]) -> float:
    """Run ``caja webhooks run`` until every event is fanned out and no delivery is
    pending (at most :data:`DRAIN_TIMEOUT_SECONDS`); the seconds it took."""
    started = time.monotonic()
    runner = ProcessGroup([*caja_command(), "webhooks", "run"], env, log_path)
    try:
        while True:
            unfanned, pending = asyncio.run(_backlog(url))
            if not unfanned and not pending:
                return time.monotonic() - started
            if time.monotonic() - started > DRAIN_TIMEOUT_SECONDS:
                say(f"  webhooks not drained: {pending} deliveries pending")
                return time.monotonic() - started
            if runner.exited():
                raise RuntimeError(f"caja webhooks run exited; log: {log_path}")
            time.sleep(0.5)
    finally:
        runner.stop(STOP_SECONDS)


async def _events(url: str) -> tuple[list[tuple[str, int | None]], dict[int, str]]:
    database = Database(url)
    try:
        async with database.read() as connection:
            rows = await connection.execute(select(events.c.type, events.c.transfer_id))
            found = [(row.type, row.transfer_id) for row in rows]
            ids = {transfer_id for _type, transfer_id in found if transfer_id is not None}
            tokens: dict[int, str] = {}
            if ids:
                stored = await connection.execute(
                    select(transfers.c.id, transfers.c.token).where(transfers.c.id.in_(ids))
                )
                tokens = {row.id: row.token for row in stored}
            return found, tokens
    finally:
        await database.dispose()


def check_events(url: str, journal: Journal, consumer: Consumer, findings: Findings) -> None:
    """The events and deliveries of the run against its acknowledged transfers."""
    stored, tokens = asyncio.run(_events(url))
    figures = findings.figures
    figures["events"] = len(stored)
    for _type, transfer_id in stored:
        if transfer_id is not None and transfer_id not in tokens:
            findings.violate("events without a transfer", f"transfer id {transfer_id}")
    created = {
        tokens.get(transfer_id)
        for kind, transfer_id in stored
        if kind == EVENT and transfer_id is not None
    }
    figures["transfer events"] = sum(kind == EVENT for kind, _ in stored)
    delivered = [event.get("data", {}).get("token") for _id, event in consumer.received]
    figures["deliveries received"] = len(consumer.received)
    figures["events delivered more than once"] = len(delivered) - len(set(delivered))
    if consumer.unverified:
        findings.violate("delivery with a bad signature", f"{consumer.unverified} deliveries")
    acknowledged = [
        sent.answer.get("token")
        for sent in journal.of_kind(Kind.TRANSFER)
        if sent.acknowledged and sent.answer.get("token")
    ]
    every = figures["transfer events"] > 0  # the transfer routes write these events
    seen = set(delivered)
    for token in acknowledged:
        if token in seen:
            figures["acknowledged and delivered"] += 1
        elif token in created or every:  # an event that exists, or should
            findings.violate("acknowledged not delivered", str(token))
