"""What each surface needs to be fuzzed with valid credentials: a key or token per path, and
real identifiers (accounts, transfer tokens, phone numbers) that the fuzzer puts into the
generated requests, so that requests reach past "not found" into the code that moves money.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from hypothesis import strategies as st

from caja.clients.service import create_client
from caja.core.clock import BOGOTA
from caja.core.money import parse_amount
from caja.deposits import service as deposits
from caja.ops.funding import fund
from caja.providers.bank import SandboxBank
from tests.gateway import merchant, package_body, topup_body
from tests.helpers import SANDBOX_HOLDER, V0, V1, Caja, account_body, transfer_body

__all__ = ["PREFIXES", "SETUPS", "World"]

PREFIXES = {
    "ledger_v1": V1,
    "ledger_v0": V0,
    "topup": "/api/gateway_topup/v1",
    "deposit": "/api/coopcentral/v1",
    "wallet": "/api/wallet/v1",
    "events": "/api/events/v1",
}
WALLET_PASSWORD = "fuzzing password"
_serial = itertools.count(1)

# New values the server accepts, so that some requests create and move for real.
FRESH_TOKEN = st.uuids().map(lambda value: f"fz-{value.hex}")
FRESH_E164 = st.integers(3_000_000_000, 3_999_999_999).map(lambda number: f"+57{number}")
FRESH_LEGAL_ID = st.integers(10_000_000, 99_999_999).map(str)
FRESH_PHONE = st.integers(3_000_000_000, 3_999_999_999).map(str)


def either(used: list[Any], fresh: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A value already used (a replay, a conflict) or a new one."""
    return st.one_of(st.sampled_from(used), fresh)


@dataclass
class World:
    """One surface's credentials and real values.

    ``headers`` maps a path (without the surface prefix) to the credential headers for it,
    the key ``""`` serving every other path; ``values`` maps a parameter or body field name
    to real values for it, as a list or as a strategy.
    """

    headers: dict[str, dict[str, str]]
    values: dict[str, list[Any] | st.SearchStrategy[Any]] = field(default_factory=dict)

    def strategy(self, name: str) -> st.SearchStrategy[Any] | None:
        found = self.values.get(name)
        if found is None or isinstance(found, st.SearchStrategy):
            return found
        return st.sampled_from(found) if found else None

    def credentials(self, path: str) -> dict[str, str]:
        return self.headers.get(path, self.headers.get("", {}))


async def _ok(response: Awaitable[httpx.Response], *expected: int) -> dict[str, Any]:
    answered = await response
    assert answered.status_code in (expected or (200, 201)), answered.text
    body: dict[str, Any] = answered.json()
    return body


def _owner(account: dict[str, Any]) -> dict[str, Any]:
    """Owner fields: the account's own (a replay or a conflict) or a new owner."""
    return {
        "phone_number": either([account["phone_number"]], FRESH_E164),
        "owner_legal_id_number": either([account["owner"]["legal_id_number"]], FRESH_LEGAL_ID),
        "owner_legal_id_type": [account["owner"]["legal_id_type"]],
        "owner_full_name": [account["owner"]["full_name"]],
        "owner_email": [account["owner"]["email"]],
    }


async def ledger_v1(caja: Caja) -> World:
    key = await caja.client_key("ledger:admin", name="fuzz ledger")
    origin, destination = await caja.account(key), await caja.account(key)
    await caja.fund(origin["token"], "1000000.00")
    body = transfer_body(origin["token"], destination["token"], "10.00")
    await _ok(caja.transfer(key, body), 201)
    tokens = [origin["token"], destination["token"]]
    return World(
        headers={"": {"X-Account-api-key": key}},
        values={
            "account_token": tokens,
            "origin_account": tokens,
            "destination_account": tokens,
            "unique_transfer_token": either([body["unique_transfer_token"]], FRESH_TOKEN),
            "amount": ["1.00", "2", 3],
            "description": ["fuzz"],
            **_owner(origin),
        },
    )


async def ledger_v0(caja: Caja) -> World:
    key = await caja.client_key("ledger:admin", name="fuzz legacy")
    headers = {"Authorization": key}
    opened = [
        await _ok(caja.http.post(f"{V0}/account", json=account_body(), headers=headers), 201)
        for _ in range(2)
    ]
    await caja.fund(opened[0]["token"], "1000000.00")
    holder = {"Authorization": opened[0]["api_key"]}
    body = {
        "destination_phone_number": opened[1]["phone_number"],
        "amount": "10.00",
        "description": "fuzz",
        "unique_transfer_token": f"fuzz-{next(_serial)}",
    }
    await _ok(caja.http.post(f"{V0}/my/transfer", json=body, headers=holder), 201)
    return World(
        headers={"/account": headers, "": holder},
        values={
            "destination_phone_number": [item["phone_number"] for item in opened],
            "unique_transfer_token": either([body["unique_transfer_token"]], FRESH_TOKEN),
            "amount": ["1.00", "2", 3],
            "description": ["fuzz"],
            **_owner(opened[0]),
        },
    )


async def topup(caja: Caja) -> World:
    who = await merchant(caja.database, funds=1_000_000, max_loan=1_000)
    bought = [
        await _ok(caja.http.post(f"{PREFIXES['topup']}/{path}", json=body, headers=who.headers))
        for path, body in (("topup_account", topup_body()), ("package_buy", package_body()))
    ]
    tokens = [item["idempotency_token"] for item in bought]
    return World(
        headers={"": who.headers},
        values={
            "idempotency_token": either(tokens, FRESH_TOKEN),
            "service_provider": ["etb", "claro"],
            "payment_token": ["wallet-1"],
            "payment_origin": ["fuzz"],
            "destination_number": ["3110001111", "311000111122"],
            "provider_code": ["58", 58],
            "provider_identifier": ["58"],
            "package_code": ["767", 767],
            "amount": [1000, 7500, "2000"],
            "page": [1],
            "per_page": [5],
            "start_date": ["2020-01-01"],
            "end_date": ["2099-12-31"],
        },
    )


def _holder() -> dict[str, Any]:
    """A holder the sandbox bank accepts (see ``caja.providers.bank.TEST_DATA``)."""
    n = next(_serial)
    return {
        **SANDBOX_HOLDER,
        "identification_number": f"{n:03d}45678",
        "email": f"fuzz{n}@example.com",
    }


async def deposit(caja: Caja) -> World:
    created = await create_client(caja.database, "fuzz coop", ["deposit"])
    headers = {"Authorization": f"Token {created.api_key}"}
    api = PREFIXES["deposit"]
    tokens = [
        (await _ok(caja.http.post(f"{api}/accounts/create", json=_holder(), headers=headers)))[
            "token"
        ]
        for _ in range(2)
    ]
    number = await deposits.account_number(caja.database, tokens[0])
    incoming = SandboxBank().transfer_in(
        number,
        parse_amount("100000.00", 2),
        bank_slug="bancolombia",
        sender_name="Alonso Herrera",
        sender_id_number="1089876456",
    )
    await deposits.receive(caja.database, incoming)
    body = {
        "origin_account": tokens[0],
        "destination_account": tokens[1],
        "unique_transfer_token": f"fuzz-{next(_serial)}",
        "amount": "10.00",
        "description": "fuzz",
        "channel": "wallet",
    }
    await _ok(caja.http.post(f"{api}/transactions/create", json=body, headers=headers), 201)
    today = datetime.now(BOGOTA).date()
    return World(
        headers={"": headers},
        values={
            "account_token": tokens,
            "origin_account": tokens,
            "destination_account": tokens,
            "unique_transfer_token": either([body["unique_transfer_token"]], FRESH_TOKEN),
            "idempotency_token": [body["unique_transfer_token"]],
            "description": ["fuzz"],
            "initial_date": [(today - timedelta(days=1)).isoformat()],
            "final_date": [today.isoformat()],
            "amount": ["1.00", "2", 3],
            "fee_amount": ["0.50", 0],
            "channel": ["wallet"],
        },
    )


async def wallet(caja: Caja) -> World:
    api = PREFIXES["wallet"]
    people = []
    for _ in range(2):
        phone = f"301{next(_serial):07d}"
        body = {
            "phone_number": phone,
            "first_name": "Ana",
            "last_name": "Paz",
            "password": WALLET_PASSWORD,
        }
        people.append(await _ok(caja.http.post(f"{api}/auth/signup", json=body), 201))
    login = {"phone_number": people[0]["phone_number"], "password": WALLET_PASSWORD}
    token = (await _ok(caja.http.post(f"{api}/auth/login", json=login)))["token"]
    await fund(caja.database, people[0]["account_id"], "100000.00", asset="COP")
    return World(
        # Sign-up and log-in take no token.
        headers={"": {"X-Authorization": token}, "/auth/signup": {}, "/auth/login": {}},
        values={
            "account_id": [people[0]["account_id"]],
            "from_account_id": [people[0]["account_id"]],
            "profile_id": [people[1]["profile_id"]],
            "to_profile_id": [people[1]["profile_id"]],
            "asset_key": ["COP", "USD"],
            "amount": ["1.00", "2", 3],
            "find": [f"phone:{people[1]['phone_number']}"],
            "phone_number": either([people[0]["phone_number"]], FRESH_PHONE),
            "password": [WALLET_PASSWORD],
            "first_name": ["Ana"],
            "last_name": ["Paz"],
            "type": [1],
        },
    )


async def events(caja: Caja) -> World:
    """A client with an account that moved money (so it has events), an endpoint, a
    delivery (a replay of its event) and a monitor."""
    key = await caja.client_key("ledger:admin", name="fuzz events")
    headers = {"X-Account-api-key": key}
    api = PREFIXES["events"]
    origin, destination = await caja.account(key), await caja.account(key)
    await caja.fund(origin["token"], "1000000.00")
    body = transfer_body(origin["token"], destination["token"], "10.00")
    await _ok(caja.transfer(key, body), 201)
    url = "http://127.0.0.1:9/hooks"
    endpoint = await _ok(caja.http.post(f"{api}/endpoints", json={"url": url}, headers=headers))
    page = await _ok(caja.http.get(f"{api}/events", headers=headers), 200)
    event_ids = [event["id"] for event in page["events"]]
    await _ok(caja.http.post(f"{api}/events/{event_ids[0]}/replay", headers=headers), 202)
    deliveries = await _ok(caja.http.get(f"{api}/deliveries", headers=headers), 200)
    monitor = {"account_token": origin["token"], "below": "100.00"}
    made = await _ok(caja.http.post(f"{api}/monitors", json=monitor, headers=headers), 201)
    tokens = [origin["token"], destination["token"]]
    return World(
        headers={"": headers},
        values={
            "endpoint_id": [endpoint["endpoint_id"]],
            "event_id": event_ids,
            "delivery_id": [str(item["delivery_id"]) for item in deliveries["deliveries"]],
            "monitor_id": [made["monitor_id"]],
            "account_token": tokens,
            "url": [url, "https://hooks.example.com/caja"],
            "events": [["ledger.transfer.created"], []],
            "type": ["ledger.transfer.created", "balance.crossed"],
            "below": ["100.00", "0", -5],
            "above": ["100.00", 7],
        },
    )


SETUPS: dict[str, Callable[[Caja], Awaitable[World]]] = {
    "ledger_v1": ledger_v1,
    "ledger_v0": ledger_v0,
    "topup": topup,
    "deposit": deposit,
    "wallet": wallet,
    "events": events,
}
