"""The sandbox operator as a process of its own that counts the status questions it gets.

``python -m tests.counting_operator PORT``: the sandbox operator's routes on
127.0.0.1:PORT, each status question held ``PAUSE`` seconds (so that reconcilers in other
processes run meanwhile); ``GET /_counts`` answers how often each purchase was asked
about, and which were asked about again while a question about them was still open.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from typing import Any

import uvicorn
from starlette.responses import JSONResponse

from caja.providers.sandbox_operator import create_sandbox_app

PAUSE = 0.1


class Counting:
    """An ASGI app around the sandbox operator's."""

    def __init__(self) -> None:
        self.inner = create_sandbox_app()
        self.asked: Counter[str] = Counter()
        self.in_flight: set[str] = set()
        self.overlaps: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.inner(scope, receive, send)
        elif path == "/_counts":
            answer = JSONResponse({"asked": self.asked, "overlaps": self.overlaps})
            await answer(scope, receive, send)
        elif path.startswith("/purchases/"):
            await self._status(path.removeprefix("/purchases/"), scope, receive, send)
        else:
            await self.inner(scope, receive, send)

    async def _status(self, reference: str, scope: Any, receive: Any, send: Any) -> None:
        if reference in self.in_flight:
            self.overlaps.append(reference)
        self.in_flight.add(reference)
        self.asked[reference] += 1
        try:
            await asyncio.sleep(PAUSE)
            await self.inner(scope, receive, send)
        finally:
            self.in_flight.discard(reference)


if __name__ == "__main__":
    uvicorn.run(Counting(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
