"""A client holding every scope, and one request of each kind on every surface made
with its keys: what the revocation and secrecy tests exercise."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from caja.clients.service import create_client
from caja.core.money import parse_amount
from caja.db.engine import Database
from caja.deposits import service as deposits
from caja.ops.funding import fund
from caja.providers.bank import SandboxBank
from tests.helpers import SANDBOX_HOLDER, V0, V1, account_body, transfer_body
from tests.security.tenants import unique

GATEWAY = "/api/gateway_topup/v1"
COOP = "/api/coopcentral/v1"


@dataclass(frozen=True)
class Client:
    """A client holding every scope, with what each surface needs to work."""

    client_id: str
    key: str
    account_key: str  # the legacy key of its first ledger account
    ledger: tuple[str, str]
    phones: tuple[str, str]
    deposit: tuple[str, str]


Request = tuple[str, str, dict[str, Any]]


def requests(c: Client, key: str, account_key: str) -> dict[str, Callable[[], Request]]:
    """Each surface's requests, made with ``key`` (or ``account_key`` on the legacy
    surface's own routes); each call makes a new one, with fresh tokens."""
    v1 = {"X-Account-api-key": key}
    basic = {"Authorization": "Basic " + base64.b64encode(key.encode()).decode()}
    coop = {"Authorization": f"Token {key}"}
    return {
        "ledger v1 read": lambda: ("GET", f"{V1}/account/{c.ledger[0]}", {"headers": v1}),
        "ledger v1 transfer": lambda: (
            "POST",
            f"{V1}/transaction",
            {"headers": v1, "json": transfer_body(*c.ledger, "1.00")},
        ),
        "ledger v1 batch": lambda: (
            "POST",
            f"{V1}/transaction/batch",
            {"headers": v1, "json": {"transactions": [transfer_body(*c.ledger, "1.00")]}},
        ),
        "ledger v0 account": lambda: (
            "POST",
            f"{V0}/account",
            {"headers": {"Authorization": key}, "json": account_body()},
        ),
        "ledger v0 balance": lambda: (
            "GET",
            f"{V0}/my/balance",
            {"headers": {"Authorization": account_key}},
        ),
        "ledger v0 transfer": lambda: (
            "POST",
            f"{V0}/my/transfer",
            {
                "headers": {"Authorization": account_key},
                "json": {
                    "destination_phone_number": c.phones[1],
                    "amount": "1.00",
                    "description": "lunch",
                    "unique_transfer_token": unique("lg-"),
                },
            },
        ),
        "gateway read": lambda: ("GET", f"{GATEWAY}/merchant/balance", {"headers": basic}),
        "gateway top-up": lambda: (
            "POST",
            f"{GATEWAY}/topup_account",
            {
                "headers": basic,
                "json": {
                    "idempotency_token": unique("idtk-"),
                    "amount": 1000,
                    "service_provider": "etb",
                    "destination_number": "3110001111",
                    "payment_token": "wallet-1",
                    "payment_origin": "wallet",
                },
            },
        ),
        "deposit read": lambda: (
            "GET",
            f"{COOP}/accounts/balance",
            {"headers": coop, "params": {"account_token": c.deposit[0]}},
        ),
        "deposit transfer": lambda: (
            "POST",
            f"{COOP}/transactions/create",
            {
                "headers": coop,
                "json": {
                    "origin_account": c.deposit[0],
                    "destination_account": c.deposit[1],
                    "unique_transfer_token": unique("utt-"),
                    "amount": "1.00",
                    "description": "rent",
                    "channel": "wallet",
                },
            },
        ),
        "ops dashboard": lambda: ("GET", "/admin/api/summary", {"headers": {"X-Admin-Key": key}}),
        "events read": lambda: ("GET", "/api/events/v1/events", {"headers": v1}),
        "events monitor": lambda: (
            "POST",
            "/api/events/v1/monitors",
            {"headers": v1, "json": {"account_token": c.ledger[0], "below": "1.00"}},
        ),
    }


async def _deposit_account(http: httpx.AsyncClient, database: Database, key: str) -> str:
    body = {
        **SANDBOX_HOLDER,
        "identification_number": unique("")[-4:] + "45678",
        "email": unique("revoked") + "@example.com",
    }
    response = await http.post(
        f"{COOP}/accounts/create", json=body, headers={"Authorization": f"Token {key}"}
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    number = await deposits.account_number(database, token)
    incoming = SandboxBank().transfer_in(
        number,
        parse_amount("500.00", 2),
        bank_slug="bancolombia",
        sender_name="Alonso Herrera",
        sender_id_number="1089876456",
    )
    await deposits.receive(database, incoming)
    return token


async def client_with_every_scope(http: httpx.AsyncClient, database: Database) -> Client:
    created = await create_client(
        database, unique("everything "), ["ledger:admin", "topup", "deposit", "admin"]
    )
    key = created.api_key
    opened = []
    for _ in range(2):
        response = await http.post(
            f"{V0}/account", json=account_body(), headers={"Authorization": key}
        )
        assert response.status_code == 201, response.text
        opened.append(response.json())
    await fund(database, opened[0]["token"], "500.00")
    await fund(database, created.client_id, "50000")
    deposit = (
        await _deposit_account(http, database, key),
        await _deposit_account(http, database, key),
    )
    return Client(
        created.client_id,
        key,
        opened[0]["api_key"],
        (opened[0]["token"], opened[1]["token"]),
        (opened[0]["phone_number"], opened[1]["phone_number"]),
        deposit,
    )


async def send(http: httpx.AsyncClient, request: Request) -> httpx.Response:
    method, path, options = request
    return await http.request(method, path, **options)
