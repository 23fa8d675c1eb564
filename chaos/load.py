"""The load of a crash run, and the kills that interrupt it.

Connections send ledger transfers between random accounts, each with a token of its own;
a few more send top-ups. Meanwhile the server's whole process group is killed with
SIGKILL at random moments and started again. A request that gets no answer waits for the
server to be back and is sent again, with the same token and the same body, until an
answer ends it (see :func:`chaos.journal.ends_request`). Every request and answer goes
into the run's :class:`~chaos.journal.Journal`.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import random
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

import httpx

from caja.core.money import format_minor
from chaos.journal import Journal, Kind, Sent, ends_request
from chaos.processes import CajaServer

__all__ = ["Keys", "Load", "LoadPlan"]

TRANSFER_PATH = "/api/ledger/v1/public/transaction"
TOPUP_PATH = "/api/gateway_topup/v1/topup_account"
# Sandbox operator numbers (docs/topup-api.md, "Test numbers"): approved, rejected.
APPROVED_NUMBER = "3110001111"
REJECTED_NUMBER = "3110005555"
FIRST_PAUSE_SECONDS = 0.05
LONGEST_PAUSE_SECONDS = 2.0
DRAIN_TIMEOUT_SECONDS = 180.0


@dataclass(frozen=True, slots=True)
class LoadPlan:
    """How hard to load the server and how often to kill it."""

    kills: int
    connections: int
    topup_connections: int
    # Seconds of load between the server being back and the next kill: uniform in this range.
    kill_after: tuple[float, float]
    # Seconds of load on the last server, never killed, before the clients stop.
    settle_seconds: float
    # Amounts of transfers, in centavos, uniform in this range.
    transfer_minor: tuple[int, int]
    request_timeout_seconds: float = 30.0


@dataclass(frozen=True, slots=True)
class Keys:
    ledger: str
    merchant: str


def _answer_body(answer: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object, or an empty one (a 5XX of the HTTP layer may be text)."""
    try:
        parsed = json.loads(answer.content)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


class Load:
    """Load the running ``server``, killing it ``plan.kills`` times; fill ``journal``.

    :meth:`run` returns once every request has been answered by the last server, which
    is left running.
    """

    def __init__(
        self,
        plan: LoadPlan,
        server: CajaServer,
        keys: Keys,
        accounts: list[str],
        tag: str,
        seed: int,
        journal: Journal,
    ) -> None:
        self._plan = plan
        self._server = server
        # Where the clients send their requests: the server, or a proxy in front of it.
        self.base_url = server.base_url
        self._accounts = accounts
        self._tag = tag
        self._seed = seed
        self._journal = journal
        self._ledger_headers = {"X-Account-api-key": keys.ledger}
        basic = base64.b64encode(keys.merchant.encode()).decode()
        self._merchant_headers = {"Authorization": f"Basic {basic}"}
        self._serial = itertools.count(1)
        # Set while the server is serving; cleared before each kill until it is back.
        self._up = asyncio.Event()
        self._stopping = False

    def _token(self, letter: str) -> str:
        return f"chaos-{self._tag}-{letter}{next(self._serial)}"

    def run(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        self._up.set()
        connections = self._plan.connections + self._plan.topup_connections
        connections += self._more_connections()
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        timeout = httpx.Timeout(self._plan.request_timeout_seconds, connect=5.0)
        async with httpx.AsyncClient(
            base_url=self.base_url, limits=limits, timeout=timeout
        ) as http:
            workers = [
                asyncio.create_task(self._transfers(http, random.Random(self._seed * 1000 + n)))
                for n in range(self._plan.connections)
            ] + [
                asyncio.create_task(self._topups(http, random.Random(self._seed * 1000 - 1 - n)))
                for n in range(self._plan.topup_connections)
            ]
            workers += [asyncio.create_task(work) for work in self._more_workers(http)]
            try:
                await self._kill_repeatedly(random.Random(self._seed))
                await asyncio.sleep(self._plan.settle_seconds)
                self._stopping = True
                # Every request still open is sent until it is answered, by a live server.
                try:
                    await asyncio.wait_for(asyncio.gather(*workers), DRAIN_TIMEOUT_SECONDS)
                except TimeoutError:
                    open_ = sum(sent.status is None for sent in self._journal.requests)
                    raise RuntimeError(
                        f"{open_} requests still unanswered {DRAIN_TIMEOUT_SECONDS:.0f} s "
                        f"after the last kill; server log: {self._server.log_path}"
                    ) from None
            finally:
                for worker in workers:
                    worker.cancel()
                await asyncio.gather(*workers, return_exceptions=True)

    def _more_connections(self) -> int:
        """Connections of the workers :meth:`_more_workers` adds (a subclass's)."""
        return 0

    def _more_workers(self, http: httpx.AsyncClient) -> list[Coroutine[Any, Any, None]]:
        """More clients beside the transfers and top-ups: none here."""
        return []

    async def _kill_repeatedly(self, rng: random.Random) -> None:
        for _ in range(self._plan.kills):
            await asyncio.sleep(rng.uniform(*self._plan.kill_after))
            self._server.check_running()
            self._up.clear()
            down = time.monotonic()
            await asyncio.to_thread(self._server.kill)
            self._journal.kills += 1
            await asyncio.to_thread(self._server.start)
            await asyncio.to_thread(self._server.wait_healthy)
            self._journal.down_seconds += time.monotonic() - down
            self._up.set()

    async def _send(
        self, http: httpx.AsyncClient, sent: Sent, path: str, headers: dict[str, str]
    ) -> None:
        """Send ``sent`` until an answer ends it; the token and body never change."""
        pause = FIRST_PAUSE_SECONDS
        while True:
            await self._up.wait()
            sent.attempts += 1
            try:
                answer = await http.post(path, json=sent.body, headers=headers)
            except httpx.TransportError:
                # A kill broke the connection (the restart sets _up again), or the
                # server was too slow to answer: either way send it again later.
                sent.no_answer += 1
            else:
                body = _answer_body(answer)
                if ends_request(sent.kind, answer.status_code, body):
                    sent.status, sent.answer = answer.status_code, body
                    return
                sent.server_errors += 1
            await asyncio.sleep(pause)
            pause = min(pause * 2, LONGEST_PAUSE_SECONDS)

    async def _transfers(self, http: httpx.AsyncClient, rng: random.Random) -> None:
        while not self._stopping:
            origin, destination = rng.sample(self._accounts, 2)
            token = self._token("t")
            body = {
                "origin_account": origin,
                "destination_account": destination,
                "amount": format_minor(rng.randint(*self._plan.transfer_minor), 2),
                "description": "chaos transfer",
                "unique_transfer_token": token,
            }
            sent = self._journal.add(Kind.TRANSFER, token, body)
            await self._send(http, sent, TRANSFER_PATH, self._ledger_headers)

    async def _topups(self, http: httpx.AsyncClient, rng: random.Random) -> None:
        while not self._stopping:
            token = self._token("p")
            body = {
                "idempotency_token": token,
                "amount": rng.randint(10, 50) * 100,
                "service_provider": "etb",
                "destination_number": REJECTED_NUMBER if rng.random() < 0.1 else APPROVED_NUMBER,
                "payment_token": f"pay-{token}",
                "payment_origin": "chaos",
            }
            sent = self._journal.add(Kind.TOPUP, token, body)
            await self._send(http, sent, TOPUP_PATH, self._merchant_headers)
            await asyncio.sleep(rng.uniform(0.05, 0.3))
