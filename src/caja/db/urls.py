"""Database URLs as the documentation spells them, turned into what the drivers take."""

from __future__ import annotations

from urllib.parse import quote

__all__ = ["async_url"]

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
