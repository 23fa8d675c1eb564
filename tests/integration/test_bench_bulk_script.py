"""The bench's bulk workloads, against a stand-in for the batch endpoint: wrk's script
sends 1,000 transfers per request, each with a token of its own, and counts the items
of each answer by their status."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from bench.load import BULK_ITEMS, BULK_PATH, run_wrk, write_accounts_file

pytestmark = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")

KEY = "test-key"


class _Batches:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.bodies: list[dict[str, Any]] = []
        self.answered: dict[int, int] = {}


def _handler(batches: _Batches) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            assert self.path == BULK_PATH
            assert self.headers["X-Account-api-key"] == KEY
            with batches.lock:
                batches.bodies.append(body)
                number = len(batches.bodies) - 1
            # Every third batch has one item refused: the script must count it.
            statuses = [201] * BULK_ITEMS
            if number % 3 == 2:
                statuses[5] = 402
            results = [
                {"status": status, "transaction": {"token": "tx", "amount": "1.00"}}
                if status == 201
                else {"status": status, "code": "NoFunds", "message": "no"}
                for status in statuses
            ]
            # Compact for atomic batches, spaced otherwise: the script reads both.
            compact = body["atomic"]
            answer = json.dumps(
                {"results": results}, separators=(",", ":") if compact else None
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
            with batches.lock:
                for status in statuses:
                    batches.answered[status] = batches.answered.get(status, 0) + 1

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def stand_in() -> Iterator[tuple[str, _Batches]]:
    batches = _Batches()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(batches))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", batches
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("workload", ["bulk", "bulk-atomic"])
def test_bulk_bodies_and_item_counts(
    stand_in: tuple[str, _Batches], tmp_path: Path, workload: str
) -> None:
    base_url, batches = stand_in
    accounts = tmp_path / "accounts.txt"
    tokens = [f"acc-{n}" for n in range(50)]
    write_accounts_file(accounts, KEY, tokens)

    run = run_wrk(base_url, workload, 2, 1, accounts, "t1")

    assert batches.bodies, "no batch arrived"
    seen: set[str] = set()
    for body in batches.bodies:
        assert set(body) == {"transactions", "atomic"}
        assert body["atomic"] is (workload == "bulk-atomic")
        assert len(body["transactions"]) == BULK_ITEMS
        for item in body["transactions"]:
            assert item["origin_account"] in tokens
            assert item["destination_account"] in tokens
            assert item["origin_account"] != item["destination_account"]
            assert item["unique_transfer_token"].startswith("t1.")
            seen.add(item["unique_transfer_token"])
    assert len(seen) == BULK_ITEMS * len(batches.bodies)

    answered = run.statuses.get(200, 0)
    assert answered >= 1
    assert sum(run.items.values()) == BULK_ITEMS * answered
    # wrk reads every answer but those in flight when it stops: one per connection.
    assert answered <= len(batches.bodies) <= answered + 2
    assert run.items.get(201, 0) <= batches.answered[201]
    refused = run.items.get(402, 0)
    assert refused == run.errors
    assert run.expected == run.items[201]
    if answered >= 3:
        assert refused >= 1
