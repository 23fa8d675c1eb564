"""The tamper-evident journal: every transfer chained to the one before it by a hash.

Each transfer row carries ``prev_hash`` (the hash of the transfer before it, in id order)
and ``hash``: SHA-256 of ``prev_hash`` and the transfer as it was written (its fields,
with the status it was created in, and its entries). The ``journal`` table's one row
holds the hash and id of the last transfer. A writer takes that row (locked on
PostgreSQL; a SQLite writer holds the whole database), so transfers are chained in the
order they commit and their ids follow it.

Changing a row by hand breaks the chain where it was changed: an altered transfer or
entry no longer matches its hash; a deleted transfer leaves the next one pointing at a
hash that is gone; a transfer inserted by hand has no hash, or one the transfer after
it does not point at. :func:`check_chain` walks the chain and names each break.

A hold's status changes when it is resolved; its resolution is a transfer of its own, in
the chain, and :mod:`caja.ledger.verify` checks every hold against its resolution, so the
hash covers a hold as created (status ``pending``).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = [
    "GENESIS",
    "HASHED_COLUMNS",
    "Break",
    "as_written",
    "chain",
    "check_chain",
    "seal",
    "transfer_hash",
]

# The ``prev_hash`` of the first transfer.
GENESIS = "0" * 64
# Transfers read per query while the chain is walked.
PAGE_ROWS = 5_000

# The transfer columns a hash covers, in the order they are hashed (the write path's
# order; ``status`` is the status the transfer was created in).
HASHED_COLUMNS = (
    "token",
    "client_id",
    "surface",
    "idempotency_key",
    "request_digest",
    "kind",
    "status",
    "debit_account_id",
    "credit_account_id",
    "asset",
    "amount_minor",
    "description",
    "pending_id",
    "reverses_id",
    "created_at",
)
_CREATED_AT = HASHED_COLUMNS.index("created_at")
_KIND = HASHED_COLUMNS.index("kind")
_STATUS = HASHED_COLUMNS.index("status")

Entry = tuple[int, int, int]  # account_id, amount_minor, balance_after_minor


def _moment(value: Any) -> str:
    """A stored ``created_at`` as one text on every database: PostgreSQL hands back a
    datetime, SQLite text (written before migration 0015 without a zero fraction)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def as_written(stored: Sequence[Any]) -> list[Any]:
    """A stored transfer's :data:`HASHED_COLUMNS` as they were written: a hold with the
    status it was created in, whatever its resolution made of it since."""
    fields = list(stored)
    if fields[_KIND] == "pending":
        fields[_STATUS] = "pending"
    return fields


def transfer_hash(prev_hash: str, transfer: Sequence[Any], entries: Sequence[Entry]) -> str:
    """The hash of one transfer: ``transfer`` holds :data:`HASHED_COLUMNS` in order,
    ``created_at`` as stored; ``entries`` its entries in the order they were written."""
    fields = list(transfer)
    fields[_CREATED_AT] = _moment(fields[_CREATED_AT])
    content = orjson.dumps([prev_hash, fields, [list(entry) for entry in entries]])
    return hashlib.sha256(content).hexdigest()


def chain(
    prev_hash: str,
    transfers: Sequence[Sequence[Any]],
    entries: Sequence[tuple[str, int, int, int]],
) -> list[tuple[str, str]]:
    """(prev_hash, hash) of each of a batch's ``transfers`` (written in this order after
    the transfer whose hash is ``prev_hash``); ``entries`` are the write path's
    (transfer token, account_id, amount_minor, balance_after_minor)."""
    by_token: dict[str, list[Entry]] = {}
    for token, account_id, amount, balance_after in entries:
        by_token.setdefault(token, []).append((account_id, amount, balance_after))
    links: list[tuple[str, str]] = []
    for transfer in transfers:
        current = transfer_hash(prev_hash, transfer, by_token.get(transfer[0], ()))
        links.append((prev_hash, current))
        prev_hash = current
    return links


def seal(connection: Connection, *, locked: bool) -> tuple[str, int | None]:
    """The journal's head (hash, transfer id), taken for this transaction: locked on
    PostgreSQL until it commits when ``locked``."""
    sql = "SELECT hash, transfer_id FROM journal WHERE id = 1"
    if locked and connection.dialect.name == "postgresql":
        sql += " FOR UPDATE"
    row = connection.exec_driver_sql(sql).one()
    return str(row[0]), row[1]


@dataclass(frozen=True, slots=True)
class Break:
    """One place where the chain does not hold."""

    transfer_id: int | None
    token: str | None
    what: str

    def __str__(self) -> str:
        if self.token is not None:
            return f"transfer {self.token} (id {self.transfer_id}): {self.what}"
        if self.transfer_id is not None:
            return f"transfer id {self.transfer_id}: {self.what}"
        return f"journal: {self.what}"


_TRANSFERS = (
    f"SELECT id, prev_hash, hash, {', '.join(HASHED_COLUMNS)} FROM transfers "
    "WHERE id > {after} ORDER BY id LIMIT {limit}"
)
_ENTRIES = (
    "SELECT transfer_id, account_id, amount_minor, balance_after_minor FROM entries "
    "WHERE transfer_id > {after} AND transfer_id <= {last} ORDER BY transfer_id, id"
)


async def _stored(connection: AsyncConnection) -> AsyncIterator[tuple[Any, list[Entry]]]:
    """Every transfer row in id order with its entries, read a page at a time."""
    after = 0
    while True:
        rows = (
            await connection.exec_driver_sql(_TRANSFERS.format(after=after, limit=PAGE_ROWS))
        ).all()
        if not rows:
            return
        last = int(rows[-1][0])
        by_transfer: dict[int, list[Entry]] = {}
        entry_rows = await connection.exec_driver_sql(_ENTRIES.format(after=after, last=last))
        for entry in entry_rows:
            transfer_id, account_id, amount, balance_after = tuple(entry)
            by_transfer.setdefault(int(transfer_id), []).append(
                (int(account_id), int(amount), int(balance_after))
            )
        for row in rows:
            yield row, by_transfer.get(int(row[0]), [])
        after = last


@dataclass(slots=True)
class _Walk:
    """The chain walked row by row in id order, collecting its breaks."""

    head_hash: str
    head_id: int | None
    breaks: list[Break] = field(default_factory=list)
    # The last chained row before the current one: (id, token, prev_hash, hash).
    previous: tuple[int, str, str, str] | None = None
    previous_broken: bool = False
    head_seen: bool = False
    # The first row after the journal's head, and the last row read: (id, token or hash).
    after_head: tuple[int, str] | None = None
    last: tuple[int, str] | None = None

    def __post_init__(self) -> None:
        self.head_seen = self.head_id is None

    def see(self, row: Any, row_entries: list[Entry]) -> None:
        transfer_id, prev_hash, stored_hash = int(row[0]), row[1], row[2]
        fields = list(row[3:])
        token = str(fields[0])
        self.last = (transfer_id, stored_hash)
        self._track_head(transfer_id, token)
        if stored_hash is None or prev_hash is None:
            self.breaks.append(Break(transfer_id, token, "inserted by hand: it has no hash"))
            return  # the rows after it chain to the one before it
        intact = transfer_hash(prev_hash, as_written(fields), row_entries) == stored_hash
        broken = self._link(transfer_id, token, prev_hash, intact)
        self.previous, self.previous_broken = (transfer_id, token, prev_hash, stored_hash), broken

    def _track_head(self, transfer_id: int, token: str) -> None:
        head_id = self.head_id
        if self.head_seen and self.after_head is None and head_id not in (None, transfer_id):
            self.after_head = (transfer_id, token)
        self.head_seen = self.head_seen or transfer_id == head_id

    def _link(self, transfer_id: int, token: str, prev_hash: str, intact: bool) -> bool:
        """The breaks where this row links to the one before it; whether it is broken."""
        previous = self.previous
        expected = previous[3] if previous is not None else GENESIS
        altered = Break(transfer_id, token, "altered: its content no longer matches")
        if prev_hash != expected and previous is not None and prev_hash == previous[2]:
            # It points past the row before it: that row was put in by hand.
            if self.previous_broken:
                self.breaks.pop()
            self.breaks.append(
                Break(previous[0], previous[1], "inserted by hand: the chain skips it")
            )
            if not intact:
                self.breaks.append(altered)
            return not intact
        if not intact:
            self.breaks.append(altered)
            return True
        if prev_hash != expected:
            self.breaks.append(
                Break(transfer_id, token, "a transfer before it was deleted or replaced")
            )
            return True
        return False

    def finish(self) -> list[Break]:
        """The breaks, with what the journal's head says about the chain's end."""
        after_head, last = self.after_head, self.last
        if self.head_id is not None and not self.head_seen:
            self.breaks.append(
                Break(self.head_id, None, "deleted: the last transfer written is missing")
            )
        elif after_head is not None and all(b.transfer_id != after_head[0] for b in self.breaks):
            self.breaks.append(
                Break(
                    after_head[0], after_head[1], "inserted by hand after the last transfer written"
                )
            )
        elif after_head is None and last is not None and last[1] not in (None, self.head_hash):
            self.breaks.append(Break(last[0], None, "the journal's last hash does not match it"))
        return self.breaks


async def check_chain(connection: AsyncConnection) -> list[Break]:
    """Every break in the chain, in chain order: the first is where tampering starts."""
    head_hash, head_id = tuple(
        (
            await connection.exec_driver_sql("SELECT hash, transfer_id FROM journal WHERE id = 1")
        ).one()
    )
    walk = _Walk(head_hash, head_id)
    async for row, row_entries in _stored(connection):
        walk.see(row, row_entries)
    return walk.finish()
