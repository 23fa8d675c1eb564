"""The statements of the write path, written out in SQL (see :mod:`caja.db.sql`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Connection

from caja.core import clock
from caja.core.clock import utcnow
from caja.db.schema import stored_moment
from caja.db.sql import among, run, run_many
from caja.ledger import journal

__all__ = [
    "ACCOUNT_COLUMNS",
    "account_rows",
    "database_now",
    "stored_key_rows",
    "write_postings",
]

# A clock in place of the database's, for tests that fix the time (None: the database's).
fixed_clock: Callable[[], datetime] | None = None

# The columns of :class:`~caja.ledger.queries.AccountView`, in its order.
ACCOUNT_COLUMNS = (
    "a.id, a.token, a.kind, a.asset, s.scale, a.client_id, a.owner_id, a.phone_number, "
    "a.balance_minor, a.pending_out_minor, a.overdraft_minor, a.version, "
    # Whether a balance monitor watches the account: an index probe, no round trip.
    "EXISTS (SELECT 1 FROM balance_monitors m WHERE m.account_id = a.id)"
)
_ACCOUNTS = f"SELECT {ACCOUNT_COLUMNS} FROM accounts a JOIN assets s ON s.code = a.asset"


def account_rows(
    connection: Connection,
    *,
    ids: Sequence[int] = (),
    tokens: Sequence[str] = (),
    phones: tuple[Sequence[int], str, Sequence[str]] | None = None,
    of_clients: Sequence[int] | None = None,
    lock: bool = False,
    skip_locked: bool = False,
) -> list[Any]:
    """Accounts by id, by token, or by (client ids, kind, phone numbers), in id order;
    with ``of_clients``, only accounts of those clients.

    With ``lock`` the rows are locked for the transaction (on PostgreSQL; a SQLite writer
    holds the whole database already); with ``skip_locked`` too, rows another transaction
    holds are left out instead of waited for.
    """
    terms: list[str] = []
    parameters: list[Any] = []
    for column, values in (("a.id", ids), ("a.token", tokens)):
        if values:
            matching, values_parameters = among(connection, column, values)
            terms.append(matching)
            parameters.extend(values_parameters)
    if phones is not None and phones[0] and phones[2]:
        client_ids, kind, numbers = phones
        of_phone_clients, client_parameters = among(connection, "a.client_id", client_ids)
        of_numbers, number_parameters = among(connection, "a.phone_number", numbers)
        terms.append(f"({of_phone_clients} AND a.kind = ? AND {of_numbers})")
        parameters.extend((*client_parameters, kind, *number_parameters))
    if not terms or (of_clients is not None and not of_clients):
        return []
    condition = " OR ".join(terms)
    postgresql = connection.dialect.name == "postgresql"
    if of_clients is not None and postgresql:
        # In the query, so that other clients' rows are not locked.
        of_these, client_parameters = among(connection, "a.client_id", of_clients)
        condition = f"({condition}) AND {of_these}"
        parameters.extend(client_parameters)
    sql = f"{_ACCOUNTS} WHERE {condition} ORDER BY a.id"
    if lock and postgresql:
        sql += " FOR UPDATE OF a SKIP LOCKED" if skip_locked else " FOR UPDATE OF a"
    rows = run(connection, sql, parameters)
    if of_clients is not None and not postgresql:
        # After the query: SQLite locks no rows, and given the client condition its planner
        # would walk the client's accounts instead of finding each token.
        wanted = set(of_clients)
        rows = [row for row in rows if row[5] in wanted]
    return rows


def stored_key_rows(
    connection: Connection, client_id: int, surface: str, keys: Sequence[str]
) -> list[Any]:
    """(id, surface, request_digest) of the transfers that hold these idempotency keys."""
    if connection.dialect.name == "postgresql":
        # One probe of the unique index per key, whatever the statistics say. Written as
        # ``idempotency_key = ANY(…)``, or without the OFFSET 0 that keeps the planner
        # from turning the probes into a join, a plan made while the statistics saw no
        # keys yet (a young table) reads every transfer of the client instead.
        return run(
            connection,
            "SELECT t.id, t.surface, t.request_digest FROM unnest(?::text[]) AS k(key) "
            "CROSS JOIN LATERAL (SELECT id, surface, request_digest FROM transfers "
            "WHERE client_id = ? AND surface = ? AND idempotency_key = k.key OFFSET 0) AS t",
            (list(keys), client_id, surface),
        )
    matching, parameters = among(connection, "idempotency_key", keys)
    return run(
        connection,
        f"SELECT id, surface, request_digest FROM transfers "
        f"WHERE client_id = ? AND surface = ? AND {matching}",
        (client_id, surface, *parameters),
    )


_TRANSFER_COLUMNS = ", ".join((*journal.HASHED_COLUMNS, "prev_hash", "hash"))
_TRANSFER_TYPES = (
    "text",
    "bigint",
    "text",
    "text",
    "text",
    "text",
    "text",
    "bigint",
    "bigint",
    "text",
    "bigint",
    "text",
    "bigint",
    "bigint",
    "timestamp",
    "text",
    "text",
)


def _arrays(types: Sequence[str]) -> str:
    return ", ".join(f"?::{kind}[]" for kind in types)


# PostgreSQL: every row of a batch in one statement and one round trip. Rows travel as
# arrays, one per column; WITH ORDINALITY and ORDER BY keep the order they were planned
# in, so ids (and with them each account's entries) follow it.
_POSTINGS_PG = f"""
WITH new_transfers AS (
    INSERT INTO transfers ({_TRANSFER_COLUMNS})
    SELECT {_TRANSFER_COLUMNS}
    FROM unnest({_arrays(_TRANSFER_TYPES)}) WITH ORDINALITY
        AS t({_TRANSFER_COLUMNS}, n)
    ORDER BY n
    RETURNING id, token
), new_entries AS (
    INSERT INTO entries (transfer_id, account_id, amount_minor, balance_after_minor)
    SELECT new_transfers.id, e.account_id, e.amount_minor, e.balance_after_minor
    FROM unnest({_arrays(("text", "bigint", "bigint", "bigint"))}) WITH ORDINALITY
        AS e(token, account_id, amount_minor, balance_after_minor, n)
    JOIN new_transfers ON new_transfers.token = e.token
    ORDER BY e.n
), changed AS (
    UPDATE accounts
    SET balance_minor = c.balance_minor, pending_out_minor = c.pending_out_minor,
        version = c.version
    FROM unnest({_arrays(("bigint", "bigint", "bigint", "bigint"))})
        AS c(id, balance_minor, pending_out_minor, version)
    WHERE accounts.id = c.id
), head AS (
    UPDATE journal SET hash = ?, transfer_id = (SELECT max(id) FROM new_transfers)
    WHERE id = 1
)
SELECT id, token FROM new_transfers
"""


def write_postings(
    connection: Connection,
    *,
    transfers: list[tuple[Any, ...]],
    entries: list[tuple[str, int, int, int]],
    balances: list[tuple[int, int, int, int]],
) -> tuple[dict[str, int], datetime]:
    """Insert the batch's transfers and entries, chained onto the journal, and set the
    changed accounts' balances; returns each new transfer's id by token, and the moment
    they were made (their ``created_at``).

    ``transfers``: (token, client_id, surface, idempotency_key, request_digest, kind,
    status, debit_account_id, credit_account_id, asset, amount_minor, description,
    pending_id, reverses_id); ``entries``: (transfer token, account_id, amount_minor,
    balance_after_minor), in posting order; ``balances``: (account id, balance_minor,
    pending_out_minor, version).
    """
    # Taken last, just before the insert: a PostgreSQL writer holds the journal's row from
    # here to its commit, having locked everything else it writes already.
    head_hash, moment = _head(connection)
    stored = stored_moment(connection, moment)
    rows = [(*row, stored) for row in transfers]
    links = journal.chain(head_hash, rows, entries)
    chained = [(*row, *link) for row, link in zip(rows, links, strict=True)]
    last_hash = links[-1][1]
    if connection.dialect.name == "postgresql":
        return _postings_pg(connection, chained, entries, balances, last_hash), moment
    return _postings_sqlite(connection, chained, entries, balances, last_hash), moment


def _head(connection: Connection) -> tuple[str, datetime]:
    """The journal's last hash, taken for this transaction, and the moment of the
    transfers that follow it, from the database's clock.

    PostgreSQL: ``clock_timestamp()`` of the statement that locks the journal's row. A
    writer that waited for the row gets it re-read, with the clock read again, after the
    writer before it committed, so times follow the chain whatever the hosts' clocks say.
    SQLite lives in the host: its clock is the host's, and a moment is never earlier than
    the last transfer's, so that hosts whose clocks differ cannot make time go back.
    """
    if connection.dialect.name == "postgresql":
        [(head_hash, moment)] = run(
            connection, "SELECT hash, clock_timestamp() FROM journal WHERE id = 1 FOR UPDATE", ()
        )
        return str(head_hash), _fixed_or(moment.astimezone(UTC))
    [(head_hash, last)] = run(
        connection,
        "SELECT j.hash, t.created_at FROM journal j "
        "LEFT JOIN transfers t ON t.id = j.transfer_id WHERE j.id = 1",
        (),
    )
    if fixed_clock is not None:
        return str(head_hash), fixed_clock()
    moment = utcnow()
    if last is not None:
        moment = max(moment, datetime.fromisoformat(str(last)).replace(tzinfo=UTC))
    return str(head_hash), moment


def _fixed_or(moment: datetime) -> datetime:
    return fixed_clock() if fixed_clock is not None else moment


def _postings_pg(
    connection: Connection,
    chained: list[tuple[Any, ...]],
    entries: list[tuple[str, int, int, int]],
    balances: list[tuple[int, int, int, int]],
    last_hash: str,
) -> dict[str, int]:
    columns = [list(column) for column in zip(*chained, strict=True)]
    entry_columns = [list(column) for column in zip(*entries, strict=True)] or [[]] * 4
    balance_columns = [list(column) for column in zip(*balances, strict=True)] or [[]] * 4
    rows = run(
        connection,
        _POSTINGS_PG,
        (*columns, *entry_columns, *balance_columns, last_hash),
    )
    return {token: int(transfer_id) for transfer_id, token in rows}


def _postings_sqlite(
    connection: Connection,
    chained: list[tuple[Any, ...]],
    entries: list[tuple[str, int, int, int]],
    balances: list[tuple[int, int, int, int]],
    last_hash: str,
) -> dict[str, int]:
    # The writer holds the whole database, so the ids after the largest one are free
    # until it commits.
    [(largest,)] = run(connection, "SELECT coalesce(max(id), 0) FROM transfers", ())
    ids = {row[0]: int(largest) + number for number, row in enumerate(chained, start=1)}
    run_many(
        connection,
        f"INSERT INTO transfers (id, {_TRANSFER_COLUMNS}) VALUES ({', '.join('?' * 18)})",
        [(ids[row[0]], *row) for row in chained],
    )
    run_many(
        connection,
        "INSERT INTO entries (transfer_id, account_id, amount_minor, balance_after_minor) "
        "VALUES (?, ?, ?, ?)",
        [(ids[token], *rest) for token, *rest in entries],
    )
    run_many(
        connection,
        "UPDATE accounts SET balance_minor = ?, pending_out_minor = ?, version = ? WHERE id = ?",
        [
            (balance, pending_out, version, account_id)
            for account_id, balance, pending_out, version in balances
        ],
    )
    run_many(
        connection,
        "UPDATE journal SET hash = ?, transfer_id = ? WHERE id = 1",
        [(last_hash, ids[chained[-1][0]])],
    )
    return ids


def database_now(connection: Connection) -> datetime:
    """The database's clock (on SQLite, the host's), or the tests' fixed one."""
    return fixed_clock() if fixed_clock is not None else clock.database_now(connection)
