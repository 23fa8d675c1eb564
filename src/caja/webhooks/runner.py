"""The delivery runner: it turns events into deliveries and sends them, apart from the
request path (``caja webhooks run``; ``caja serve`` starts one as a child process).

Each round:

- **fan-out**: while fewer deliveries than a claim are due, a read works out the next
  fan-out: the events after the cursor of the clients with an enabled endpoint (their
  ids, clients, types and times: no data), and one pending delivery per enabled endpoint
  of the event's client that takes its type and was added before it. A short write
  then moves the cursor, if it is still where the read found it (otherwise another
  runner fanned these events out first, and this one makes nothing), and makes the
  deliveries. When no one listens, nothing is read or written. Event ids rise in commit
  order (see :mod:`caja.ledger.events`), so the cursor never passes an event that is not
  yet visible.
- **claim**: due pending deliveries of enabled endpoints whose claim (``claimed_until``)
  is free, locked with ``SKIP LOCKED``, are claimed until a lease (long enough to try
  every one of them) by the database's clock, in the same short write; what to send is
  read after its commit. Any number of runners on any number of
  hosts share the work; one that dies leaves its claims to expire and be taken again,
  so each delivery is made at least once.
- **deliver**: the runner's sender, a child process at a lower priority
  (:mod:`caja.webhooks.sender`), POSTs each event's JSON signed as Standard Webhooks says
  (:mod:`caja.webhooks.delivery`), at most ``concurrency`` at once, no redirects
  followed; unless private addresses are allowed, the URL's host must still resolve only
  to public addresses. The runner itself keeps the server's priority and its writes
  short: holding SQLite's write lock, it never waits for a core longer than the
  server's own writers would.
- **record**: one transaction writes each attempt and its outcome: 2XX delivers; 410
  fails the delivery and disables the endpoint; anything else is retried after the next
  entry of the retry schedule (with jitter), and after the last one the delivery fails
  and the endpoint is disabled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.engine import Connection

from caja.config import WebhookSettings
from caja.core.clock import database_now, iso_utc
from caja.db.engine import Database
from caja.db.schema import stored_moment
from caja.db.sql import run_many
from caja.ledger.events import EventRow, event_heads, events_by_ids, last_event_id
from caja.webhooks.crowding import Crowding
from caja.webhooks.delivery import (
    RESPONSE_CHARS,
    Answer,
    Message,
    Sent,
    new_client,
    send_all,
)
from caja.webhooks.sender import Sender
from caja.webhooks.service import DeliveryStatus, subscribed
from caja.webhooks.tables import (
    webhook_cursor,
    webhook_deliveries,
    webhook_endpoints,
)

__all__ = [
    "Claim",
    "Due",
    "Outcome",
    "Round",
    "Spread",
    "Work",
    "apply_spread",
    "claim",
    "claimed",
    "fan_out",
    "look",
    "message_of",
    "outcomes_of",
    "record",
    "rest_after",
    "run",
    "run_once",
]

log = logging.getLogger("caja.webhooks")

# Events read per fan-out transaction.
FAN_OUT_EVENTS = 500
# Deliveries claimed per round: this many per delivery in flight (the more a round
# claims, the fewer transactions a delivery costs).
CLAIM_ROUNDS = 8
# Beyond the time a round's deliveries may take, how long a claim lasts.
LEASE_MARGIN_SECONDS = 5.0
# After a round, on a machine whose cores are all taken, the runner rests this many times
# what the round took (its database time, and its sender's CPU): under load it takes at
# most a fiftieth of that. On an idle machine it does not rest (see Crowding).
PACE = 50.0
# Each wait is stretched or shrunk by up to a tenth: the default schedule still retries for
# more than 24 hours (99,305 s times 0.9).
JITTER = (0.9, 1.1)

_d = webhook_deliveries
_e = webhook_endpoints


@dataclass(frozen=True, slots=True)
class Due:
    """A claimed delivery: what to send, where, signed with which secrets."""

    delivery_id: int
    endpoint_id: int
    url: str
    secrets: tuple[str, ...]
    event: EventRow
    attempts: int
    created_at: datetime
    # The database's time of the claim, and the runner's clock then (``perf_counter``).
    claimed_at: datetime
    claimed_clock: float


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt of a delivery (or, when ``answer.sent`` is False, none): what it got,
    and when it was made by the database's clock."""

    due: Due
    attempted_at: datetime
    answer: Answer

    @property
    def delivered(self) -> bool:
        return self.answer.delivered


@dataclass(frozen=True, slots=True)
class Round:
    """What a round did: events fanned out, deliveries attempted (sent: not those held
    back where no one answered) and delivered."""

    events: int = 0
    attempted: int = 0
    delivered: int = 0
    # Time spent on the database (waiting for its locks included), and the sender's CPU.
    busy_seconds: float = 0.0


# Fan-out.


@dataclass(frozen=True, slots=True)
class _Target:
    endpoint_id: int
    types: tuple[str, ...] | None
    since: datetime


def _cursor(connection: Connection) -> int | None:
    query = select(webhook_cursor.c.event_id).where(webhook_cursor.c.id == 1)
    found = connection.execute(query).scalar_one_or_none()
    return None if found is None else int(found)


def _targets(connection: Connection) -> dict[int, list[_Target]]:
    """Each client's enabled endpoints, by client: their ids, the event types they take
    and when they were added (they receive the events written since)."""
    rows = connection.execute(
        select(_e.c.id, _e.c.client_id, _e.c.event_types, _e.c.created_at).where(
            _e.c.enabled.is_(True), _e.c.removed_at.is_(None)
        )
    )
    found: dict[int, list[_Target]] = {}
    for row in rows:
        types = tuple(row.event_types.split(",")) if row.event_types else None
        found.setdefault(int(row.client_id), []).append(_Target(int(row.id), types, row.created_at))
    return found


def _earliest(targets: dict[int, list[_Target]]) -> datetime:
    """When the first of the endpoints was added: no earlier event is delivered."""
    return min(target.since for found in targets.values() for target in found)


def _without_durable_commit(connection: Connection) -> None:
    """On PostgreSQL, the runner's own bookkeeping commits without waiting for the disk:
    a crash may lose its last moments, which are then done again (at least once), and the
    server's transactions keep the disk to themselves. The events themselves are written
    by the write path, durably."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")


@dataclass(frozen=True, slots=True)
class Spread:
    """A fan-out worked out by a read: the cursor it starts from and the one it moves to,
    how many events it covers, and the (endpoint, event) pair of each delivery it makes."""

    cursor: int
    upto: int
    events: int
    pairs: tuple[tuple[int, int], ...]


def spread(connection: Connection, limit: int = FAN_OUT_EVENTS) -> Spread | None:
    """The next fan-out, read without taking any lock; None when there is none.

    Only the events of clients with an enabled endpoint are read, by the index of each
    client's events, and without their data: events nobody listens to cost nothing.
    """
    cursor = _cursor(connection)
    if cursor is None:
        return None
    targets = _targets(connection)
    last = last_event_id(connection)
    if not targets or last <= cursor:
        return None
    found = event_heads(connection, sorted(targets), (cursor, last), limit, _earliest(targets))
    if not found:
        return None
    pairs = tuple(
        (target.endpoint_id, event.id)
        for event in found
        for target in targets.get(event.client_id, ())
        if subscribed(target.types, event.type) and event.created_at >= target.since
    )
    upto = found[-1].id if len(found) == limit else last
    return Spread(cursor, upto, len(found), pairs)


def apply_spread(connection: Connection, found: Spread) -> int:
    """Make the fan-out's deliveries and move the cursor, unless another runner moved it
    first (then nothing); the number of events fanned out."""
    moved = connection.execute(
        update(webhook_cursor)
        .where(webhook_cursor.c.id == 1, webhook_cursor.c.event_id == found.cursor)
        .values(event_id=found.upto)
    )
    if moved.rowcount != 1:
        return 0
    _without_durable_commit(connection)
    if found.pairs:
        now = stored_moment(connection, database_now(connection))
        pending = DeliveryStatus.PENDING
        run_many(
            connection,
            "INSERT INTO webhook_deliveries (endpoint_id, event_id, status, attempts, "
            "next_attempt_at, created_at) VALUES (?, ?, ?, 0, ?, ?)",
            [(endpoint, event, pending, now, now) for endpoint, event in found.pairs],
        )
    return found.events


def fan_out(connection: Connection, limit: int = FAN_OUT_EVENTS) -> int:
    """Make the deliveries of the events after the cursor and move it, in one
    transaction; the number of events fanned out (0 when there were none, or another
    runner moved the cursor first)."""
    found = spread(connection, limit)
    return 0 if found is None else apply_spread(connection, found)


# Claims.


def _due_ids(connection: Connection, now: datetime, limit: int, *, lock: bool = True) -> list[int]:
    query = (
        select(_d.c.id)
        .join(_e, _e.c.id == _d.c.endpoint_id)
        .where(
            _d.c.status == DeliveryStatus.PENDING,
            _d.c.next_attempt_at <= now,
            or_(_d.c.claimed_until.is_(None), _d.c.claimed_until <= now),
            _e.c.enabled.is_(True),
            _e.c.removed_at.is_(None),
            or_(_e.c.quiet_until.is_(None), _e.c.quiet_until <= now),
        )
        .order_by(_d.c.next_attempt_at, _d.c.id)
        .limit(limit)
    )
    if lock and connection.dialect.name == "postgresql":
        query = query.with_for_update(of=_d, skip_locked=True)
    return [int(found) for found in connection.execute(query).scalars()]


@dataclass(frozen=True, slots=True)
class Claim:
    """Deliveries claimed: their ids, the database's time of the claim and the runner's
    clock then (``perf_counter``)."""

    ids: tuple[int, ...]
    at: datetime
    clock: float


def claim(connection: Connection, limit: int, settings: WebhookSettings) -> Claim:
    """Claim up to ``limit`` due deliveries, for as long as trying them may take."""
    now = database_now(connection)
    clock = time.perf_counter()
    ids = _due_ids(connection, now, limit)
    if ids:
        _without_durable_commit(connection)
        connection.execute(
            update(_d)
            .where(_d.c.id.in_(ids))
            .values(claimed_until=now + timedelta(seconds=lease_seconds(settings, len(ids))))
        )
    return Claim(tuple(ids), now, clock)


def _secrets(row: Any, now: datetime) -> tuple[str, ...]:
    """The secrets that sign: the endpoint's, and for a day after a rotation the old one."""
    if row.previous_secret and row.previous_until is not None and row.previous_until > now:
        return (row.secret, row.previous_secret)
    return (row.secret,)


def claimed(connection: Connection, taken: Claim) -> list[Due]:
    """What to send for the claimed deliveries (read after the claim's commit, so that
    the write lock is held only for the claim itself)."""
    if not taken.ids:
        return []
    rows = connection.execute(
        select(
            _d.c.id,
            _d.c.endpoint_id,
            _d.c.event_id,
            _d.c.attempts,
            _d.c.created_at,
            _e.c.url,
            _e.c.secret,
            _e.c.previous_secret,
            _e.c.previous_until,
        )
        .join(_e, _e.c.id == _d.c.endpoint_id)
        .where(_d.c.id.in_(taken.ids))
        .order_by(_d.c.next_attempt_at, _d.c.id)
    ).all()
    found = events_by_ids(connection, sorted({int(row.event_id) for row in rows}))
    return [
        Due(
            delivery_id=int(row.id),
            endpoint_id=int(row.endpoint_id),
            url=row.url,
            secrets=_secrets(row, taken.at),
            event=found[int(row.event_id)],
            attempts=int(row.attempts),
            created_at=row.created_at,
            claimed_at=taken.at,
            claimed_clock=taken.clock,
        )
        for row in rows
    ]


@dataclass(frozen=True, slots=True)
class Work:
    """What a look found: deliveries due (up to the limit asked), and while fewer are
    due than that, the next fan-out."""

    due: int
    spread: Spread | None

    def __bool__(self) -> bool:
        return bool(self.due or self.spread)


def look(connection: Connection, limit: int = 1) -> Work:
    """The runner's next work, read (an idle runner never takes SQLite's write lock).

    Events are fanned out only while fewer deliveries than ``limit`` are due, so that the
    deliveries made wait no longer than their turn to be sent.
    """
    due = len(_due_ids(connection, database_now(connection), limit, lock=False))
    return Work(due, spread(connection) if due < limit else None)


# Delivery.


def message_of(due: Due) -> Message:
    """What the sender sends for ``due``: its event's JSON, signed with its secrets."""
    return Message(due.delivery_id, due.url, due.secrets, due.event.token, due.event.body())


def outcomes_of(claimed: Sequence[Due], answers: Sequence[Answer], sent: float) -> list[Outcome]:
    """The claimed deliveries' outcomes; ``sent`` is the ``perf_counter`` when the batch
    left, so each attempt's time is the claim's database time plus the time since."""
    return [
        Outcome(
            due,
            due.claimed_at + timedelta(seconds=sent - due.claimed_clock + answer.started),
            answer,
        )
        for due, answer in zip(claimed, answers, strict=True)
    ]


# Recording.


def _delivered(connection: Connection, outcomes: list[Outcome], now: datetime) -> None:
    by_status: dict[int, list[int]] = {}
    for outcome in outcomes:
        assert outcome.answer.status_code is not None
        by_status.setdefault(outcome.answer.status_code, []).append(outcome.due.delivery_id)
    for status, ids in by_status.items():
        connection.execute(
            update(_d)
            .where(_d.c.id.in_(ids), _d.c.status == DeliveryStatus.PENDING)
            .values(
                status=DeliveryStatus.DELIVERED,
                attempts=_d.c.attempts + 1,
                last_status_code=status,
                last_error=None,
                delivered_at=now,
                claimed_until=None,
            )
        )


def _what(outcome: Outcome) -> str:
    return outcome.answer.error or f"HTTP {outcome.answer.status_code}"


@dataclass(frozen=True, slots=True)
class _Retry:
    """A delivery's new values after a failed attempt."""

    delivery_id: int
    attempts: int
    status: str
    next_attempt_at: datetime


def _retry(outcome: Outcome, now: datetime, schedule: Sequence[float]) -> _Retry:
    attempts = outcome.due.attempts + 1
    if outcome.answer.status_code == 410 or attempts > len(schedule):
        return _Retry(outcome.due.delivery_id, attempts, DeliveryStatus.FAILED, now)
    wait = schedule[attempts - 1] * random.uniform(*JITTER)
    return _Retry(
        outcome.due.delivery_id,
        attempts,
        DeliveryStatus.PENDING,
        now + timedelta(seconds=wait),
    )


def _disable_reason(outcome: Outcome) -> str:
    if outcome.answer.status_code == 410:
        return "the endpoint answered 410 Gone"
    since = iso_utc(outcome.due.created_at)
    return f"failing since {since}: {outcome.due.attempts + 1} attempts, the last {_what(outcome)}"


def _failed(
    connection: Connection, outcomes: list[Outcome], now: datetime, schedule: Sequence[float]
) -> dict[int, datetime]:
    """Record failed attempts; when each endpoint's failed deliveries are due again."""
    changes = [_retry(outcome, now, schedule) for outcome in outcomes]
    run_many(
        connection,
        "UPDATE webhook_deliveries SET status = ?, attempts = ?, last_status_code = ?, "
        "last_error = ?, next_attempt_at = ?, claimed_until = NULL "
        "WHERE id = ? AND status = ?",
        [
            (
                change.status,
                change.attempts,
                outcome.answer.status_code,
                (outcome.answer.error or "")[:RESPONSE_CHARS] or None,
                stored_moment(connection, change.next_attempt_at),
                change.delivery_id,
                DeliveryStatus.PENDING,
            )
            for outcome, change in zip(outcomes, changes, strict=True)
        ],
    )
    disabled = {
        outcome.due.endpoint_id: _disable_reason(outcome)[:200]
        for outcome, change in zip(outcomes, changes, strict=True)
        if change.status == DeliveryStatus.FAILED
    }
    for endpoint_id, reason in disabled.items():
        connection.execute(
            update(_e)
            .where(_e.c.id == endpoint_id, _e.c.enabled.is_(True))
            .values(enabled=False, disabled_reason=reason, disabled_at=now)
        )
    return {
        outcome.due.endpoint_id: change.next_attempt_at
        for outcome, change in zip(outcomes, changes, strict=True)
    }


def _quiet(
    connection: Connection, failed: list[Outcome], held: list[Outcome], due: dict[int, datetime]
) -> None:
    """Where an attempt found no one (no connection, no answer in time, an address
    refused), the endpoint is quiet until that attempt's next one: none of its
    deliveries is claimed before. Its deliveries held back this round are released,
    with no attempt counted."""
    quiet = {o.due.endpoint_id for o in failed if o.answer.status_code is None}
    if quiet:
        run_many(
            connection,
            "UPDATE webhook_endpoints SET quiet_until = ? WHERE id = ?",
            [(stored_moment(connection, due[endpoint]), endpoint) for endpoint in sorted(quiet)],
        )
    run_many(
        connection,
        "UPDATE webhook_deliveries SET claimed_until = NULL WHERE id = ?",
        [(outcome.due.delivery_id,) for outcome in held],
    )


def record(connection: Connection, outcomes: Sequence[Outcome], schedule: Sequence[float]) -> None:
    """Write the attempts and what they mean for their deliveries and endpoints; the
    deliveries not attempted wait, their endpoint quiet, as long as the attempt that found
    no one there."""
    if not outcomes:
        return
    _without_durable_commit(connection)
    now = database_now(connection)
    held = [outcome for outcome in outcomes if not outcome.answer.sent]
    outcomes = [outcome for outcome in outcomes if outcome.answer.sent]
    run_many(
        connection,
        "INSERT INTO webhook_attempts (delivery_id, attempted_at, status_code, error, "
        "response, duration_ms) VALUES (?, ?, ?, ?, ?, ?)",
        [
            (
                outcome.due.delivery_id,
                stored_moment(connection, outcome.attempted_at),
                outcome.answer.status_code,
                outcome.answer.error,
                outcome.answer.response,
                outcome.answer.duration_ms,
            )
            for outcome in outcomes
        ],
    )
    delivered = [outcome for outcome in outcomes if outcome.delivered]
    failed = [outcome for outcome in outcomes if not outcome.delivered]
    if delivered:
        _delivered(connection, delivered, now)
    if failed:
        _quiet(connection, failed, held, _failed(connection, failed, now, schedule))


# The loop.

# Sends a batch of messages and answers what each got.
Send = Callable[[list[Message]], Awaitable[Sent]]


def claim_size(settings: WebhookSettings) -> int:
    return settings.concurrency * CLAIM_ROUNDS


def lease_seconds(settings: WebhookSettings, count: int) -> float:
    """How long a claim of ``count`` deliveries lasts: long enough for them all to time
    out, ``concurrency`` at once, plus a margin for the address checks and the record."""
    return settings.timeout * math.ceil(count / settings.concurrency) + LEASE_MARGIN_SECONDS


def _fan_out_and_claim(
    connection: Connection, *, found: Spread | None, settings: WebhookSettings
) -> tuple[int, Claim]:
    fanned = apply_spread(connection, found) if found is not None else 0
    return fanned, claim(connection, claim_size(settings), settings)


async def _in_process(settings: WebhookSettings, messages: list[Message]) -> Sent:
    async with new_client(settings) as client:
        return await send_all(client, messages, settings)


async def run_once(
    database: Database, settings: WebhookSettings, send: Send | None = None
) -> Round:
    """One round: look for work (a read); fan out and claim (one short write); read what
    to send; send it (``send``: the runner's sender process; by default, from this
    process); record the attempts (another short write)."""
    started = time.perf_counter()
    async with database.read() as connection:
        found = await connection.run_sync(look, claim_size(settings))
    if not found:
        return Round()
    # The runner's writes need no witness: what a lost commit leaves is taken up again.
    fanned, taken = await database.write(
        partial(_fan_out_and_claim, found=found.spread, settings=settings), witnessed=False
    )
    async with database.read() as connection:
        dues = await connection.run_sync(claimed, taken)
    spent = time.perf_counter() - started
    if not dues:
        return Round(events=fanned, busy_seconds=spent)
    leaving = time.perf_counter()
    sent = await (send or partial(_in_process, settings))([message_of(due) for due in dues])
    outcomes = outcomes_of(dues, sent.answers, leaving)
    recording = time.perf_counter()
    await database.write(
        partial(record, outcomes=outcomes, schedule=settings.retry_schedule), witnessed=False
    )
    spent += time.perf_counter() - recording + sent.cpu_seconds
    attempted = sum(outcome.answer.sent for outcome in outcomes)
    delivered = sum(outcome.delivered for outcome in outcomes)
    return Round(fanned, attempted, delivered, spent)


def rest_after(done: Round, crowding: Crowding) -> float:
    """Money first: how long the runner leaves the machine to the server after a busy
    round, up to :data:`PACE` times what the round took (the database's lock waits
    included), the more the more crowded the cores have been."""
    return done.busy_seconds * PACE * crowding.factor()


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def run(
    database: Database,
    settings: WebhookSettings,
    *,
    stop: asyncio.Event | None = None,
    alive: Callable[[], bool] | None = None,
) -> None:
    """Deliver until ``stop`` is set (or ``alive`` answers False), sleeping ``poll`` when
    there is nothing to do; a failing round (the database is away, the sender died) is
    logged and tried again after a pause. The HTTP attempts are made by a
    :class:`~caja.webhooks.sender.Sender` process at a lower priority."""
    stop = stop if stop is not None else asyncio.Event()
    sender = Sender(settings, bound=lease_seconds(settings, claim_size(settings)))
    crowding = Crowding()
    try:
        while not stop.is_set():
            if alive is not None and not alive():
                log.warning("the webhook runner's parent is gone: stopping")
                return
            try:
                done = await run_once(database, settings, sender.send)
            except Exception:
                log.exception("a webhook delivery round failed; trying again")
                await _pause(stop, max(settings.poll, 1.0))
                continue
            if not (done.events or done.attempted):
                await _pause(stop, settings.poll)
            else:
                await _pause(stop, rest_after(done, crowding))
    finally:
        await sender.close()
