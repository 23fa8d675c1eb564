"""One account row locked from outside delays only the transfers that name it: the
others of its batch, and those after it, are answered at once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from caja.db.engine import Database, async_url
from tests.helpers import Caja, transfer_body

pytestmark = pytest.mark.anyio

# How long the row stays locked from the other connection.
HELD = 5.0
# The longest an unrelated transfer may take meanwhile.
PROMPT = 1.0


async def _timed(request: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await request
    return response, time.monotonic() - started


async def _hold(database_url: str, token: str, locked: asyncio.Event) -> None:
    """Lock the account's row from a connection of its own for ``HELD`` seconds."""
    outside = create_async_engine(async_url(database_url))
    try:
        async with outside.connect() as connection:
            await connection.begin()
            await connection.execute(
                text("SELECT id FROM accounts WHERE token = :token FOR UPDATE"), {"token": token}
            )
            locked.set()
            await asyncio.sleep(HELD)
            await connection.rollback()
    finally:
        await outside.dispose()


async def test_a_locked_account_delays_only_the_transfers_that_name_it(
    caja: Caja, database: Database, database_url: str
) -> None:
    if database.is_sqlite:
        pytest.skip("SQLite has one writer, which holds the whole database: no row to isolate")
    key = await caja.client_key()
    held, payee, *others = [(await caja.account(key))["token"] for _ in range(6)]
    for token in (held, *others):
        await caja.fund(token, "100.00")
    locked = asyncio.Event()
    holder = asyncio.create_task(_hold(database_url, held, locked))
    await locked.wait()
    # Sent together, so that they share batches with the one naming the locked row.
    blocked = asyncio.create_task(_timed(caja.transfer(key, transfer_body(held, payee, "1.00"))))
    first = await asyncio.gather(
        *(_timed(caja.transfer(key, transfer_body(o, payee, "1.00"))) for o in others)
    )
    later = await asyncio.gather(
        *(_timed(caja.transfer(key, transfer_body(o, payee, "2.00"))) for o in others)
    )
    still_waiting = not blocked.done()
    await holder
    response, waited = await blocked

    for answer, took in (*first, *later):
        assert answer.status_code == 201, answer.text
        assert took < PROMPT, f"an unrelated transfer took {took:.2f} s"
    assert still_waiting, "the transfer naming the locked row did not wait for it"
    # It waited for the row, then went through; or it got the surface's 503 at its bound.
    assert response.status_code in (201, 503), response.text
    if response.status_code == 201:
        assert waited >= HELD - 0.2
        assert await caja.balance(key, held) == "99.00"
    else:
        assert await caja.balance(key, held) == "100.00"
    assert await caja.balance(key, payee) == f"{len(others) * 3 + (response.status_code == 201)}.00"
    assert (await caja.verify()).ok
