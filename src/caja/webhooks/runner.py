"""The delivery runner: it turns events into deliveries and sends them, apart from the
request path (``caja webhooks run``; ``caja serve`` starts one as a child process).

Each round:

- **fan-out**: in one write transaction, the runner that locks the cursor's row (on
  PostgreSQL ``FOR UPDATE SKIP LOCKED``: another runner holding it skips this step) reads
  the events after it of the clients with an enabled endpoint (their ids, clients, types
  and times: no data), makes one pending delivery per enabled endpoint of the event's
  client that takes its type and was added before it, and moves the cursor. When no one
  listens, nothing is read or written. Event ids rise in commit order (see
  :mod:`caja.ledger.events`), so the cursor never passes an event that is not yet visible.
- **claim**: due pending deliveries of enabled endpoints whose claim (``claimed_until``)
  is free, locked with ``SKIP LOCKED``, are claimed until a lease (long enough to try
  every one of them) by the database's clock. Any number of runners on any number of
  hosts share the work; one that dies leaves its claims to expire and be taken again,
  so each delivery is made at least once.
- **deliver**: a POST of the event's JSON signed as Standard Webhooks says, at most
  ``concurrency`` at once, no redirects followed; unless private addresses are allowed,
  the URL's host must still resolve only to public addresses.
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.engine import Connection

from caja.config import WebhookSettings
from caja.core.clock import database_now, iso_utc
from caja.db.engine import Database
from caja.ledger.events import EventRow, event_heads, events_by_ids, last_event_id
from caja.webhooks.service import DeliveryStatus, subscribed
from caja.webhooks.tables import (
    webhook_attempts,
    webhook_cursor,
    webhook_deliveries,
    webhook_endpoints,
)
from caja.webhooks.urls import public_address

__all__ = [
    "Due",
    "Outcome",
    "Round",
    "claim",
    "deliver",
    "fan_out",
    "record",
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
# After a round, the runner rests this many times the time it spent on the database: at
# most a twentieth of the database's time in its transactions.
PACE = 20.0
# Of an answer's body, what an attempt keeps.
RESPONSE_CHARS = 500
# Each wait is stretched or shrunk by up to a tenth: the default schedule still retries for
# more than 24 hours (99,305 s times 0.9).
JITTER = (0.9, 1.1)
USER_AGENT = "caja-webhooks/1"

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
    """One attempt of a delivery."""

    due: Due
    attempted_at: datetime
    duration_ms: int
    status_code: int | None = None
    response: str | None = None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True, slots=True)
class Round:
    """What a round did: events fanned out, deliveries attempted and delivered."""

    events: int = 0
    attempted: int = 0
    delivered: int = 0
    # Time spent on the database (waiting for its locks included).
    database_seconds: float = 0.0


# Fan-out.


def _lock_cursor(connection: Connection) -> int | None:
    query = select(webhook_cursor.c.event_id).where(webhook_cursor.c.id == 1)
    if connection.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    found = connection.execute(query).scalar_one_or_none()
    return None if found is None else int(found)


@dataclass(frozen=True, slots=True)
class _Target:
    endpoint_id: int
    types: tuple[str, ...] | None
    since: datetime


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


def fan_out(connection: Connection, limit: int = FAN_OUT_EVENTS) -> int:
    """Make the deliveries of the events after the cursor and move it; the number of
    events read (0 when there were none, or another runner holds the cursor).

    Only the events of clients with an enabled endpoint are read, by the index of each
    client's events, and without their data: events nobody listens to cost nothing.
    """
    cursor = _lock_cursor(connection)
    if cursor is None:
        return 0
    targets = _targets(connection)
    last = last_event_id(connection)
    if not targets or last <= cursor:
        return 0
    _without_durable_commit(connection)
    found = event_heads(connection, sorted(targets), (cursor, last), limit, _earliest(targets))
    now = database_now(connection)
    rows = [
        {
            "endpoint_id": target.endpoint_id,
            "event_id": event.id,
            "status": DeliveryStatus.PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for event in found
        for target in targets.get(event.client_id, ())
        if subscribed(target.types, event.type) and event.created_at >= target.since
    ]
    if rows:
        connection.execute(insert(_d), rows)
    moved = found[-1].id if len(found) == limit else last
    connection.execute(
        update(webhook_cursor).where(webhook_cursor.c.id == 1).values(event_id=moved)
    )
    return len(found)


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
        )
        .order_by(_d.c.next_attempt_at, _d.c.id)
        .limit(limit)
    )
    if lock and connection.dialect.name == "postgresql":
        query = query.with_for_update(of=_d, skip_locked=True)
    return [int(found) for found in connection.execute(query).scalars()]


def _secrets(row: Any, now: datetime) -> tuple[str, ...]:
    """The secrets that sign: the endpoint's, and for a day after a rotation the old one."""
    if row.previous_secret and row.previous_until is not None and row.previous_until > now:
        return (row.secret, row.previous_secret)
    return (row.secret,)


def claim(connection: Connection, limit: int, settings: WebhookSettings) -> list[Due]:
    """Claim up to ``limit`` due deliveries, for as long as trying them may take."""
    now = database_now(connection)
    clock = time.perf_counter()
    ids = _due_ids(connection, now, limit)
    if not ids:
        return []
    _without_durable_commit(connection)
    connection.execute(
        update(_d)
        .where(_d.c.id.in_(ids))
        .values(claimed_until=now + timedelta(seconds=lease_seconds(settings, len(ids))))
    )
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
        .where(_d.c.id.in_(ids))
        .order_by(_d.c.next_attempt_at, _d.c.id)
    ).all()
    found = events_by_ids(connection, sorted({int(row.event_id) for row in rows}))
    return [
        Due(
            delivery_id=int(row.id),
            endpoint_id=int(row.endpoint_id),
            url=row.url,
            secrets=_secrets(row, now),
            event=found[int(row.event_id)],
            attempts=int(row.attempts),
            created_at=row.created_at,
            claimed_at=now,
            claimed_clock=clock,
        )
        for row in rows
    ]


def has_work(connection: Connection) -> tuple[bool, bool]:
    """Whether there are events to fan out, and deliveries due (a read, so that an idle
    runner never takes SQLite's write lock)."""
    cursor = connection.execute(
        select(webhook_cursor.c.event_id).where(webhook_cursor.c.id == 1)
    ).scalar_one_or_none()
    listened = _targets(connection)
    events = (
        cursor is not None
        and bool(listened)
        and bool(
            event_heads(
                connection,
                sorted(listened),
                (int(cursor), last_event_id(connection)),
                1,
                _earliest(listened),
            )
        )
    )
    return events, bool(_due_ids(connection, database_now(connection), 1, lock=False))


# Delivery.


def headers_of(due: Due, moment: datetime) -> dict[str, str]:
    """The Standard Webhooks headers: the event id, the time, and a signature per secret."""
    from standardwebhooks import Webhook

    body = due.event.body()
    signatures = " ".join(
        Webhook(secret).sign(msg_id=due.event.token, timestamp=moment, data=body)
        for secret in due.secrets
    )
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": due.event.token,
        "webhook-timestamp": str(math.floor(moment.timestamp())),
        "webhook-signature": signatures,
    }


async def _allowed(url: str) -> bool:
    parts = urlsplit(url)
    if not parts.hostname:
        return False
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return await asyncio.to_thread(public_address, parts.hostname, port)


async def _post(client: httpx.AsyncClient, due: Due) -> tuple[int, str]:
    """The answer's status and the start of its body (never more than a few KB read)."""
    headers = headers_of(due, datetime.now(UTC))
    async with client.stream("POST", due.url, content=due.event.body(), headers=headers) as answer:
        start = b""
        async for part in answer.aiter_bytes():
            start += part
            if len(start) >= 4 * RESPONSE_CHARS:
                break
        return answer.status_code, start.decode(errors="replace")[:RESPONSE_CHARS]


def _failure(error: Exception, timeout: float) -> str:
    if isinstance(error, httpx.TimeoutException):
        return f"no answer within {timeout:g} s"
    if isinstance(error, httpx.ConnectError):
        return f"could not connect: {error}"[:RESPONSE_CHARS] or "could not connect"
    return f"{type(error).__name__}: {error}"[:RESPONSE_CHARS]


async def deliver(
    client: httpx.AsyncClient, due: Due, *, allow_private: bool, timeout: float
) -> Outcome:
    """One attempt of ``due``: never raises, the outcome tells what happened."""
    started = time.perf_counter()
    attempted_at = due.claimed_at + timedelta(seconds=started - due.claimed_clock)

    def outcome(**what: Any) -> Outcome:
        duration = round((time.perf_counter() - started) * 1000)
        return Outcome(due, attempted_at, duration, **what)

    if not allow_private and not await _allowed(due.url):
        return outcome(
            error="refused: the URL's host is a loopback or private address, or does not "
            "resolve (CAJA_WEBHOOKS_ALLOW_PRIVATE is off)"
        )
    try:
        status, response = await _post(client, due)
    except httpx.HTTPError as error:
        return outcome(error=_failure(error, timeout))
    return outcome(status_code=status, response=response)


async def deliver_all(
    client: httpx.AsyncClient, claimed: Sequence[Due], settings: WebhookSettings
) -> list[Outcome]:
    """Try every claimed delivery, ``settings.concurrency`` at once."""
    gate = asyncio.Semaphore(settings.concurrency)

    async def one(due: Due) -> Outcome:
        async with gate:
            return await deliver(
                client, due, allow_private=settings.allow_private, timeout=settings.timeout
            )

    return list(await asyncio.gather(*(one(due) for due in claimed)))


# Recording.


def _delivered(connection: Connection, outcomes: list[Outcome], now: datetime) -> None:
    by_status: dict[int, list[int]] = {}
    for outcome in outcomes:
        assert outcome.status_code is not None
        by_status.setdefault(outcome.status_code, []).append(outcome.due.delivery_id)
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
    return outcome.error or f"HTTP {outcome.status_code}"


def _retry(outcome: Outcome, now: datetime, schedule: Sequence[float]) -> dict[str, Any]:
    """The delivery's new values after a failed attempt."""
    attempts = outcome.due.attempts + 1
    values: dict[str, Any] = {
        "b_id": outcome.due.delivery_id,
        "b_attempts": attempts,
        "b_code": outcome.status_code,
        "b_error": (outcome.error or "")[:RESPONSE_CHARS] or None,
        "b_status": DeliveryStatus.PENDING,
        "b_next": now,
    }
    if outcome.status_code == 410 or attempts > len(schedule):
        values["b_status"] = DeliveryStatus.FAILED
    else:
        values["b_next"] = now + timedelta(seconds=schedule[attempts - 1] * random.uniform(*JITTER))
    return values


def _disable_reason(outcome: Outcome) -> str:
    if outcome.status_code == 410:
        return "the endpoint answered 410 Gone"
    since = iso_utc(outcome.due.created_at)
    return f"failing since {since}: {outcome.due.attempts + 1} attempts, the last {_what(outcome)}"


def _failed(
    connection: Connection, outcomes: list[Outcome], now: datetime, schedule: Sequence[float]
) -> None:
    changes = [_retry(outcome, now, schedule) for outcome in outcomes]
    connection.execute(
        update(_d)
        .where(_d.c.id == bindparam("b_id"), _d.c.status == DeliveryStatus.PENDING)
        .values(
            status=bindparam("b_status"),
            attempts=bindparam("b_attempts"),
            last_status_code=bindparam("b_code"),
            last_error=bindparam("b_error"),
            next_attempt_at=bindparam("b_next"),
            claimed_until=None,
        ),
        changes,
    )
    disabled = {
        outcome.due.endpoint_id: _disable_reason(outcome)[:200]
        for outcome, change in zip(outcomes, changes, strict=True)
        if change["b_status"] == DeliveryStatus.FAILED
    }
    for endpoint_id, reason in disabled.items():
        connection.execute(
            update(_e)
            .where(_e.c.id == endpoint_id, _e.c.enabled.is_(True))
            .values(enabled=False, disabled_reason=reason, disabled_at=now)
        )


def record(connection: Connection, outcomes: Sequence[Outcome], schedule: Sequence[float]) -> None:
    """Write the attempts and what they mean for their deliveries and endpoints."""
    if not outcomes:
        return
    _without_durable_commit(connection)
    now = database_now(connection)
    connection.execute(
        insert(webhook_attempts),
        [
            {
                "delivery_id": outcome.due.delivery_id,
                "attempted_at": outcome.attempted_at,
                "status_code": outcome.status_code,
                "error": outcome.error,
                "response": outcome.response,
                "duration_ms": outcome.duration_ms,
            }
            for outcome in outcomes
        ],
    )
    delivered = [outcome for outcome in outcomes if outcome.delivered]
    failed = [outcome for outcome in outcomes if not outcome.delivered]
    if delivered:
        _delivered(connection, delivered, now)
    if failed:
        _failed(connection, failed, now, schedule)


# The loop.


def new_client(settings: WebhookSettings) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=settings.timeout,
        follow_redirects=False,
        limits=httpx.Limits(max_connections=settings.concurrency),
    )


def claim_size(settings: WebhookSettings) -> int:
    return settings.concurrency * CLAIM_ROUNDS


def lease_seconds(settings: WebhookSettings, count: int) -> float:
    """How long a claim of ``count`` deliveries lasts: long enough for them all to time
    out, ``concurrency`` at once, plus a margin for the address checks and the record."""
    return settings.timeout * math.ceil(count / settings.concurrency) + LEASE_MARGIN_SECONDS


def _fan_out_and_claim(
    connection: Connection, *, events: bool, settings: WebhookSettings
) -> tuple[int, list[Due]]:
    fanned = fan_out(connection) if events else 0
    return fanned, claim(connection, claim_size(settings), settings)


async def run_once(
    database: Database, settings: WebhookSettings, client: httpx.AsyncClient | None = None
) -> Round:
    """One round: fan out and claim (one transaction), deliver, record (another)."""
    started = time.perf_counter()
    async with database.read() as connection:
        events, due = await connection.run_sync(has_work)
    if not (events or due):
        return Round()
    fanned, claimed = await database.write(
        partial(_fan_out_and_claim, events=events, settings=settings)
    )
    spent = time.perf_counter() - started
    if not claimed:
        return Round(events=fanned, database_seconds=spent)
    async with contextlib.AsyncExitStack() as stack:
        if client is None:
            client = await stack.enter_async_context(new_client(settings))
        outcomes = await deliver_all(client, claimed, settings)
    recording = time.perf_counter()
    await database.write(partial(record, outcomes=outcomes, schedule=settings.retry_schedule))
    spent += time.perf_counter() - recording
    delivered = sum(outcome.delivered for outcome in outcomes)
    return Round(fanned, len(outcomes), delivered, spent)


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
    there is nothing to do; a failing round (the database is away) is logged and tried
    again after a pause."""
    stop = stop if stop is not None else asyncio.Event()
    async with new_client(settings) as client:
        while not stop.is_set():
            if alive is not None and not alive():
                log.warning("the webhook runner's parent is gone: stopping")
                return
            try:
                done = await run_once(database, settings, client)
            except Exception:
                log.exception("a webhook delivery round failed; trying again")
                await _pause(stop, max(settings.poll, 1.0))
                continue
            if not (done.events or done.attempted):
                await _pause(stop, settings.poll)
            else:
                # Money first: the runner leaves the database to the server most of the
                # time, the longer the busier the database is (its locks' waits count).
                await _pause(stop, done.database_seconds * PACE)
