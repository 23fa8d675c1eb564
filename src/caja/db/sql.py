"""Plain SQL on a SQLAlchemy connection, for the statements every batch runs.

A batch runs a handful of statements whatever its size; building, caching and binding
them through SQLAlchemy's expression language costs more than running them. Statements
written here in SQL that SQLite and PostgreSQL both read are sent with the driver's own
placeholders (``?`` is rewritten for drivers that use ``%s`` or ``$1``) on a cursor of
the connection's driver connection, in SQLAlchemy's transaction: no execution context or
result object is built for them (``Connection.exec_driver_sql`` spent 20 to 45 µs of
Python on each), yet the connection's ``before_cursor_execute`` and
``after_cursor_execute`` events still fire, and a driver error is handled as SQLAlchemy
handles it everywhere else (wrapped as a ``DBAPIError``, a broken connection invalidated,
the ``handle_error`` events called). Rows come back as tuples (PostgreSQL: records) in
the column order written.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy.engine import Connection

__all__ = ["among", "rows_changed", "run", "run_beginning", "run_many"]


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


def run(connection: Connection, sql: str, parameters: Sequence[Any]) -> list[Any]:
    """The rows of ``sql`` run with ``parameters``."""
    _begin(connection)
    return _execute(connection, sql, tuple(parameters), many=False)


def run_many(connection: Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
    """``sql`` run once per row of parameters (nothing when there are none)."""
    if rows:
        _begin(connection)
        _execute(connection, sql, rows, many=True)


def run_beginning(connection: Connection, sql: str) -> None:
    """``sql`` run while the connection's transaction is being begun (its ``begin``
    event), such as SQLite's ``BEGIN IMMEDIATE``."""
    _execute(connection, sql, (), many=False)


def _begin(connection: Connection) -> None:
    """The connection's transaction begun, as any statement would begin it."""
    if not connection.in_transaction():
        connection.begin()


def _execute(connection: Connection, sql: str, parameters: Any, *, many: bool) -> list[Any]:
    """``sql`` on a cursor of the driver's connection, with the connection's events and
    error handling."""
    statement = _native(sql, connection.dialect.paramstyle)
    cursor = connection.connection.cursor()
    try:
        events = (connection._has_events or connection.engine._has_events) and bool(
            connection.dispatch.before_cursor_execute or connection.dispatch.after_cursor_execute
        )
        if events:
            for before in connection.dispatch.before_cursor_execute:
                statement, parameters = before(
                    connection, cursor, statement, parameters, None, many
                )
        if many:
            cursor.executemany(statement, parameters)
        else:
            cursor.execute(statement, parameters)
        if events:
            connection.dispatch.after_cursor_execute(
                connection, cursor, statement, parameters, None, many
            )
        rows = list(cursor.fetchall()) if cursor.description is not None else []
    except BaseException as error:
        connection._handle_dbapi_exception(error, statement, parameters, cursor, None)
    cursor.close()
    return rows


def rows_changed(connection: Connection) -> int:
    """SQLite: the rows the connection has changed since it opened; compared before and
    after a write's work, how many that work changed."""
    return int(connection.connection.dbapi_connection.total_changes)  # type: ignore[union-attr]


def among(connection: Connection, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
    """``column`` among ``values``: one array parameter on PostgreSQL, so the statement's
    text (and its prepared form) is the same for any number of values; a list of
    placeholders on SQLite."""
    if connection.dialect.name == "postgresql":
        return f"{column} = ANY(?)", [list(values)]
    return f"{column} IN ({', '.join('?' * len(values))})", list(values)
