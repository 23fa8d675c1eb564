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

Every attempt is timed, so that each fault gets its recovery: the seconds from the fault
to the end of the longest stretch without an acknowledged transfer that began soon after
it, and the attempts that failed meanwhile.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from dataclasses import dataclass, field

import httpx

from chaos.cluster import Cluster, ClusterError
from chaos.crash import say
from chaos.journal import Kind, Sent, ends_request
from chaos.load import FIRST_PAUSE_SECONDS, LONGEST_PAUSE_SECONDS, Load, _answer_body
from chaos.processes import CajaServer

__all__ = ["FailoverLoad", "Fault", "Timeline", "fault_schedule"]

FREEZE_SECONDS = 20.0
# The stale primary's Patroni is started again once another node is primary, or after this.
PATRONI_BACK_AFTER_SECONDS = 60.0
WHOLE_TIMEOUT_SECONDS = 120.0
# The next fault waits for a transfer acknowledged after this one, at most this long.
RECOVERY_TIMEOUT_SECONDS = 120.0
# A fault's outage is a stretch without acknowledgements beginning this soon after it.
OUTAGE_STARTS_WITHIN = 5.0


@dataclass(slots=True)
class Fault:
    kind: str  # postgres, patroni, freeze, caja
    at: float = 0.0  # time.monotonic() when it was made
    node: str = ""
    # Seconds from the fault to the end of its outage (see Timeline.recover).
    recovery: float | None = None
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
        """Fill ``fault``'s recovery from the answers that came after it, before ``until``.

        Under load, transfers are acknowledged every few milliseconds; the fault's outage
        is the longest stretch without one that begins within OUTAGE_STARTS_WITHIN
        seconds of the fault (a stale primary may go on acknowledging for a moment before
        HAProxy cuts it off). The recovery is the end of that stretch.
        """
        done = sorted(
            attempt.done_at
            for attempt in self.attempts
            if attempt.acknowledged and fault.at <= attempt.done_at < until
        )
        if not done:
            fault.failed_meanwhile = sum(
                attempt.failed and fault.at <= attempt.done_at < until for attempt in self.attempts
            )
            return
        longest, end = -1.0, done[0]
        for before, after in itertools.pairwise([fault.at, *done]):
            if before - fault.at <= OUTAGE_STARTS_WITHIN and after - before > longest:
                longest, end = after - before, after
        fault.recovery = end - fault.at
        fault.failed_meanwhile = sum(
            attempt.failed and fault.at <= attempt.done_at <= end for attempt in self.attempts
        )


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
        **kwargs: object,
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.base_url = f"http://127.0.0.1:{cluster.layout.http_port}"
        self._cluster = cluster
        self._hosts = hosts
        self._pause = pause
        self.faults = [Fault(kind) for kind in faults]
        self.timeline = Timeline()

    async def _kill_repeatedly(self, rng: random.Random) -> None:
        for fault in self.faults:
            await asyncio.sleep(rng.uniform(*self._pause))
            fault.at = time.monotonic()
            await self._make(fault)
            first = await self._wait_recovered(fault)
            after = "never" if first is None else f"{first - fault.at:.1f} s"
            say(f"    {fault.kind} fault on {fault.node}: a transfer sent {after} on acknowledged")
            await asyncio.to_thread(self._wait_whole)
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
