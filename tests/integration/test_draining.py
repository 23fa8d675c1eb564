"""SIGTERM makes a process draining: `/readyz` answers 503 at once, and the signal
reaches the server's own handler only after the drain."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from types import FrameType

import httpx
import pytest

from caja.http import drain


@pytest.mark.anyio
async def test_readiness_fails_while_the_process_drains(
    http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (await http.get("/readyz")).status_code == 200

    monkeypatch.setattr(drain, "_draining", True)
    response = await http.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {"status": "draining"}
    assert (await http.get("/healthz")).status_code == 200


def test_sigterm_reaches_the_handler_before_it_only_after_the_drain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(drain, "_draining", False)
    calls: list[tuple[int, float]] = []

    def server_handler(signum: int, _frame: FrameType | None) -> None:
        calls.append((signum, time.monotonic()))

    async def main() -> tuple[float, bool, int]:
        with drain.drain_on_sigterm(0.3):
            sent = time.monotonic()
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGTERM)  # a second one changes nothing
            await asyncio.sleep(0.1)
            early = (drain.draining(), len(calls))
            await asyncio.sleep(0.5)
        return sent, *early

    previous = signal.signal(signal.SIGTERM, server_handler)
    try:
        sent, draining_at_once, calls_at_once = asyncio.run(main())
        restored = signal.getsignal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, previous)

    assert draining_at_once
    assert calls_at_once == 0
    assert [signum for signum, _ in calls] == [signal.SIGTERM]
    assert calls[0][1] - sent >= 0.3
    assert restored is server_handler
