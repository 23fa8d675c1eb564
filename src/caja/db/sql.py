"""Plain SQL on a SQLAlchemy connection, for the statements every batch runs.

A batch runs a handful of statements whatever its size; building, caching and binding
them through SQLAlchemy's expression language costs more than running them. Statements
written here in SQL that SQLite and PostgreSQL both read are sent with the driver's own
placeholders (``?`` is rewritten for drivers that use ``%s`` or ``$1``) through
``Connection.exec_driver_sql``, so connection events and the transaction are
SQLAlchemy's as everywhere else. Rows come back as tuples in the column order written.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy.engine import Connection

__all__ = ["among", "run", "run_many"]


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
    native = _native(sql, connection.dialect.paramstyle)
    return list(connection.exec_driver_sql(native, tuple(parameters)).all())


def run_many(connection: Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
    """``sql`` run once per row of parameters (nothing when there are none)."""
    if rows:
        connection.exec_driver_sql(_native(sql, connection.dialect.paramstyle), rows)


def among(connection: Connection, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
    """``column`` among ``values``: one array parameter on PostgreSQL, so the statement's
    text (and its prepared form) is the same for any number of values; a list of
    placeholders on SQLite."""
    if connection.dialect.name == "postgresql":
        return f"{column} = ANY(?)", [list(values)]
    return f"{column} IN ({', '.join('?' * len(values))})", list(values)
