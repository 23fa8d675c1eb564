"""Helpers for the top-up and package gateway tests: merchants, bodies, headers."""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass
from typing import Any

from caja.clients.service import create_client
from caja.db.engine import Database
from caja.ops.funding import fund

GATEWAY = "/api/gateway_topup/v1"
GATEWAY_ALIAS = "/api/gateway_top-up/v1"
_serial = itertools.count(1)


def basic(api_key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(api_key.encode()).decode()}


@dataclass(frozen=True)
class Merchant:
    client_id: str  # cli-…
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return basic(self.api_key)


async def merchant(
    database: Database, *, funds: int = 0, max_loan: int = 0, scopes: tuple[str, ...] = ("topup",)
) -> Merchant:
    """A topup client with ``funds`` whole pesos in its merchant account and an overdraft of
    ``max_loan`` pesos."""
    created = await create_client(
        database, f"merchant {next(_serial)}", list(scopes), max_loan * 100
    )
    if funds:
        await fund(database, created.client_id, str(funds))
    return Merchant(created.client_id, created.api_key)


def topup_body(number: str = "3110001111", **overrides: Any) -> dict[str, Any]:
    body = {
        "idempotency_token": f"idtk-{next(_serial)}",
        "amount": 1000,
        "service_provider": "etb",
        "destination_number": number,
        "payment_token": "wallet-11233dafd",
        "payment_origin": "Tpaga wallet",
    }
    body.update(overrides)
    return body


def package_body(number: str = "3110001111", **overrides: Any) -> dict[str, Any]:
    body = {
        "idempotency_token": f"pk-{next(_serial)}",
        "amount": 7500,
        "provider_code": 58,
        "destination_number": number,
        "payment_token": "wallet-11233dafd",
        "package_code": 767,
    }
    body.update(overrides)
    return body
