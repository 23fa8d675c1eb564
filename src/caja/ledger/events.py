"""The outbox: events written in the transaction of the movement they tell of.

An event is ``{"id": "evt_…", "type": "…", "created_at": "…", "data": {…}}``. Its row is
written in the same database transaction as the movement or the status change it tells
of, so there is never one without the other, whatever crashes. The transfer path writes
the events of a batch's orders in one statement after its postings (see
:mod:`caja.ledger.batching`); other writers call :func:`append`.

Event ids rise in commit order: the transfer path holds the journal's row from before its
events' insert to its commit, and :func:`append` takes the same row first. So a reader
that saw event ``n`` committed has seen every event before it, and "the events after
``n``" is a safe cursor for paging and for the webhooks' fan-out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.engine import Connection

from caja.core.clock import iso_utc
from caja.core.tokens import new_tokens
from caja.db.schema import stored_moment
from caja.db.sql import among, run, run_many
from caja.ledger import store

__all__ = [
    "EVENT_TYPES",
    "EventHead",
    "EventRow",
    "NewEvent",
    "append",
    "event_by_token",
    "event_heads",
    "events_after",
    "events_by_ids",
    "events_of_client",
    "last_event_id",
    "write",
]

# Every type of event caja writes.
EVENT_TYPES = (
    "ledger.transfer.created",
    "topup.updated",
    "package.updated",
    "deposit.transfer.created",
    "deposit.transfer.reverted",
    "deposit.received",
    "wallet.payment.sent",
    "balance.crossed",
)

MAX_PAGE = 500


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to write: its type, the client it belongs to, its data (anything orjson
    writes, ``orjson.Fragment`` amounts included, or the object's JSON already rendered as
    one ``orjson.Fragment``) and the transfer it tells of."""

    type: str
    client_id: int
    data: Mapping[str, Any] | orjson.Fragment
    transfer_id: int | None = None


@dataclass(frozen=True, slots=True)
class EventRow:
    """A stored event."""

    id: int
    token: str
    client_id: int
    type: str
    transfer_id: int | None
    created_at: datetime
    data: str

    def body(self) -> bytes:
        """The event as JSON, as it is delivered and listed: its data spliced in as stored."""
        head = orjson.dumps(
            {"id": self.token, "type": self.type, "created_at": iso_utc(self.created_at)}
        )
        return head[:-1] + b',"data":' + self.data.encode() + b"}"

    def as_json(self) -> orjson.Fragment:
        return orjson.Fragment(self.body())


def _tokens(count: int) -> list[str]:
    return ["evt_" + token.removeprefix("evt-") for token in new_tokens("evt", count)]


_INSERT_PG = (
    "INSERT INTO events (token, client_id, type, transfer_id, created_at, data) "
    "SELECT token, client_id, type, transfer_id, created_at, data FROM unnest("
    "?::text[], ?::bigint[], ?::text[], ?::bigint[], ?::timestamp[], ?::text[]) "
    "WITH ORDINALITY AS e(token, client_id, type, transfer_id, created_at, data, n) ORDER BY n"
)
_INSERT_SQLITE = (
    "INSERT INTO events (token, client_id, type, transfer_id, created_at, data) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)


def write(connection: Connection, events: Sequence[NewEvent], moment: datetime) -> None:
    """Insert ``events``, made at ``moment``, in the caller's transaction, which holds the
    journal's row already (a batch that posted transfers does)."""
    if not events:
        return
    stored = stored_moment(connection, moment)
    rows = [
        (
            token,
            event.client_id,
            event.type,
            event.transfer_id,
            stored,
            orjson.dumps(event.data).decode(),
        )
        for token, event in zip(_tokens(len(events)), events, strict=True)
    ]
    if connection.dialect.name == "postgresql":
        run(
            connection,
            _INSERT_PG + " RETURNING id",
            [list(column) for column in zip(*rows, strict=True)],
        )
    else:
        run_many(connection, _INSERT_SQLITE, rows)


def append(connection: Connection, events: Sequence[NewEvent]) -> None:
    """Insert ``events`` outside the transfer path (a status change that moves no money),
    taking the journal's row first so that event ids keep rising in commit order."""
    if not events:
        return
    if connection.dialect.name == "postgresql":
        run(connection, "SELECT 1 FROM journal WHERE id = 1 FOR UPDATE", ())
    write(connection, events, store.database_now(connection))


_COLUMNS = "id, token, client_id, type, transfer_id, created_at, data"


def _rows(connection: Connection, sql: str, parameters: Sequence[Any]) -> list[EventRow]:
    return [_row(row) for row in run(connection, sql, parameters)]


def _utc(value: Any) -> datetime:
    """A stored time (naive UTC; text on SQLite) as an aware UTC datetime."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _row(row: Any) -> EventRow:
    return EventRow(
        id=int(row[0]),
        token=row[1],
        client_id=int(row[2]),
        type=row[3],
        transfer_id=None if row[4] is None else int(row[4]),
        created_at=_utc(row[5]),
        data=row[6],
    )


def events_after(connection: Connection, last_id: int, limit: int) -> list[EventRow]:
    """Every client's events after the event of id ``last_id``, oldest first."""
    return _rows(
        connection,
        f"SELECT {_COLUMNS} FROM events WHERE id > ? ORDER BY id LIMIT ?",
        (last_id, min(limit, MAX_PAGE)),
    )


def events_of_client(
    connection: Connection,
    client_id: int,
    *,
    after_id: int = 0,
    limit: int = 100,
    types: Sequence[str] = (),
) -> list[EventRow]:
    """The client's events after the event of id ``after_id``, oldest first; with
    ``types``, only those."""
    sql = f"SELECT {_COLUMNS} FROM events WHERE client_id = ? AND id > ?"
    parameters: list[Any] = [client_id, after_id]
    if types:
        matching, type_parameters = among(connection, "type", list(types))
        sql += f" AND {matching}"
        parameters.extend(type_parameters)
    parameters.append(min(limit, MAX_PAGE))
    return _rows(connection, sql + " ORDER BY id LIMIT ?", parameters)


def event_by_token(
    connection: Connection, token: str, client_id: int | None = None
) -> EventRow | None:
    """The event ``token``; with ``client_id``, only if it is that client's."""
    sql = f"SELECT {_COLUMNS} FROM events WHERE token = ?"
    parameters: list[Any] = [token]
    if client_id is not None:
        sql += " AND client_id = ?"
        parameters.append(client_id)
    found = _rows(connection, sql, parameters)
    return found[0] if found else None


def events_by_ids(connection: Connection, ids: Sequence[int]) -> dict[int, EventRow]:
    """The events of these ids, by id."""
    if not ids:
        return {}
    matching, parameters = among(connection, "id", list(ids))
    return {
        row.id: row
        for row in _rows(connection, f"SELECT {_COLUMNS} FROM events WHERE {matching}", parameters)
    }


@dataclass(frozen=True, slots=True)
class EventHead:
    """What the webhooks' fan-out needs of an event: no data."""

    id: int
    client_id: int
    type: str
    created_at: datetime


def last_event_id(connection: Connection) -> int:
    """The id of the last event written (0 when there is none)."""
    [(last,)] = run(connection, "SELECT coalesce(max(id), 0) FROM events", ())
    return int(last)


def event_heads(
    connection: Connection,
    client_ids: Sequence[int],
    ids: tuple[int, int],
    limit: int,
    since: datetime,
) -> list[EventHead]:
    """The events of ``client_ids`` made at or after ``since`` whose id is above
    ``ids[0]`` and at most ``ids[1]``, oldest first, ``limit`` at most: read on the index
    of each client's events."""
    if not client_ids:
        return []
    matching, parameters = among(connection, "client_id", list(client_ids))
    rows = run(
        connection,
        f"SELECT id, client_id, type, created_at FROM events WHERE {matching} "
        "AND id > ? AND id <= ? AND created_at >= ? ORDER BY id LIMIT ?",
        (*parameters, ids[0], ids[1], stored_moment(connection, since), limit),
    )
    return [EventHead(int(row[0]), int(row[1]), row[2], _utc(row[3])) for row in rows]
