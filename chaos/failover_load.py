"""The load of a failover run and the faults that interrupt it.

The clients are those of the crash test (:class:`chaos.load.Load`: ledger transfers and
top-ups, each resent with the same token and body until an answer ends it), sending
through HAProxy's HTTP port to two caja hosts. Instead of killing caja, the run hurts
the cluster under it, one fault at a time, each once the cluster is whole again:

- ``postgres``: SIGKILL the primary's PostgreSQL (Patroni promotes the synchronous
  standby; the old primary rejoins through pg_rewind);
- ``patroni``: SIGKILL the primary's Patroni, its PostgreSQL left running (the stale
  primary); once another node is primary, that Patroni is started again;
- ``freeze``: SIGSTOP every process of the primary's PostgreSQL for 20 s, then SIGCONT;
- ``caja``: SIGKILL one caja host's process group, then start it again.

Every attempt is timed, so that each fault gets its outage: the longest stretch without
an acknowledged transfer between the fault and the cluster being whole again, and the
attempts that failed meanwhile.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import httpx

from caja.core.money import format_minor
from chaos.cluster import Cluster, ClusterError
from chaos.crash import say
from chaos.journal import Kind, Sent, ends_request
from chaos.load import FIRST_PAUSE_SECONDS, LONGEST_PAUSE_SECONDS, Load, _answer_body
from chaos.more_surfaces import DEPOSIT_PATH, WALLET_PATH, MoreAccounts
from chaos.processes import CajaServer

__all__ = ["FailoverLoad", "Fault", "Timeline", "fault_schedule"]

FREEZE_SECONDS = 20.0
# The stale primary's Patroni is started again once another node is primary, or after this.
PATRONI_BACK_AFTER_SECONDS = 60.0
WHOLE_TIMEOUT_SECONDS = 120.0
# The next fault waits for a transfer acknowledged after this one, at most this long.
RECOVERY_TIMEOUT_SECONDS = 120.0
# A wallet send whose outcome is unknown is not sent again; the next waits this long.
UNKNOWN_PAUSE_SECONDS = 0.5


@dataclass(slots=True)
class Fault:
    kind: str  # postgres, patroni, freeze, caja
    at: float = 0.0  # time.monotonic() when it was made
    node: str = ""
    # The longest stretch without an acknowledged transfer from the fault until the
    # cluster was whole again, in seconds, and when it began (see Timeline.recover).
    recovery: float | None = None
    outage_from: float = 0.0
    # time.monotonic() when the cluster was whole again after it.
    whole_at: float = 0.0
    failed_meanwhile: int = 0
    note: str = ""


@dataclass(frozen=True, slots=True)
class Attempt:
    sent_at: float
    done_at: float
    kind: Kind
    status: int | None  # None: no answer

    @property
    def acknowledged(self) -> bool:
        return self.kind is Kind.TRANSFER and self.status in (201, 208)

    @property
    def failed(self) -> bool:
        return self.status is None or self.status >= 500


@dataclass(slots=True)
class Timeline:
    """Every attempt, timed; and each transfer's answers in order, by token (a 5XX right
    before a 208 was a 5XX for a transfer that attempt had in fact committed)."""

    attempts: list[Attempt] = field(default_factory=list)
    answers: dict[str, list[int | None]] = field(default_factory=dict)

    def acknowledged_since(self, moment: float) -> float | None:
        """When the first transfer sent at ``moment`` or later and acknowledged was sent."""
        return min(
            (
                attempt.sent_at
                for attempt in self.attempts
                if attempt.acknowledged and attempt.sent_at >= moment
            ),
            default=None,
        )

    def recover(self, fault: Fault, until: float) -> None:
        """Fill ``fault``'s outage from the answers that came after it, before ``until``.

        Under load, transfers are acknowledged every few milliseconds. The fault's outage
        is the longest stretch without one from the fault until the cluster was whole
        again (the first acknowledgement after that closes the last stretch): a stretch
        that opens late, as when a stale primary serves until its leader key expires and
        then loses its place, counts as much as one that opens at the fault.
        """
        whole = fault.whole_at or until
        done = sorted(
            attempt.done_at
            for attempt in self.attempts
            if attempt.acknowledged and fault.at <= attempt.done_at < until
        )
        inside = [moment for moment in done if moment <= whole]
        closing = [moment for moment in done if moment > whole][:1]
        marks = [fault.at, *inside, *closing]
        if len(marks) < 2:
            fault.failed_meanwhile = self._failed(fault.at, until)
            return
        start, end = max(itertools.pairwise(marks), key=lambda pair: pair[1] - pair[0])
        fault.recovery = end - start
        fault.outage_from = start - fault.at
        fault.failed_meanwhile = self._failed(fault.at, max(whole, end))

    def _failed(self, start: float, end: float) -> int:
        """Attempts (every kind) that failed, answered between ``start`` and ``end``."""
        return sum(attempt.failed and start <= attempt.done_at <= end for attempt in self.attempts)


def fault_schedule(kills: int, smoke: bool, rng: random.Random) -> list[str]:
    """The faults of one run, in a random order: ``kills`` PostgreSQL kills and one of
    each other kind (smoke: one PostgreSQL kill only)."""
    if smoke:
        return ["postgres"] * kills
    faults = ["postgres"] * kills + ["patroni", "freeze", "caja"]
    rng.shuffle(faults)
    return faults


class FailoverLoad(Load):
    """:class:`chaos.load.Load` through HAProxy, with cluster faults instead of kills."""

    def __init__(
        self,
        *args: object,
        cluster: Cluster,
        hosts: list[CajaServer],
        faults: list[str],
        pause: tuple[float, float],
        more: MoreAccounts | None = None,
        more_connections: int = 2,
        **kwargs: object,
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._more = more
        self._more_each = more_connections if more is not None else 0
        self.base_url = f"http://127.0.0.1:{cluster.layout.http_port}"
        self._cluster = cluster
        self._hosts = hosts
        self._pause = pause
        self.faults = [Fault(kind) for kind in faults]
        self.timeline = Timeline()

    def _more_connections(self) -> int:
        return 2 * self._more_each

    def _more_workers(self, http: httpx.AsyncClient) -> list[Coroutine[Any, Any, None]]:
        """``more_connections`` sending deposit transfers, as many sending wallet sends."""
        seeds = range(self._more_each)
        return [self._deposits(http, random.Random(self._seed * 7919 + n)) for n in seeds] + [
            self._sends(http, random.Random(self._seed * 7919 - 1 - n)) for n in seeds
        ]

    async def _deposits(self, http: httpx.AsyncClient, rng: random.Random) -> None:
        assert self._more is not None
        headers = {"Authorization": f"Token {self._more.deposit_key}"}
        while not self._stopping:
            origin, destination = rng.sample(self._more.deposit_accounts, 2)
            token = self._token("d")
            body = {
                "origin_account": origin,
                "destination_account": destination,
                "unique_transfer_token": token,
                "channel": "external",
                "amount": format_minor(rng.randint(*self._plan.transfer_minor), 2),
                "fee_amount": format_minor(rng.choice((0, rng.randint(1, 500))), 2),
                "description": token,
            }
            sent = self._journal.add(Kind.DEPOSIT, token, body)
            await self._send(http, sent, DEPOSIT_PATH, headers)

    async def _sends(self, http: httpx.AsyncClient, rng: random.Random) -> None:
        assert self._more is not None
        while not self._stopping:
            sender, recipient = rng.sample(self._more.wallets, 2)
            token = self._token("w")
            body = {
                "from_account_id": sender.account_id,
                "to_profile_id": recipient.profile_id,
                "asset_key": "COP",
                "amount": format_minor(rng.randint(*self._plan.transfer_minor), 2),
                "meta_data": {"notes": token},
            }
            sent = self._journal.add(Kind.WALLET, token, body)
            await self._send_once(http, sent, {"X-Authorization": sender.token})

    async def _send_once(
        self, http: httpx.AsyncClient, sent: Sent, headers: dict[str, str]
    ) -> None:
        """A wallet send, sent once whatever happens: without an idempotency key a second
        attempt could pay twice. No answer or a 5XX leaves its outcome unknown."""
        sent.attempts = 1
        sent_at = time.monotonic()
        try:
            answer = await http.post(WALLET_PATH, json=sent.body, headers=headers)
        except httpx.TransportError:
            sent.no_answer = 1
            self.timeline.attempts.append(Attempt(sent_at, time.monotonic(), sent.kind, None))
        else:
            sent.status, sent.answer = answer.status_code, _answer_body(answer)
            self.timeline.attempts.append(
                Attempt(sent_at, time.monotonic(), sent.kind, answer.status_code)
            )
        if sent.unknown:
            # The service is failing over: do not pile up unknown outcomes meanwhile.
            await asyncio.sleep(UNKNOWN_PAUSE_SECONDS)

    async def _kill_repeatedly(self, rng: random.Random) -> None:
        for fault in self.faults:
            await asyncio.sleep(rng.uniform(*self._pause))
            fault.at = time.monotonic()
            await self._make(fault)
            first = await self._wait_recovered(fault)
            after = "never" if first is None else f"{first - fault.at:.1f} s"
            say(f"    {fault.kind} fault on {fault.node}: a transfer sent {after} on acknowledged")
            await asyncio.to_thread(self._wait_whole)
            fault.whole_at = time.monotonic()
            self._journal.kills += 1

    async def _wait_recovered(self, fault: Fault) -> float | None:
        """Wait until a transfer sent after ``fault`` is acknowledged (or the timeout), so
        that every fault's recovery is its own, not cut short by the next fault."""
        deadline = fault.at + RECOVERY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            first = self.timeline.acknowledged_since(fault.at)
            if first is not None:
                return first
            await asyncio.sleep(0.1)
        return None

    async def _make(self, fault: Fault) -> None:
        if fault.kind == "caja":
            host = self._hosts[0]
            fault.node = f"caja host {host.port}"
            await asyncio.to_thread(host.kill)
            await asyncio.to_thread(host.start)
            await asyncio.to_thread(host.wait_healthy)
            return
        primary = self._cluster.primary()
        if primary is None:
            raise ClusterError("no primary to hurt")
        fault.node = primary.name
        if fault.kind == "postgres":
            self._cluster.kill_postgres(primary)
        elif fault.kind == "patroni":
            self._cluster.kill_patroni(primary)
            await asyncio.to_thread(self._wait_other_primary, primary.name)
            self._cluster.start_patroni(primary)
        elif fault.kind == "freeze":
            self._cluster.freeze_postgres(primary)
            try:
                await asyncio.sleep(FREEZE_SECONDS)
            finally:
                self._cluster.thaw(primary)

    def _wait_other_primary(self, old: str) -> None:
        deadline = time.monotonic() + PATRONI_BACK_AFTER_SECONDS
        while time.monotonic() < deadline:
            primary = self._cluster.primary()
            if primary is not None and primary.name != old:
                return
            time.sleep(0.2)

    def _wait_whole(self) -> None:
        """The cluster healthy again (the old primary back as a standby), every host up."""
        self._cluster.wait_healthy(WHOLE_TIMEOUT_SECONDS)
        for host in self._hosts:
            host.check_running()

    async def _send(
        self, http: httpx.AsyncClient, sent: Sent, path: str, headers: dict[str, str]
    ) -> None:
        """As :meth:`Load._send`, each attempt timed and its answer kept."""
        pause = FIRST_PAUSE_SECONDS
        answers = self.timeline.answers.setdefault(sent.token, [])
        while True:
            sent.attempts += 1
            sent_at = time.monotonic()
            try:
                answer = await http.post(path, json=sent.body, headers=headers)
            except httpx.TransportError:
                sent.no_answer += 1
                self.timeline.attempts.append(Attempt(sent_at, time.monotonic(), sent.kind, None))
                answers.append(None)
            else:
                body = _answer_body(answer)
                self.timeline.attempts.append(
                    Attempt(sent_at, time.monotonic(), sent.kind, answer.status_code)
                )
                answers.append(answer.status_code)
                if ends_request(sent.kind, answer.status_code, body):
                    sent.status, sent.answer = answer.status_code, body
                    return
                sent.server_errors += 1
            await asyncio.sleep(pause)
            pause = min(pause * 2, LONGEST_PAUSE_SECONDS)
