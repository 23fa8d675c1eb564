"""What an API surface is, described once: the app is assembled from a list of these.

A surface is one of the HTTP APIs caja serves: its base paths, the dependencies that
check its credentials, how it answers a domain error, its FastAPI router and the plain
routes served ahead of the router (see ``create_app``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Response
from starlette.routing import BaseRoute

from caja.core.errors import CajaError

__all__ = ["Renderer", "Surface", "status_table"]

StatusOf = Callable[[CajaError], int]
Body = Callable[[CajaError, int], Response]


def status_table(table: Sequence[tuple[type[CajaError], int]]) -> StatusOf:
    """A status function: the status of the first kind an error is, else 500."""

    def status_of(error: CajaError) -> int:
        for kind, status_code in table:
            if isinstance(error, kind):
                return status_code
        return 500

    return status_of


@dataclass(frozen=True, slots=True)
class Renderer:
    """A surface's answer to a domain error: its status, then the body (and headers) in
    the surface's own shape."""

    status_of: StatusOf
    body: Body

    def answer(self, error: CajaError, status_code: int | None = None) -> Response:
        """The response to ``error``; ``status_code``, when given, overrides the table
        (FastAPI's own 404 and 405, and unexpected failures)."""
        return self.body(error, self.status_of(error) if status_code is None else status_code)


@dataclass(frozen=True, slots=True)
class Surface:
    """One API surface. ``prefixes`` are its base paths: an error raised under one is
    answered by ``errors``. The router is included under each of ``mounts``: ``""``
    for a router whose routes carry their full paths, else the base paths it is served
    under (the gateway's two spellings); only the first is documented in OpenAPI."""

    name: str
    prefixes: tuple[str, ...]
    credentials: tuple[Callable[..., Any], ...]
    errors: Renderer
    router: APIRouter
    fast_routes: tuple[BaseRoute, ...] = field(default=())
    mounts: tuple[str, ...] = ("",)
    documented: bool = True

    @property
    def prefix(self) -> str:
        return self.prefixes[0]
