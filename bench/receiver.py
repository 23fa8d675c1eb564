"""``python -m bench.receiver PORT``: the benchmark's webhook endpoint, in a process of its
own at a low CPU priority (a real endpoint is another machine's: it would not take our
cores). It answers every POST 200 at once and counts them (``GET /count``)."""

from __future__ import annotations

import os
import sys
from typing import Any

__all__ = ["main"]

NICENESS = 10

received = {"count": 0}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    if scope["method"] == "POST":
        received["count"] += 1
        body = b"ok"
    else:
        body = str(received["count"]).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    import uvicorn

    os.nice(NICENESS)
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
