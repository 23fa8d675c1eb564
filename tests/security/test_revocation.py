"""A revoked client is refused at once: through the service or ``caja clients revoke``,
the very next request with any of its keys, on every surface, answers 401 as for a key
never issued, and a transfer whose key is revoked while it waits for its batch moves
nothing."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from caja.app import services_of
from caja.cli import app as cli_app
from caja.clients.service import revoke_client
from caja.core.tokens import new_api_key
from caja.db.engine import Database
from caja.ledger.batching import Batcher, Order
from caja.ledger.model import Result
from tests.security.surfaces import client_with_every_scope, requests, send
from tests.security.tenants import Rows, every_row

pytestmark = pytest.mark.anyio


async def _revoke(how: str, database: Database, database_url: str, client_id: str) -> None:
    if how == "service":
        await revoke_client(database, client_id)
        return
    result = await asyncio.to_thread(
        CliRunner().invoke,
        cli_app,
        ["clients", "revoke", client_id],
        env={"CAJA_DATABASE_URL": database_url},
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"client {client_id} revoked"


def _without_keys(rows: Rows) -> Rows:
    """The rows, less where a revocation writes: the clients', the keys', and the witness
    it leaves of its commit."""
    revocation = ("clients", "api_keys", "commit_witnesses")
    return {name: found for name, found in rows.items() if name not in revocation}


@pytest.mark.parametrize("how", ["service", "cli"])
async def test_every_surface_refuses_a_revoked_client_at_once(
    http: httpx.AsyncClient, database: Database, database_url: str, how: str
) -> None:
    client = await client_with_every_scope(http, database)
    bystander = await client_with_every_scope(http, database)
    valid = requests(client, client.key, client.account_key)
    never_issued = requests(client, new_api_key("ck"), new_api_key("ak"))
    for surface, make in valid.items():
        response = await send(http, make())
        assert response.status_code in (200, 201), (surface, response.text)

    await _revoke(how, database, database_url, client.client_id)
    before = await every_row(database)
    refused = {surface: await send(http, make()) for surface, make in valid.items()}
    after = await every_row(database)
    unknown = {surface: await send(http, make()) for surface, make in never_issued.items()}

    for surface, response in refused.items():
        assert response.status_code == 401, (surface, response.text)
        assert response.content == unknown[surface].content, surface
    assert after == before
    # Another client's keys work on.
    for surface, make in requests(bystander, bystander.key, bystander.account_key).items():
        response = await send(http, make())
        assert response.status_code in (200, 201), (surface, response.text)


@pytest.mark.parametrize("surface", ["ledger v1 transfer", "ledger v0 transfer", "gateway top-up"])
async def test_a_key_revoked_while_its_transfer_waits_for_its_batch_moves_nothing(
    http: httpx.AsyncClient,
    app: FastAPI,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
    surface: str,
) -> None:
    """The key of a batched transfer is checked inside the batch's transaction: revoked
    after the request was read and checked, and before its batch runs, it is refused
    there."""
    client = await client_with_every_scope(http, database)
    batcher: Batcher = services_of(app).batcher
    submit = batcher.submit
    submitted: list[Order] = []

    async def revoke_then_submit(order: Order) -> Result:
        if not submitted:
            await revoke_client(database, client.client_id)
        submitted.append(order)
        return await submit(order)

    monkeypatch.setattr(batcher, "submit", revoke_then_submit)
    before = await every_row(database)

    response = await send(http, requests(client, client.key, client.account_key)[surface]())

    assert response.status_code == 401, response.text
    assert len(submitted) == 1, "the transfer went through the batcher once"
    after = await every_row(database)
    assert _without_keys(after) == _without_keys(before)
    assert after["api_keys"] != before["api_keys"]
