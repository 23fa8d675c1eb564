"""A webhook receiver for caja's events: it checks each delivery's signature, handles each
event once, and answers 2XX quickly.

Run it with the endpoint's secret (the one ``POST /api/events/v1/endpoints`` or
``caja webhooks add`` printed):

    pip install standardwebhooks
    CAJA_WEBHOOK_SECRET=whsec_... python3 receiver.py 8001

and add ``http://<this host>:8001/caja`` as the endpoint's URL. While you rotate the
secret, set ``CAJA_WEBHOOK_SECRETS`` to both, separated by a space.
"""

from __future__ import annotations

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

# Event ids already handled. A real receiver keeps them in its database, with a unique
# index, and records the id in the same transaction as the work the event caused.
_seen: set[str] = set()


def verified(secrets: list[str], body: bytes, headers: dict[str, str]) -> dict[str, Any] | None:
    """The event, if one of ``secrets`` signed it (and its timestamp is within five
    minutes); None otherwise."""
    for secret in secrets:
        try:
            event: dict[str, Any] = Webhook(secret).verify(body, headers)
        except WebhookVerificationError:
            continue
        return event
    return None


def handle(secrets: list[str], body: bytes, headers: dict[str, str]) -> int:
    """The status to answer a delivery with: 401 for a bad signature (caja retries it,
    which helps if you are mid-rotation), 200 for an event handled now or before."""
    event = verified(secrets, body, headers)
    if event is None:
        return 401
    if event["id"] in _seen:  # a retry of an event already handled: at least once
        return 200
    apply(event)
    _seen.add(event["id"])
    return 200


def apply(event: dict[str, Any]) -> None:
    """Your work. Keep it short, or queue it: caja waits at most 10 seconds for an answer."""
    data = event["data"]
    if event["type"] == "balance.crossed":
        print(
            f"{data['account']} went {data['direction']} {data['threshold']}: "
            f"{data['balance_before']} -> {data['balance_after']}"
        )
    else:
        print(event["type"], json.dumps(data))


class Receiver(BaseHTTPRequestHandler):
    secrets: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        size = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(size)
        status = handle(self.secrets, body, {k: v for k, v in self.headers.items()})
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


def main() -> None:
    secrets = os.environ.get("CAJA_WEBHOOK_SECRETS") or os.environ["CAJA_WEBHOOK_SECRET"]
    Receiver.secrets = secrets.split()
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8001
    ThreadingHTTPServer(("0.0.0.0", port), Receiver).serve_forever()


if __name__ == "__main__":
    main()
