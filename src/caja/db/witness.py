"""Witnesses: how a write outside the batches is looked up when its COMMIT's answer is lost.

A batch looks one of its new transfers up by its token. Any other write that changed
something writes a random token into ``commit_witnesses`` (migration 0016) in its own
transaction, as its last statement; if the answer to its COMMIT is lost, the token is
looked up on whichever server takes writes now. A write that changed nothing leaves
none: its COMMIT can change nothing either. An id of the transaction itself would not
do: a standby that takes over before it has the transaction gives the same ids to
others. Now and then a write also removes witnesses an hour old, a few at a time.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from caja.core.clock import utcnow
from caja.db.schema import stored_moment
from caja.db.sql import rows_changed

__all__ = ["PRUNE_ONE_IN", "leave", "leave_sqlite", "probe"]

# One write in this many also removes old witnesses.
PRUNE_ONE_IN = 32
KEPT = timedelta(hours=1)

# PostgreSQL: written only when the transaction has an id, which it gets by changing
# something (or locking a row).
_LEAVE_PG = text(
    "INSERT INTO commit_witnesses (token, created_at) "
    "SELECT :token, now() WHERE txid_current_if_assigned() IS NOT NULL"
)
_PRUNE_PG = text(
    "DELETE FROM commit_witnesses WHERE token IN (SELECT token FROM commit_witnesses "
    "WHERE created_at < now() - interval '1 hour' ORDER BY created_at LIMIT 256 "
    "FOR UPDATE SKIP LOCKED)"
)
_LEAVE_SQLITE = text("INSERT INTO commit_witnesses (token, created_at) VALUES (:token, :at)")
_PRUNE_SQLITE = text(
    "DELETE FROM commit_witnesses WHERE token IN (SELECT token FROM commit_witnesses "
    "WHERE created_at < :before ORDER BY created_at LIMIT 256)"
)
_FOUND = text("SELECT 1 FROM commit_witnesses WHERE token = :token")


async def leave(connection: AsyncConnection) -> str | None:
    """PostgreSQL: the token of the witness written in the transaction, or None when it
    changed nothing."""
    token = secrets.token_hex(16)
    written = await connection.execute(_LEAVE_PG, {"token": token})
    if written.rowcount == 0:
        return None
    if random.randrange(PRUNE_ONE_IN) == 0:
        await connection.execute(_PRUNE_PG)
    return token


def leave_sqlite(connection: Connection, changed_before: int) -> str | None:
    """SQLite: the token of the witness written in the transaction, or None when it
    changed nothing since the connection had changed ``changed_before`` rows
    (:func:`caja.db.sql.rows_changed`)."""
    if rows_changed(connection) == changed_before:
        return None
    token = secrets.token_hex(16)
    now = utcnow()
    connection.execute(_LEAVE_SQLITE, {"token": token, "at": stored_moment(connection, now)})
    if random.randrange(PRUNE_ONE_IN) == 0:
        connection.execute(_PRUNE_SQLITE, {"before": stored_moment(connection, now - KEPT)})
    return token


def probe(token: str | None) -> Callable[[Connection], bool] | None:
    """Whether the transaction that wrote the witness ``token`` is in the database."""
    if token is None:
        return None
    return lambda connection: connection.execute(_FOUND, {"token": token}).first() is not None
