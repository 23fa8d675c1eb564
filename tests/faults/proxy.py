"""A TCP proxy on the loopback interface that can cut a PostgreSQL connection at its COMMIT.

asyncpg ends a transaction with a simple query, ``COMMIT;``, in a message of its own.
Armed, the proxy cuts the first connection that sends one: ``before`` the server sees
it (so the transaction is rolled back), or ``after`` forwarding it, without passing the
server's answer back (so the transaction is committed, and the client cannot know).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Literal

__all__ = ["CommitCutter", "Cut"]

Cut = Literal["before", "after"]
_CHUNK = 65536


class CommitCutter:
    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.armed: Cut | None = None
        self.cuts = 0
        self._server: asyncio.Server | None = None
        self._pumps: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        """Listen on a free loopback port; returns it."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for pump in list(self._pumps):
            pump.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)

    async def _serve(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        server_in, server_out = await asyncio.open_connection(*self.target)
        answers = asyncio.Event()  # set: the server's answers no longer reach the client
        ends = (client_out, server_out)
        tasks = [
            asyncio.create_task(self._upstream(client_in, server_out, answers, ends)),
            asyncio.create_task(_pump(server_in, client_out, answers)),
        ]
        self._pumps.update(tasks)
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for end in ends:
                end.transport.abort()
            self._pumps.difference_update(tasks)

    async def _upstream(
        self,
        source: asyncio.StreamReader,
        server: asyncio.StreamWriter,
        answers: asyncio.Event,
        ends: tuple[asyncio.StreamWriter, ...],
    ) -> None:
        while chunk := await source.read(_CHUNK):
            cut = self.armed if b"COMMIT" in chunk else None
            if cut is None:
                server.write(chunk)
                await server.drain()
                continue
            self.armed = None
            self.cuts += 1
            answers.set()
            if cut == "after":
                server.write(chunk)
                await server.drain()
                await asyncio.sleep(0.3)  # the server commits; its answer goes nowhere
            for end in ends:
                end.transport.abort()
            return


async def _pump(
    source: asyncio.StreamReader, sink: asyncio.StreamWriter, stopped: asyncio.Event
) -> None:
    with contextlib.suppress(ConnectionError):
        while chunk := await source.read(_CHUNK):
            if stopped.is_set():
                continue
            sink.write(chunk)
            await sink.drain()
