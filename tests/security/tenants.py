"""What the security tests share: every row of the database as text, answers compared
with the ids they name taken out, and the register of the route inputs that the
isolation tests cover (checked against the app's routes by test_route_coverage)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import httpx
from fastapi import FastAPI
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from caja.db.engine import Database

F = TypeVar("F", bound=Callable[..., Any])
Rows = dict[str, list[tuple[str, ...]]]

# (method, path template, input name): an input of a route that names something a client
# or a person owns, which some test here proves another one cannot reach.
COVERED: set[tuple[str, str, str]] = set()
_serial = itertools.count(1)


def covers(method: str, path: str, *inputs: str) -> Callable[[F], F]:
    """Record that the decorated test proves ``inputs`` of ``method path`` isolated."""

    def register(test: F) -> F:
        COVERED.update((method, path, name) for name in inputs)
        return test

    return register


def unique(prefix: str) -> str:
    """A value no test has used: ``prefix`` and a serial number."""
    return f"{prefix}{next(_serial):06d}"


def _dump(connection: Connection) -> Rows:
    dumped: Rows = {}
    for name in sorted(inspect(connection).get_table_names()):
        result = connection.execute(text(f'SELECT * FROM "{name}"'))
        dumped[name] = sorted(
            tuple("\N{NULL}" if value is None else str(value) for value in row) for row in result
        )
    return dumped


async def every_row(database: Database) -> Rows:
    """Every row of every table, each value as text, in a stable order."""
    async with database.read() as connection:
        return await connection.run_sync(_dump)


def answer(response: httpx.Response, *ids: str) -> tuple[int, str, str]:
    """What a client learns from ``response``: its status, content type and body, with each
    of ``ids`` (the ids the request named) replaced by its position, so that an answer
    about one id can be compared with the answer about another."""
    body = response.text
    for position, value in enumerate(ids):
        body = body.replace(value, f"<id {position}>")
    return response.status_code, response.headers.get("content-type", ""), body


def api_routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    """(method, path template) of every route the app serves, routers included through
    ``include_router`` opened up; a mount is listed once, by its path, with method ``*``.
    Templates are written as OpenAPI writes them, without converters: ``{token}`` for
    ``{token:path}``."""

    def walk(routes: list[Any], prefix: str) -> Iterator[tuple[str, str]]:
        for route in routes:
            included = getattr(route, "original_router", None)
            if included is not None:
                yield from walk(included.routes, prefix + route.include_context.prefix)
                continue
            path = re.sub(r"\{(\w+):[^}]*\}", r"{\1}", prefix + route.path)
            methods = getattr(route, "methods", None)
            if not methods:
                yield "*", path
                continue
            for method in sorted(methods - {"HEAD"}):
                yield method, path

    seen: set[tuple[str, str]] = set()
    for item in walk(list(app.routes), ""):
        if item not in seen:
            seen.add(item)
            yield item
