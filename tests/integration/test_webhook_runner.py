"""The delivery runner: signed deliveries, retries on a schedule, endpoints disabled by
410 or by failing too long, timeouts and refused connections retried, both secrets after
a rotation, runners that share the work, private addresses refused at delivery time."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import orjson
import pytest
from standardwebhooks import Webhook

from caja.clients.service import authenticate
from caja.config import WebhookSettings
from caja.db.engine import Database
from caja.ledger import batching, events
from caja.ledger.batching import Order
from caja.ledger.model import NewTransfer, Result
from caja.ledger.queries import account_by
from caja.webhooks import runner, service
from tests.helpers import Caja
from tests.postgres import free_port
from tests.webhook_receiver import Answer, Receiver

pytestmark = pytest.mark.anyio

SETTINGS = WebhookSettings(
    retry_schedule=(0.05, 0.05, 0.05),
    allow_private=True,
    timeout=2.0,
    poll=0.02,
    runner="off",
    concurrency=4,
)


async def _client(caja: Caja) -> int:
    principal = await authenticate(caja.database, await caja.client_key("ledger:admin"))
    assert principal is not None
    return principal.client_id


async def _endpoint(caja: Caja, client_id: int, url: str) -> service.Created:
    def add(connection: Any) -> service.Created:
        return service.add_endpoint(connection, client_id, url, allow_private=True)

    return await caja.database.write(add)


async def _events(caja: Caja, client_id: int, count: int = 1) -> list[events.EventRow]:
    new = [
        events.NewEvent("ledger.transfer.created", client_id, {"token": f"tr-{n}"})
        for n in range(count)
    ]
    await caja.database.write(lambda connection: events.append(connection, new))
    async with caja.database.read() as connection:
        return await connection.run_sync(events.events_of_client, client_id, limit=500)


async def _deliveries(database: Database) -> list[service.DeliveryView]:
    async with database.read() as connection:
        return await connection.run_sync(lambda c: service.deliveries(c, limit=500))


async def _endpoint_now(database: Database, token: str) -> service.EndpointView:
    async with database.read() as connection:
        found = await connection.run_sync(lambda c: service.endpoints(c, removed=True))
    return next(endpoint for endpoint in found if endpoint.token == token)


async def _attempts(database: Database, delivery_id: int) -> list[service.AttemptView]:
    async with database.read() as connection:
        return await connection.run_sync(service.attempts_of, delivery_id)


async def _settle(
    database: Database, settings: WebhookSettings = SETTINGS, timeout: float = 15.0
) -> list[service.DeliveryView]:
    """Run rounds until no delivery is pending (and events are all fanned out)."""
    deadline = time.monotonic() + timeout
    while True:
        await runner.run_once(database, settings)
        found = await _deliveries(database)
        if found and all(d.status != service.DeliveryStatus.PENDING for d in found):
            return found
        assert time.monotonic() < deadline, found
        await asyncio.sleep(0.02)


async def test_a_delivery_arrives_signed_as_standard_webhooks(caja: Caja) -> None:
    client_id = await _client(caja)
    with Receiver() as receiver:
        created = await _endpoint(caja, client_id, receiver.url)
        receiver.secrets.append(created.secret)
        [event] = await _events(caja, client_id)
        [delivery] = await _settle(caja.database)
        [received] = receiver.wait_for(1)

    assert delivery.status == "delivered"
    assert delivery.attempts == 1
    assert delivery.last_status_code == 200
    assert received.verified_with == (created.secret,)
    assert received.body == event.body()
    assert received.webhook_id == event.token
    assert received.headers["content-type"] == "application/json"
    assert orjson.loads(received.body)["type"] == "ledger.transfer.created"
    [attempt] = await _attempts(caja.database, delivery.id)
    assert attempt.status_code == 200
    assert attempt.response == "ok"


async def test_the_event_of_a_transfer_is_delivered(caja: Caja) -> None:
    key = await caja.client_key("ledger:admin")
    principal = await authenticate(caja.database, key)
    assert principal is not None
    first, second = await caja.account(key), await caja.account(key)
    await caja.fund(first["token"], "10.00")
    async with caja.database.read() as connection:
        debit = await connection.run_sync(account_by, token=first["token"])
        credit = await connection.run_sync(account_by, token=second["token"])
    assert debit is not None
    assert credit is not None

    def build(_lookups: batching.Lookups) -> NewTransfer:
        return NewTransfer(
            client_id=principal.client_id,
            debit_account_id=debit.id,
            credit_account_id=credit.id,
            amount_minor=500,
        )

    def made(result: Result) -> list[events.NewEvent]:
        assert result.transfer is not None
        data = {"token": result.transfer.token}
        return [events.NewEvent("ledger.transfer.created", principal.client_id, data)]

    with Receiver() as receiver:
        created = await _endpoint(caja, principal.client_id, receiver.url)
        receiver.secrets.append(created.secret)
        [posted] = await batching.run(caja.database, [Order(build, events=made)])
        await _settle(caja.database)
        [received] = receiver.wait_for(1)
    assert posted.transfer is not None
    assert orjson.loads(received.body)["data"] == {"token": posted.transfer.token}
    assert received.verified_with == (created.secret,)


async def test_three_failures_then_200_make_four_attempts_with_one_id(caja: Caja) -> None:
    client_id = await _client(caja)
    with Receiver([500, 503, 429, 200]) as receiver:
        created = await _endpoint(caja, client_id, receiver.url)
        receiver.secrets.append(created.secret)
        [event] = await _events(caja, client_id)
        [delivery] = await _settle(caja.database)
        requests = receiver.wait_for(4)

    assert [r.answered for r in requests] == [500, 503, 429, 200]
    assert {r.webhook_id for r in requests} == {event.token}
    assert all(r.verified_with == (created.secret,) for r in requests)
    assert delivery.status == "delivered"
    assert delivery.attempts == 4
    attempts = await _attempts(caja.database, delivery.id)
    assert [a.status_code for a in attempts] == [500, 503, 429, 200]
    assert (await _endpoint_now(caja.database, created.endpoint.token)).enabled


async def test_410_fails_the_delivery_and_disables_the_endpoint_at_once(caja: Caja) -> None:
    client_id = await _client(caja)
    with Receiver([410]) as receiver:
        created = await _endpoint(caja, client_id, receiver.url)
        await _events(caja, client_id)
        [delivery] = await _settle(caja.database)
        # Disabled: a later event makes no delivery.
        await _events(caja, client_id)
        await runner.run_once(caja.database, SETTINGS)
        assert len(receiver.requests) == 1

    assert delivery.status == "failed"
    assert delivery.attempts == 1
    endpoint = await _endpoint_now(caja.database, created.endpoint.token)
    assert not endpoint.enabled
    assert endpoint.disabled_reason is not None
    assert "410" in endpoint.disabled_reason
    assert len(await _deliveries(caja.database)) == 1


async def test_the_end_of_the_schedule_fails_the_delivery_and_disables_the_endpoint(
    caja: Caja,
) -> None:
    client_id = await _client(caja)
    settings = replace(SETTINGS, retry_schedule=(0.05, 0.05), concurrency=1)
    with Receiver([500] * 10) as receiver:
        created = await _endpoint(caja, client_id, receiver.url)
        await _events(caja, client_id)
        await _until(caja.database, settings, lambda found: found[0].attempts == 2)
        # A second delivery, made before the first fails for good.
        await _events(caja, client_id)
        await caja.database.write(runner.fan_out)
        found = await _until(
            caja.database, settings, lambda found: any(d.status == "failed" for d in found)
        )
        assert len(receiver.requests) in (4, 5)

    failed = [d for d in found if d.status == "failed"]
    assert len(failed) == 1
    assert failed[0].attempts == 3
    endpoint = await _endpoint_now(caja.database, created.endpoint.token)
    assert not endpoint.enabled
    assert endpoint.disabled_reason is not None
    assert endpoint.disabled_reason.startswith("failing since ")
    # The other delivery waits for the endpoint to be enabled again.
    assert [d.status for d in found if d not in failed] == ["pending"]

    with Receiver() as receiver:

        def move(connection: Any) -> None:
            from sqlalchemy import update

            from caja.webhooks.tables import webhook_endpoints

            connection.execute(update(webhook_endpoints).values(url=receiver.url))
            service.enable_endpoint(connection, created.endpoint.token)

        await caja.database.write(move)
        await _settle(caja.database, settings)
        assert len(receiver.wait_for(1)) == 1


async def _until(database: Database, settings: WebhookSettings, done: Any) -> list[Any]:
    """Run rounds until ``done(deliveries)``."""
    deadline = time.monotonic() + 15
    while True:
        await runner.run_once(database, settings)
        found = await _deliveries(database)
        if found and done(found):
            return found
        assert time.monotonic() < deadline, found
        await asyncio.sleep(0.01)


async def test_a_timeout_and_a_refused_connection_are_retried(caja: Caja) -> None:
    client_id = await _client(caja)
    settings = replace(SETTINGS, timeout=0.3, retry_schedule=(0.05,))
    closed = f"http://127.0.0.1:{free_port()}/hooks"
    with Receiver([Answer(200, delay=1.0), 200]) as receiver:
        slow = await _endpoint(caja, client_id, receiver.url)
        dead = await _endpoint(caja, client_id, closed)
        await _events(caja, client_id)
        found = await _settle(caja.database, settings)
        assert len(receiver.wait_for(2)) == 2

    by_endpoint = {d.endpoint_token: d for d in found}
    timed_out = by_endpoint[slow.endpoint.token]
    assert timed_out.status == "delivered"
    assert timed_out.attempts == 2
    first, second = await _attempts(caja.database, timed_out.id)
    assert first.status_code is None
    assert first.error is not None
    assert "no answer within 0.3 s" in first.error
    assert second.status_code == 200

    refused = by_endpoint[dead.endpoint.token]
    assert refused.status == "failed"
    assert refused.attempts == 2
    attempts = await _attempts(caja.database, refused.id)
    assert all(a.error and a.error.startswith("could not connect") for a in attempts)


async def test_where_no_one_answers_one_delivery_tries_for_all(caja: Caja) -> None:
    client_id = await _client(caja)
    settings = replace(SETTINGS, retry_schedule=(30.0, 30.0))
    closed = f"http://127.0.0.1:{free_port()}/hooks"
    with Receiver() as receiver:
        live = await _endpoint(caja, client_id, receiver.url)
        dead = await _endpoint(caja, client_id, closed)
        await _events(caja, client_id, 5)
        done = await runner.run_once(caja.database, settings)
        assert len(receiver.wait_for(5)) == 5

    # Five to the receiver, one to the closed port; four held back, not attempted.
    assert done.attempted == 6
    found = await _deliveries(caja.database)
    by_status = {
        token: sorted(d.status for d in found if d.endpoint_token == token)
        for token in (live.endpoint.token, dead.endpoint.token)
    }
    assert by_status[live.endpoint.token] == ["delivered"] * 5
    assert by_status[dead.endpoint.token] == ["pending"] * 5
    waiting = [d for d in found if d.endpoint_token == dead.endpoint.token]
    # One attempt found no one there; the four others were not attempted.
    assert sorted(d.attempts for d in waiting) == [0, 0, 0, 0, 1]
    tried = next(d for d in waiting if d.attempts == 1)
    assert len(await _attempts(caja.database, tried.id)) == 1
    for other in waiting:
        if other is not tried:
            assert await _attempts(caja.database, other.id) == []
    # The endpoint is quiet until that attempt's next one: nothing of it is claimed now.
    again = await runner.run_once(caja.database, settings)
    assert again.attempted == 0
    # Enabled by hand (it was never disabled), it is tried again at once: one attempt,
    # which finds no one there again, for its five deliveries.
    await caja.database.write(lambda c: service.enable_endpoint(c, dead.endpoint.token))
    assert (await runner.run_once(caja.database, settings)).attempted == 1


async def test_after_a_rotation_both_secrets_sign(caja: Caja) -> None:
    client_id = await _client(caja)
    with Receiver() as receiver:
        created = await _endpoint(caja, client_id, receiver.url)
        token = created.endpoint.token
        new = await caja.database.write(lambda c: service.rotate_secret(c, token))
        receiver.secrets.extend([created.secret, new])
        await _events(caja, client_id)
        await _settle(caja.database)
        [received] = receiver.wait_for(1)

    assert received.verified_with == (created.secret, new)
    assert len(received.headers["webhook-signature"].split(" ")) == 2
    Webhook(new).verify(received.body, received.headers)
    Webhook(created.secret).verify(received.body, received.headers)


async def test_two_runners_deliver_each_event_once(caja: Caja, database_url: str) -> None:
    client_id = await _client(caja)
    count = 40
    with Receiver([Answer(200, delay=0.01)] * count) as receiver:
        created = await _endpoint(caja, client_id, receiver.url)
        receiver.secrets.append(created.secret)
        made = await _events(caja, client_id, count)
        other = Database(database_url)
        stop = asyncio.Event()
        try:
            loops = [
                asyncio.create_task(runner.run(database, SETTINGS, stop=stop))
                for database in (caja.database, other)
            ]
            await _until_delivered(caja.database, count)
            stop.set()
            await asyncio.gather(*loops)
        finally:
            stop.set()
            await other.dispose()
        ids = receiver.ids()

    assert sorted(ids) == sorted(event.token for event in made)
    assert all(r.verified_with for r in receiver.requests)


async def _until_delivered(database: Database, count: int) -> None:
    deadline = time.monotonic() + 15
    while True:
        found = await _deliveries(database)
        if len(found) == count and all(d.status == "delivered" for d in found):
            return
        assert time.monotonic() < deadline, found
        await asyncio.sleep(0.05)


async def test_a_private_address_is_refused_at_delivery_time(caja: Caja) -> None:
    client_id = await _client(caja)
    settings = replace(SETTINGS, allow_private=False, retry_schedule=())
    with Receiver() as receiver:
        # Added while private addresses were allowed; the runner no longer allows them.
        await _endpoint(caja, client_id, receiver.url)
        await _events(caja, client_id)
        [delivery] = await _settle(caja.database, settings)
        await asyncio.sleep(0.1)
        assert receiver.requests == []

    assert delivery.status == "failed"
    [attempt] = await _attempts(caja.database, delivery.id)
    assert attempt.status_code is None
    assert attempt.error is not None
    assert "private" in attempt.error
