"""The statements of the write path, written out in SQL.

A batch runs a handful of statements whatever its size; building, caching and binding
them through SQLAlchemy's expression language costs more than running them. These are
plain SQL that SQLite and PostgreSQL both read, sent with the driver's own placeholders
(``?`` is rewritten for drivers that use ``%s`` or ``$1``) through ``Connection.exec_driver_sql``,
so connection events and the transaction are SQLAlchemy's as everywhere else. Rows come
back as tuples in the column order written here.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy.engine import Connection

from caja.db.tables import transfers

__all__ = [
    "ACCOUNT_COLUMNS",
    "account_rows",
    "insert_entries",
    "insert_transfers",
    "key_rows",
    "new_transfer_ids",
    "stored_key_rows",
    "update_accounts",
]

# The columns of :class:`~caja.ledger.queries.AccountView`, in its order.
ACCOUNT_COLUMNS = (
    "a.id, a.token, a.kind, a.asset, s.scale, a.client_id, a.owner_id, a.phone_number, "
    "a.balance_minor, a.pending_out_minor, a.overdraft_minor, a.version"
)
_ACCOUNTS = f"SELECT {ACCOUNT_COLUMNS} FROM accounts a JOIN assets s ON s.code = a.asset"


@cache
def _native(sql: str, paramstyle: str) -> str:
    """``sql`` with each ``?`` written as the driver's placeholder."""
    if paramstyle == "qmark":
        return sql
    if paramstyle in ("format", "pyformat"):
        return sql.replace("?", "%s")
    marker = {"numeric_dollar": "$", "numeric": ":"}[paramstyle]
    numbers = itertools.count(1)
    return re.sub(r"\?", lambda _: f"{marker}{next(numbers)}", sql)


def _run(connection: Connection, sql: str, parameters: Sequence[Any]) -> list[Any]:
    native = _native(sql, connection.dialect.paramstyle)
    return list(connection.exec_driver_sql(native, tuple(parameters)).all())


def _many(connection: Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        connection.exec_driver_sql(_native(sql, connection.dialect.paramstyle), rows)


def _in(connection: Connection, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
    """``column`` among ``values``: one array parameter on PostgreSQL, so the statement's
    text (and its prepared form) is the same for any number of values; a list of
    placeholders on SQLite."""
    if connection.dialect.name == "postgresql":
        return f"{column} = ANY(?)", [list(values)]
    return f"{column} IN ({', '.join('?' * len(values))})", list(values)


def key_rows(connection: Connection, digests: Sequence[str]) -> list[Any]:
    """(digest, account_id, client id, client token, scopes) of each active key."""
    among, parameters = _in(connection, "k.digest", digests)
    return _run(
        connection,
        "SELECT k.digest, k.account_id, c.id, c.token, c.scopes FROM api_keys k "
        f"JOIN clients c ON c.id = k.client_id WHERE {among} "
        "AND k.revoked_at IS NULL AND c.revoked_at IS NULL",
        parameters,
    )


def account_rows(
    connection: Connection,
    *,
    ids: Sequence[int] = (),
    tokens: Sequence[str] = (),
    phones: tuple[Sequence[int], str, Sequence[str]] | None = None,
    lock: bool = False,
) -> list[Any]:
    """Accounts by id, by token, or by (client ids, kind, phone numbers), in id order.

    With ``lock`` the rows are locked for the transaction (on PostgreSQL; a SQLite writer
    holds the whole database already).
    """
    terms: list[str] = []
    parameters: list[Any] = []
    for column, values in (("a.id", ids), ("a.token", tokens)):
        if values:
            among, values_parameters = _in(connection, column, values)
            terms.append(among)
            parameters.extend(values_parameters)
    if phones is not None and phones[0] and phones[2]:
        client_ids, kind, numbers = phones
        of_clients, client_parameters = _in(connection, "a.client_id", client_ids)
        of_numbers, number_parameters = _in(connection, "a.phone_number", numbers)
        terms.append(f"({of_clients} AND a.kind = ? AND {of_numbers})")
        parameters.extend((*client_parameters, kind, *number_parameters))
    if not terms:
        return []
    sql = f"{_ACCOUNTS} WHERE {' OR '.join(terms)} ORDER BY a.id"
    if lock and connection.dialect.name != "sqlite":
        sql += " FOR UPDATE OF a"
    return _run(connection, sql, parameters)


def stored_key_rows(
    connection: Connection, client_id: int, surface: str, keys: Sequence[str]
) -> list[Any]:
    """(id, surface, request_digest) of the transfers that hold these idempotency keys."""
    among, parameters = _in(connection, "idempotency_key", keys)
    return _run(
        connection,
        f"SELECT id, surface, request_digest FROM transfers "
        f"WHERE client_id = ? AND surface = ? AND {among}",
        (client_id, surface, *parameters),
    )


def new_transfer_ids(connection: Connection, count: int) -> list[int]:
    """Ids for ``count`` new transfers, in increasing order.

    PostgreSQL draws them from the table's sequence. On SQLite the writer holds the whole
    database, so the ids after the largest one are free until it commits.
    """
    if connection.dialect.name == "postgresql":
        rows = _run(
            connection,
            "SELECT nextval(pg_get_serial_sequence('transfers', 'id')) FROM generate_series(1, ?)",
            (count,),
        )
        return sorted(int(row[0]) for row in rows)
    [(largest,)] = _run(connection, "SELECT coalesce(max(id), 0) FROM transfers", ())
    return list(range(int(largest) + 1, int(largest) + 1 + count))


def created_at(connection: Connection, now: datetime) -> Any:
    """``now`` as the driver stores the transfers' ``created_at``."""
    process = transfers.c.created_at.type.bind_processor(connection.dialect)
    return process(now) if process is not None else now


def insert_transfers(connection: Connection, rows: list[tuple[Any, ...]]) -> None:
    """Rows of (id, token, client_id, surface, idempotency_key, request_digest, kind,
    status, debit_account_id, credit_account_id, asset, amount_minor, description,
    pending_id, reverses_id, created_at)."""
    _many(
        connection,
        "INSERT INTO transfers (id, token, client_id, surface, idempotency_key, "
        "request_digest, kind, status, debit_account_id, credit_account_id, asset, "
        "amount_minor, description, pending_id, reverses_id, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


def insert_entries(connection: Connection, rows: list[tuple[int, int, int, int]]) -> None:
    """Rows of (transfer_id, account_id, amount_minor, balance_after_minor)."""
    _many(
        connection,
        "INSERT INTO entries (transfer_id, account_id, amount_minor, balance_after_minor) "
        "VALUES (?, ?, ?, ?)",
        rows,
    )


def update_accounts(connection: Connection, rows: list[tuple[int, int, int, int]]) -> None:
    """Rows of (balance_minor, pending_out_minor, version, id)."""
    _many(
        connection,
        "UPDATE accounts SET balance_minor = ?, pending_out_minor = ?, version = ? WHERE id = ?",
        rows,
    )
