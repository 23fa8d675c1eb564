"""A server that stops posts the transfers still queued in its batcher: closing it
writes them and answers each, it drops none."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from caja.clients.service import authorize, key_digest, principals
from caja.customers import service as ledger_accounts
from caja.customers.service import AccountRef
from caja.ledger.batching import Batcher
from tests.helpers import Caja

pytestmark = pytest.mark.anyio


async def _transfer(batcher: Batcher, key: str, tokens: list[str], number: int) -> Any:
    digest = key_digest(key)
    assert digest is not None
    return await ledger_accounts.transfer(
        batcher,
        key_digest=digest,
        authorize=lambda principal: authorize(principal, "ledger"),
        surface="ledger_v1",
        origin=AccountRef("origin_account", token=tokens[0]),
        destination=AccountRef("destination_account", token=tokens[1]),
        amount_minor=100,
        description="queued at shut-down",
        idempotency_key=f"closing-{number}",
    )


async def test_closing_the_batcher_posts_what_is_still_queued(caja: Caja) -> None:
    key = await caja.client_key("ledger:admin")
    tokens = [(await caja.account(key))["token"] for _ in range(2)]
    await caja.fund(tokens[0], "100.00")
    # A batch would wait a minute for more orders: they are still queued at the close.
    batcher = Batcher(caja.database, principals=principals, max_wait=60)
    orders = [asyncio.create_task(_transfer(batcher, key, tokens, n)) for n in range(5)]
    await asyncio.sleep(0.05)
    assert not any(order.done() for order in orders)

    await asyncio.wait_for(batcher.close(), timeout=10)
    results = await asyncio.wait_for(asyncio.gather(*orders), timeout=1)

    assert all(result.transfer is not None for result in results)
    assert await caja.balance(key, tokens[0]) == "95.00"
    assert await caja.balance(key, tokens[1]) == "5.00"
