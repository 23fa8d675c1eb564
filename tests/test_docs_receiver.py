"""The receiver of docs/examples/receiver.py verifies deliveries signed as caja signs
them (Standard Webhooks, with the endpoint's secret), and handles each event once."""

from __future__ import annotations

import importlib.util
import threading
from datetime import UTC, datetime, timedelta
from http.server import ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from caja.ledger.events import EventRow
from caja.webhooks.service import new_secret

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "receiver.py"


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, list[Any]]:
    spec = importlib.util.spec_from_file_location("caja_docs_receiver", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    applied: list[Any] = []
    monkeypatch.setattr(module, "apply", applied.append)
    return module, applied


def an_event() -> EventRow:
    return EventRow(
        id=7,
        token="evt_7h2k4m6n8p0q2r4s6t8v0w2x4y6z",
        client_id=1,
        type="balance.crossed",
        transfer_id=3,
        created_at=datetime.now(UTC),
        data='{"account":"acc-x","direction":"below","threshold":1000.00,'
        '"balance_before":1500.00,"balance_after":900.00}',
    )


def signed(secret: str, event: EventRow, at: datetime | None = None) -> dict[str, str]:
    """The headers caja's runner sends with ``event``'s body."""
    moment = at or datetime.now(UTC)
    return {
        "webhook-id": event.token,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": Webhook(secret).sign(event.token, moment, event.body()),
    }


def test_the_receiver_verifies_a_delivery_and_handles_it_once(
    receiver: tuple[ModuleType, list[Any]],
) -> None:
    module, applied = receiver
    secret, event = new_secret(), an_event()
    headers = signed(secret, event)

    assert module.handle([secret], event.body(), headers) == 200
    assert module.handle([secret], event.body(), headers) == 200  # a retry
    assert [e["id"] for e in applied] == [event.token]
    assert applied[0]["data"]["balance_after"] == 900.0


def test_the_receiver_refuses_what_the_secret_did_not_sign(
    receiver: tuple[ModuleType, list[Any]],
) -> None:
    module, applied = receiver
    secret, event = new_secret(), an_event()
    headers = signed(secret, event)

    assert module.handle([secret], event.body().replace(b"900.00", b"9000.00"), headers) == 401
    assert module.handle([new_secret()], event.body(), headers) == 401
    old = signed(secret, event, datetime.now(UTC) - timedelta(minutes=10))
    assert module.handle([secret], event.body(), old) == 401
    assert module.handle([secret], event.body(), {}) == 401
    assert applied == []


def test_the_receiver_takes_either_secret_while_one_is_rotated(
    receiver: tuple[ModuleType, list[Any]],
) -> None:
    module, applied = receiver
    old, new, event = new_secret(), new_secret(), an_event()
    both = signed(old, event)
    both["webhook-signature"] += " " + signed(new, event)["webhook-signature"]

    assert module.handle([new], event.body(), both) == 200
    assert module.handle([old, new], event.body(), signed(old, event)) == 200
    assert len(applied) == 1


def test_the_receiver_serves_over_http(receiver: tuple[ModuleType, list[Any]]) -> None:
    module, applied = receiver
    secret, event = new_secret(), an_event()
    module.Receiver.secrets = [secret]
    server = ThreadingHTTPServer(("127.0.0.1", 0), module.Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/caja"
        answered = httpx.post(url, content=event.body(), headers=signed(secret, event), timeout=5)
        refused = httpx.post(url, content=b"{}", headers=signed(secret, event), timeout=5)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert answered.status_code == 200
    assert refused.status_code == 401
    assert len(applied) == 1
