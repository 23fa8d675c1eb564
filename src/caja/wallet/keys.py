"""Sends that can be retried: an ``Idempotency-Key`` per profile, as Stripe has it.

The first request with a key claims it: a row (profile, key, digest of the body) written
before anything moves. The send then posts with two guards in the batch's own
transaction: a check that the key has no answer yet (under the batch's locks, the key's
row read for update) and a record of the answer (200) beside the transfer. The transfer
and the key's answer are committed together or not at all, so a retry after a crash, a
lost answer or a timeout either finds the answer or finds no transfer and sends.

An underfunded send (601) moves nothing; its answer is stored right after, unless a
concurrent request with the key sent meanwhile: every request answers what the key
stores once it is done, so all answer alike. Requests with one key in one process take
turns (a lock per key), so a batch never holds two of them; across processes the source
account's row lock orders them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import partial
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from caja.core.clock import utcnow
from caja.core.errors import CajaError, InvalidInput
from caja.db.engine import Database
from caja.wallet.service import Guard, Profile
from caja.wallet.tables import wallet_send_keys as keys

__all__ = [
    "KEEP",
    "SENT",
    "UNDERFUNDED",
    "Attempt",
    "KeyReused",
    "body_digest",
    "check_key",
    "once",
    "serial",
]

KEEP = timedelta(hours=24)  # a key is kept at least this long; older ones are purged lazily
SENT = 200
UNDERFUNDED = 601
_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, as HTTP headers carry it

# A send with a guard: True sent, False underfunded; raises to refuse.
Attempt = Callable[[Guard], Awaitable[bool]]


class KeyReused(InvalidInput):
    def __init__(self) -> None:
        super().__init__(
            "Idempotency-Key", "was already used with another body", code="idempotency_key_reused"
        )


class _Answered(CajaError):
    """The key got its answer while this request waited for the batch: it answers that."""

    code = "already_answered"


def check_key(raw: str) -> str:
    if not _KEY.fullmatch(raw):
        raise InvalidInput("Idempotency-Key", "must be 1 to 255 visible ASCII characters")
    return raw


def body_digest(body: Any) -> str:
    """The same digest for the same JSON, whatever the order of its fields."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class _Serial:
    """One asyncio lock per name, dropped when no one holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(name, (asyncio.Lock(), 0))
        self._locks[name] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[name]
            if users == 1:
                del self._locks[name]
            else:
                self._locks[name] = (lock, users - 1)


serial = _Serial()


def _where(profile_id: int, key: str) -> tuple[Any, ...]:
    return (keys.c.profile_id == profile_id, keys.c.key == key)


def _claim(connection: Connection, profile_id: int, key: str, digest: str) -> int | None:
    """The key's stored answer (None: none yet), the key claimed when new; KeyReused when
    it came with another body. Keys of the profile past KEEP are purged first."""
    now = utcnow()
    connection.execute(
        delete(keys).where(keys.c.profile_id == profile_id, keys.c.created_at < now - KEEP)
    )
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    connection.execute(
        dialect.insert(keys)
        .values(profile_id=profile_id, key=key, body_digest=digest, created_at=now)
        .on_conflict_do_nothing(index_elements=["profile_id", "key"])
    )
    row = connection.execute(
        select(keys.c.body_digest, keys.c.answer).where(*_where(profile_id, key))
    ).one()
    if row.body_digest != digest:
        raise KeyReused()
    return row.answer  # type: ignore[no-any-return]


def _unanswered(profile_id: int, key: str, connection: Connection) -> None:
    answer = connection.execute(
        select(keys.c.answer).where(*_where(profile_id, key)).with_for_update()
    ).scalar_one_or_none()
    if answer is not None:
        raise _Answered()


def _answer(
    profile_id: int, key: str, answer: int, connection: Connection, transfer: str | None = None
) -> None:
    connection.execute(
        update(keys)
        .where(*_where(profile_id, key), keys.c.answer.is_(None))
        .values(answer=answer, transfer_token=transfer)
    )


def _stored(connection: Connection, profile_id: int, key: str) -> int | None:
    found = connection.execute(select(keys.c.answer).where(*_where(profile_id, key)))
    return found.scalar_one_or_none()


def _release(connection: Connection, profile_id: int, key: str) -> int | None:
    """Drop the key when it has no answer (its send was refused); its answer otherwise."""
    connection.execute(delete(keys).where(*_where(profile_id, key), keys.c.answer.is_(None)))
    return _stored(connection, profile_id, key)


async def once(database: Database, who: Profile, key: str, digest: str, attempt: Attempt) -> int:
    """The answer of the keyed send ``attempt``: SENT or UNDERFUNDED, the first one's for
    every request with the key; the attempt runs only while the key has no answer."""
    async with serial.hold(f"{who.id}:{key}"):
        stored = await database.write(lambda c: _claim(c, who.id, key, digest))
        if stored is not None:
            return stored
        guard = Guard(
            checks=(partial(_unanswered, who.id, key),),
            records=(lambda c, transfer: _answer(who.id, key, SENT, c, transfer),),
        )
        try:
            sent = await attempt(guard)
        except _Answered:
            sent = True
        except CajaError:
            # Refused (nothing moved): the key is free again, unless another process's
            # request with it got an answer meanwhile, which this one answers too.
            answered = await database.write(lambda c: _release(c, who.id, key))
            if answered is None:
                raise
            return answered
        if not sent:
            await database.write(partial(_answer, who.id, key, UNDERFUNDED))
        async with database.read() as connection:
            answer = await connection.run_sync(_stored, who.id, key)
        return answer if answer is not None else (SENT if sent else UNDERFUNDED)
