"""``python -m bench.receiver PORT``: the benchmark's webhook endpoint, in a process of its
own at a low CPU priority (a real endpoint is another machine's: it would not take our
cores). It answers every POST 200 at once and counts them (``GET /count``).

It is a bare HTTP/1.1 responder on asyncio's streams, keeping connections alive: what it
costs per delivery is the bench's, not caja's, so it costs as little as it can (a few
tens of µs, where an ASGI server took a few hundred).
"""

from __future__ import annotations

import asyncio
import os
import sys

__all__ = ["main"]

NICENESS = 10

received = {"count": 0}


def _length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


def _answer(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(_length(head))
            if head.startswith(b"POST "):
                received["count"] += 1
                writer.write(_answer(b"ok"))
            else:
                writer.write(_answer(str(received["count"]).encode()))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def _main(port: int) -> None:
    server = await asyncio.start_server(_serve, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def main() -> None:
    os.nice(NICENESS)
    asyncio.run(_main(int(sys.argv[1])))


if __name__ == "__main__":
    main()
