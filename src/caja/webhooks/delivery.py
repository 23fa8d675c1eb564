"""Sending webhooks: signed POSTs, and what each answered. No database here: the runner
claims deliveries and records their attempts; these functions (run by the runner's
sender, :mod:`caja.webhooks.sender`) only talk HTTP."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from caja.config import WebhookSettings
from caja.webhooks.urls import public_address

__all__ = [
    "RESPONSE_CHARS",
    "USER_AGENT",
    "Answer",
    "Message",
    "Sent",
    "deliver",
    "deliver_all",
    "headers_of",
    "new_client",
    "send_all",
]

# Of an answer's body, what an attempt keeps.
RESPONSE_CHARS = 500
USER_AGENT = "caja-webhooks/1"


@dataclass(frozen=True, slots=True)
class Message:
    """One webhook to send: the event's JSON, signed with each of ``secrets``."""

    key: int  # the delivery's id
    url: str
    secrets: tuple[str, ...]
    webhook_id: str  # the event's id
    body: bytes


@dataclass(frozen=True, slots=True)
class Answer:
    """What one attempt of a message got."""

    key: int
    # Seconds from the start of the batch to the start of the attempt.
    started: float
    duration_ms: int
    status_code: int | None = None
    response: str | None = None
    error: str | None = None
    # False: not attempted, because an earlier message to the same URL found no one
    # there (see :func:`deliver_all`).
    sent: bool = True

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def unreachable(self) -> bool:
        """No answer at all: no connection, or none in time."""
        return self.sent and self.status_code is None


def headers_of(message: Message, moment: datetime) -> dict[str, str]:
    """The Standard Webhooks headers: the event id, the time, and a signature per secret."""
    from standardwebhooks import Webhook

    signatures = " ".join(
        Webhook(secret).sign(msg_id=message.webhook_id, timestamp=moment, data=message.body)
        for secret in message.secrets
    )
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": message.webhook_id,
        "webhook-timestamp": str(math.floor(moment.timestamp())),
        "webhook-signature": signatures,
    }


async def _allowed(url: str) -> bool:
    parts = urlsplit(url)
    if not parts.hostname:
        return False
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return await asyncio.to_thread(public_address, parts.hostname, port)


async def _post(session: aiohttp.ClientSession, message: Message) -> tuple[int, str]:
    """The answer's status and the start of its body (never more than a few KB read)."""
    headers = headers_of(message, datetime.now(UTC))
    async with session.post(
        message.url, data=message.body, headers=headers, allow_redirects=False
    ) as got:
        limit, start = 4 * RESPONSE_CHARS, b""
        while len(start) < limit and (part := await got.content.read(limit - len(start))):
            start += part
        return got.status, start.decode(errors="replace")[:RESPONSE_CHARS]


def _failure(error: Exception, timeout: float) -> str:
    if isinstance(error, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(error, aiohttp.ClientConnectorError):
        return f"could not connect: {error}"[:RESPONSE_CHARS]
    return f"{type(error).__name__}: {error}"[:RESPONSE_CHARS]


async def deliver(
    client: aiohttp.ClientSession,
    message: Message,
    *,
    allow_private: bool,
    timeout: float,
    origin: float,
) -> Answer:
    """One attempt of ``message`` (``origin``: the batch's ``perf_counter`` at its start):
    never raises, the answer tells what happened."""
    started = time.perf_counter()

    def answer(**what: Any) -> Answer:
        duration = round((time.perf_counter() - started) * 1000)
        return Answer(message.key, started - origin, duration, **what)

    if not allow_private and not await _allowed(message.url):
        return answer(
            error="refused: the URL's host is a loopback or private address, or does not "
            "resolve (CAJA_WEBHOOKS_ALLOW_PRIVATE is off)"
        )
    try:
        status, response = await _post(client, message)
    except (aiohttp.ClientError, TimeoutError) as error:
        return answer(error=_failure(error, timeout))
    return answer(status_code=status, response=response)


async def deliver_all(
    client: aiohttp.ClientSession, messages: Sequence[Message], settings: WebhookSettings
) -> list[Answer]:
    """Try every message, ``settings.concurrency`` at once; an answer each, in order.

    Each URL is tried first with its first message: when nothing answers there (no
    connection, or no answer in time), its other messages are not sent (their answers
    say so), since they would only meet the same silence.
    """
    gate = asyncio.Semaphore(settings.concurrency)
    origin = time.perf_counter()

    async def one(message: Message) -> Answer:
        async with gate:
            return await deliver(
                client,
                message,
                allow_private=settings.allow_private,
                timeout=settings.timeout,
                origin=origin,
            )

    async def to(url: str, queued: list[Message]) -> list[Answer]:
        first = await one(queued[0])
        if first.unreachable:
            return [first, *(Answer(m.key, first.started, 0, sent=False) for m in queued[1:])]
        return [first, *await asyncio.gather(*(one(message) for message in queued[1:]))]

    by_url: dict[str, list[Message]] = {}
    for message in messages:
        by_url.setdefault(message.url, []).append(message)
    answered = await asyncio.gather(*(to(url, queued) for url, queued in by_url.items()))
    found = {answer.key: answer for answers in answered for answer in answers}
    return [found[message.key] for message in messages]


@dataclass(frozen=True, slots=True)
class Sent:
    """A batch's answers, in order, and the CPU time its sending took."""

    answers: list[Answer]
    cpu_seconds: float


async def send_all(
    client: aiohttp.ClientSession, messages: Sequence[Message], settings: WebhookSettings
) -> Sent:
    """:func:`deliver_all`, and this process's CPU time meanwhile."""
    started = time.process_time()
    answers = await deliver_all(client, messages, settings)
    return Sent(answers, time.process_time() - started)


def new_client(settings: WebhookSettings) -> aiohttp.ClientSession:
    """The HTTP client of a batch's attempts: ``concurrency`` connections at most, the
    timeout for the whole of each attempt, no cookies kept from one answer to the next,
    and no proxy from the environment: the address checked is the one connected to."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=settings.concurrency),
        timeout=aiohttp.ClientTimeout(total=settings.timeout),
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
    )
