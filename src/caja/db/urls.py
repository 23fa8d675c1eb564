"""Database URLs as the documentation spells them, turned into what the drivers take."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

__all__ = ["async_url", "url_problem"]

_POSTGRES_PREFIXES = ("postgresql:", "postgres:")


def async_url(url: str) -> str:
    """The documented URL forms with the async drivers (aiosqlite, asyncpg).

    libpq's multi-host form, ``postgresql://user:pw@h1:p1,h2:p2/name?...``, which
    SQLAlchemy does not parse, becomes its equivalent with the hosts in the query,
    ``postgresql+asyncpg://user:pw@/name?host=h1:p1&host=h2:p2&...``: asyncpg tries them
    in order and keeps the first that matches ``target_session_attrs``.
    """
    if url.startswith("sqlite:"):
        return "sqlite+aiosqlite:" + url.removeprefix("sqlite:")
    for prefix in _POSTGRES_PREFIXES:
        if url.startswith(prefix):
            return "postgresql+asyncpg:" + _hosts_in_query(url.removeprefix(prefix))
    return url


def _hosts_in_query(rest: str) -> str:
    """``//user@h1:p1,h2:p2/name?query`` with its hosts moved into the query."""
    if not rest.startswith("//"):
        return rest
    authority, slash, path = rest[2:].partition("/")
    if not slash:
        authority, _, query = authority.partition("?")
        path = "?" + query if query else ""
    credentials, at, hosts = authority.rpartition("@")
    if "," not in hosts:
        return rest
    name, question, query = path.partition("?")
    items = [f"host={quote(host, safe=':[]')}" for host in hosts.split(",")]
    if question and query:
        items.append(query)
    return f"//{credentials}{at}/{name}?{'&'.join(items)}"


def url_problem(url: str) -> str | None:
    """What is wrong with ``url`` before any connection is tried, or None (the URL itself
    is never repeated: it may hold a password).

    caja speaks to SQLite and PostgreSQL only; a SQLite file's folder must exist (SQLite
    creates the file, not its folders)."""
    usage = "use sqlite:///path.db or postgresql://user:password@host:port/name"
    if not url.startswith(("sqlite:", *_POSTGRES_PREFIXES)):
        scheme = url.partition("://")[0] if "://" in url else None
        named = f" (the scheme {scheme!r})" if scheme else ""
        return f"not a database URL caja takes{named}: {usage}"
    try:
        parsed = make_url(async_url(url))
    except (ArgumentError, ValueError):
        return f"not a URL: {usage}"
    database = parsed.database
    if url.startswith("sqlite:") and database and not database.startswith((":memory:", "file:")):
        folder = Path(database).parent
        if not folder.is_dir():
            return f"the folder {str(folder)!r} of the SQLite database does not exist"
    return None
