"""Every surface writes its events with its money: one event per movement or status
change, of the client that owns the account or purchase, whose data is the object exactly
as the surface's own GET answers it; none for a refused or replayed request."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import orjson
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI

from caja.app import create_app, services_of
from caja.clients.service import authenticate, client_id_of, create_client
from caja.core.money import parse_amount
from caja.db.engine import Database
from caja.deposits import service as deposits
from caja.ledger import events
from caja.ledger.events import EventRow
from caja.ops.funding import fund
from caja.providers.bank import Incoming, SandboxBank
from caja.topups.service import reconcile
from caja.wallet import service as wallet_service
from tests.gateway import GATEWAY, merchant, package_body, topup_body
from tests.helpers import SANDBOX_HOLDER, Caja, transfer_body

pytestmark = pytest.mark.anyio

V1 = "/api/ledger/v1/public"
V0 = "/api/ledger/v0"
COOP = "/api/coopcentral/v1"
WALLET = "/api/wallet/v1"
_serial = itertools.count(1)


@pytest.fixture
def app(database: Database, monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    """The app with the in-process sandbox operator and bank, and the wallet."""
    monkeypatch.setenv("CAJA_WALLET_JWT_SECRET", "event-producers-secret-" + "x" * 24)
    monkeypatch.setenv("CAJA_WALLET_ASSETS", "COP")
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(wallet_service, "_hasher", cheap)
    return create_app(database, bank=SandboxBank(timeout=0.5))


async def _client_id(database: Database, token: str) -> int:
    async with database.read() as connection:
        found = await connection.run_sync(client_id_of, token)
    assert found is not None
    return int(found)


async def _events(database: Database, client_id: int, *types: str) -> list[EventRow]:
    async with database.read() as connection:
        return await connection.run_sync(
            lambda sync: events.events_of_client(sync, client_id, limit=500, types=types)
        )


def _data(row: EventRow) -> Any:
    return orjson.loads(row.data)


# --- the ledger, v1 and legacy ------------------------------------------------------------


async def test_a_v1_transfer_writes_one_event_with_the_transaction_as_its_get_answers(
    caja: Caja,
) -> None:
    key = await caja.client_key("ledger:admin")
    principal = await authenticate(caja.database, key)
    assert principal is not None
    origin, destination = await caja.account(key), await caja.account(key)
    await caja.fund(origin["token"], "100.00")
    body = transfer_body(origin["token"], destination["token"], "40.00")

    posted = await caja.transfer(key, body)
    assert posted.status_code == 201, posted.text
    got = await caja.http.get(
        f"{V1}/transaction/{body['unique_transfer_token']}", headers={"X-Account-api-key": key}
    )
    assert got.status_code == 200

    [row] = await _events(caja.database, principal.client_id, "ledger.transfer.created")
    assert row.client_id == principal.client_id
    assert row.transfer_id is not None
    assert row.data.encode() == got.content  # byte for byte
    assert posted.content == got.content
    assert orjson.loads(row.body())["data"]["token"] == got.json()["token"]

    # A replay (208) and a refusal (402) write none.
    replayed = await caja.transfer(key, body)
    assert replayed.status_code == 208
    refused = await caja.transfer(key, transfer_body(origin["token"], destination["token"], "99"))
    assert refused.status_code == 402
    assert len(await _events(caja.database, principal.client_id)) == 1


async def test_a_legacy_transfer_writes_one_event_with_the_transaction_as_answered(
    caja: Caja,
) -> None:
    admin = await caja.client_key("ledger:admin")
    principal = await authenticate(caja.database, admin)
    assert principal is not None
    made = []
    for _ in range(2):
        response = await caja.http.post(
            f"{V0}/account",
            json={
                "phone_number": f"+57311{next(_serial):07d}",
                "owner_legal_id_type": "CC",
                "owner_legal_id_number": f"{20_000_000 + next(_serial)}",
                "owner_full_name": "Legacy Owner",
                "owner_email": "legacy@example.com",
            },
            headers={"Authorization": admin},
        )
        assert response.status_code == 201, response.text
        made.append(response.json())
    sender, receiver = made
    await caja.fund(sender["token"], "50.00")
    body = {
        "destination_phone_number": receiver["phone_number"],
        "amount": "20.00",
        "description": "lunch",
        "unique_transfer_token": f"legacy-event-{next(_serial)}",
    }
    headers = {"Authorization": sender["api_key"]}

    posted = await caja.http.post(f"{V0}/my/transfer", json=body, headers=headers)
    assert posted.status_code == 201, posted.text
    again = await caja.http.post(f"{V0}/my/transfer", json=body, headers=headers)
    assert again.status_code == 208
    short = {**body, "amount": "500.00", "unique_transfer_token": "legacy-event-short"}
    refused = await caja.http.post(f"{V0}/my/transfer", json=short, headers=headers)
    assert refused.status_code == 402

    [row] = await _events(caja.database, principal.client_id)
    assert row.type == "ledger.transfer.created"
    assert row.transfer_id is not None
    # The legacy surface has no GET of a transfer: its answer (and its replay's) is it.
    assert row.data.encode() == posted.content
    assert _data(row) == again.json()


async def test_an_event_and_its_transfer_commit_together_or_not_at_all(
    caja: Caja, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = await caja.client_key("ledger:admin")
    principal = await authenticate(caja.database, key)
    assert principal is not None
    origin, destination = await caja.account(key), await caja.account(key)
    await caja.fund(origin["token"], "100.00")
    body = transfer_body(origin["token"], destination["token"], "10.00")
    write = events.write

    def write_then_fail(*args: Any, **kwargs: Any) -> None:
        write(*args, **kwargs)  # the events' rows are inserted, then the transaction fails
        raise RuntimeError("injected failure after the events' insert")

    monkeypatch.setattr(events, "write", write_then_fail)
    failed = await caja.transfer(key, body)
    assert failed.status_code == 503, failed.text
    assert await _events(caja.database, principal.client_id) == []
    got = await caja.http.get(
        f"{V1}/transaction/{body['unique_transfer_token']}", headers={"X-Account-api-key": key}
    )
    assert got.status_code == 422  # no transfer either
    assert await caja.balance(key, origin["token"]) == "100.00"

    monkeypatch.setattr(events, "write", write)
    retried = await caja.transfer(key, body)
    assert retried.status_code == 201
    [row] = await _events(caja.database, principal.client_id)
    assert row.data.encode() == retried.content


# --- top-ups and packages -------------------------------------------------------------------


async def _bought(http: httpx.AsyncClient, headers: dict[str, str], path: str, body: Any) -> Any:
    response = await http.post(f"{GATEWAY}/{path}", json=body, headers=headers)
    return response


async def _purchase_get(
    http: httpx.AsyncClient, headers: dict[str, str], path: str, token: str
) -> httpx.Response:
    return await http.get(f"{GATEWAY}/{path}/{token}", headers=headers)


def _of(rows: list[EventRow], token: str) -> list[EventRow]:
    return [row for row in rows if _data(row)["idempotency_token"] == token]


async def test_each_status_change_of_a_topup_writes_one_topup_updated_event(
    caja: Caja, http: httpx.AsyncClient, app: FastAPI
) -> None:
    who = await merchant(caja.database, funds=10_000)
    client_id = await _client_id(caja.database, who.client_id)
    approved = topup_body()
    rejected = topup_body("3110005555")
    unknown = topup_body("3110002222")  # no answer in time: settled by reconciliation
    for body in (approved, rejected, unknown):
        await _bought(http, who.headers, "topup_account", body)
    # A replay of a used token and a purchase beyond the funds write none.
    again = await _bought(http, who.headers, "topup_account", approved)
    assert again.status_code == 422
    broke = await _bought(http, who.headers, "topup_account", topup_body(amount=50_000))
    assert broke.status_code == 402

    rows = await _events(caja.database, client_id)
    assert {row.type for row in rows} == {"topup.updated"}
    statuses = {
        name: [_data(row)["status"] for row in _of(rows, body["idempotency_token"])]
        for name, body in (("approved", approved), ("rejected", rejected), ("unknown", unknown))
    }
    assert statuses == {
        "approved": ["created", "authorized"],
        "rejected": ["created", "rejected"],
        "unknown": ["created", "unknown"],
    }
    for body in (approved, rejected, unknown):
        got = await _purchase_get(http, who.headers, "topup_account", body["idempotency_token"])
        last = _of(rows, body["idempotency_token"])[-1]
        assert last.data.encode() == got.content
        assert all(row.transfer_id is not None for row in _of(rows, body["idempotency_token"]))

    operator = services_of(app).operator
    done = await reconcile(caja.database, operator)
    assert done.authorized == 1
    settled = _of(await _events(caja.database, client_id), unknown["idempotency_token"])
    assert [_data(row)["status"] for row in settled] == ["created", "unknown", "authorized"]
    got = await _purchase_get(http, who.headers, "topup_account", unknown["idempotency_token"])
    assert settled[-1].data.encode() == got.content
    assert settled[-1].transfer_id != settled[0].transfer_id  # the hold's posting
    # Reconciling again changes nothing and writes nothing.
    await reconcile(caja.database, operator)
    assert len(await _events(caja.database, client_id)) == len(rows) + 1


async def test_each_status_change_of_a_package_writes_one_package_updated_event(
    caja: Caja, http: httpx.AsyncClient, app: FastAPI
) -> None:
    who = await merchant(caja.database, funds=30_000)
    client_id = await _client_id(caja.database, who.client_id)
    pending = package_body("3110007777")
    rejected = package_body("3110000000")
    for body in (pending, rejected):
        await _bought(http, who.headers, "package_buy", body)
    await reconcile(caja.database, services_of(app).operator)

    rows = await _events(caja.database, client_id)
    assert {row.type for row in rows} == {"package.updated"}
    assert [_data(row)["status"] for row in _of(rows, pending["idempotency_token"])] == [
        "CREATED",
        "IN_PROGRESS",
        "AUTHORIZED",
    ]
    assert [_data(row)["status"] for row in _of(rows, rejected["idempotency_token"])] == [
        "CREATED",
        "REJECTED",
    ]
    for body in (pending, rejected):
        got = await _purchase_get(http, who.headers, "package_buy", body["idempotency_token"])
        assert _of(rows, body["idempotency_token"])[-1].data.encode() == got.content


# --- electronic deposits --------------------------------------------------------------------


async def _deposit_account(http: httpx.AsyncClient, headers: dict[str, str]) -> str:
    n = next(_serial)
    body = {
        **SANDBOX_HOLDER,
        "identification_number": f"9{n:03d}45678",
        "email": f"events{n}@example.com",
    }
    response = await http.post(f"{COOP}/accounts/create", json=body, headers=headers)
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


async def _incoming(database: Database, token: str, amount: str) -> Incoming:
    """Money another bank sends to the account, as the bank's feed reports it."""
    number = await deposits.account_number(database, token)
    return SandboxBank().transfer_in(
        number,
        parse_amount(amount, 2),
        bank_slug="bancolombia",
        sender_name="Alonso Herrera",
        sender_id_number="1089876456",
    )


async def test_deposits_write_created_reverted_and_received_events(
    caja: Caja, http: httpx.AsyncClient
) -> None:
    created = await create_client(caja.database, "coop events", ["deposit"])
    headers = {"Authorization": f"Token {created.api_key}"}
    client_id = await _client_id(caja.database, created.client_id)
    origin = await _deposit_account(http, headers)
    destination = await _deposit_account(http, headers)

    incoming = await _incoming(caja.database, origin, "500.00")
    arrived = await deposits.receive(caja.database, incoming)
    history = await http.get(
        f"{COOP}/transactions",
        params={"account_token": origin, "initial_date": "2000-01-01", "final_date": "2100-01-01"},
        headers=headers,
    )
    [received] = await _events(caja.database, client_id, "deposit.received")
    assert received.transfer_id == arrived.transfer.id
    assert _data(received) == history.json()["transactions"][0]
    assert received.data.encode() == orjson.dumps(history.json()["transactions"][0])
    # The bank's feed repeating the item moves nothing and writes nothing.
    assert (await deposits.receive(caja.database, incoming)).transfer.id == arrived.transfer.id
    assert len(await _events(caja.database, client_id)) == 1

    body = {
        "origin_account": origin,
        "destination_account": destination,
        "unique_transfer_token": f"utt-events-{next(_serial)}",
        "amount": "100.00",
        "description": "Test transaction",
        "channel": "wallet",
    }
    posted = await http.post(f"{COOP}/transactions/create", json=body, headers=headers)
    assert posted.status_code == 201, posted.text
    replayed = await http.post(f"{COOP}/transactions/create", json=body, headers=headers)
    assert replayed.status_code == 208
    too_much = {**body, "amount": "9000.00", "unique_transfer_token": "utt-events-short"}
    refused = await http.post(f"{COOP}/transactions/create", json=too_much, headers=headers)
    assert refused.status_code == 409
    [made] = await _events(caja.database, client_id, "deposit.transfer.created")
    assert made.data.encode() == posted.content
    assert made.data.encode() == replayed.content  # the same transfer, as stored

    token = {"idempotency_token": body["unique_transfer_token"]}
    reverted = await http.post(f"{COOP}/transactions/revert", json=token, headers=headers)
    assert reverted.status_code == 200, reverted.text
    twice = await http.post(f"{COOP}/transactions/revert", json=token, headers=headers)
    assert twice.status_code == 409
    [undone] = await _events(caja.database, client_id, "deposit.transfer.reverted")
    assert undone.data.encode() == reverted.content
    assert _data(undone)["status"] == "reverted"
    assert undone.transfer_id not in (None, made.transfer_id)

    everything = await _events(caja.database, client_id)
    assert [row.type for row in everything] == [
        "deposit.received",
        "deposit.transfer.created",
        "deposit.transfer.reverted",
    ]


# --- the wallet -----------------------------------------------------------------------------


async def _person(http: httpx.AsyncClient) -> dict[str, Any]:
    n = next(_serial)
    body = {
        "phone_number": f"301{n:07d}",
        "first_name": f"Eva{n}",
        "last_name": "Ruiz",
        "password": "correct horse battery",
    }
    created = await http.post(f"{WALLET}/auth/signup", json=body, headers={})
    assert created.status_code == 201, created.text
    logged = await http.post(
        f"{WALLET}/auth/login",
        json={"phone_number": body["phone_number"], "password": body["password"]},
    )
    assert logged.status_code == 200, logged.text
    return {**created.json(), "headers": {"X-Authorization": logged.json()["token"]}}


def _wallet_send(sender: dict[str, Any], recipient: dict[str, Any], amount: str) -> Any:
    return {
        "from_account_id": sender["account_id"],
        "to_profile_id": recipient["profile_id"],
        "asset_key": "COP",
        "amount": amount,
        "meta_data": {"notes": "for the events"},
    }


async def test_a_wallet_send_writes_one_payment_sent_event_of_the_wallets_client(
    caja: Caja, http: httpx.AsyncClient
) -> None:
    ana, luis = await _person(http), await _person(http)
    await fund(caja.database, ana["account_id"], "100.00", asset="COP")
    send = f"{WALLET}/profile/send-to-profile"
    keyed = {**ana["headers"], "Idempotency-Key": f"send-{next(_serial)}"}
    body = _wallet_send(ana, luis, "30.00")

    sent = await http.post(send, json=body, headers=keyed)
    assert sent.status_code == 200, sent.text
    again = await http.post(send, json=body, headers=keyed)  # a replay moves nothing
    assert again.json() == sent.json()
    short = await http.post(send, json=_wallet_send(ana, luis, "500.00"), headers=ana["headers"])
    assert short.json()["code"] == 601  # underfunded: nothing moved
    listing = await http.get(
        f"{WALLET}/profile/payment_transaction", params={"type": 1}, headers=ana["headers"]
    )

    wallet_client = await _wallet_client_id(caja.database)
    [row] = await _events(caja.database, wallet_client)
    assert row.type == "wallet.payment.sent"
    assert row.transfer_id is not None
    [shown] = listing.json()["data"]
    assert _data(row) == shown
    assert row.data.encode() == orjson.dumps(shown)

    # A second send (the wallet's client exists by now) writes one more.
    plain = await http.post(send, json=_wallet_send(ana, luis, "5.00"), headers=ana["headers"])
    assert plain.status_code == 200
    assert len(await _events(caja.database, wallet_client)) == 2


async def _wallet_client_id(database: Database) -> int:
    async with database.read() as connection:
        found = await connection.run_sync(wallet_service._wallet_client)
    assert found is not None
    return found
