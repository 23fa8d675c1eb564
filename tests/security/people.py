"""Wallet people for the security tests: sign-up and log-in through the API."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import httpx

WALLET = "/api/wallet/v1"
PASSWORD = "correct horse battery staple"
_serial = itertools.count(1)


def new_phone() -> str:
    return f"301{next(_serial):07d}"


@dataclass(frozen=True)
class Person:
    profile_id: str
    account_id: str
    phone_number: str
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Authorization": self.token}


async def log_in(http: httpx.AsyncClient, phone: Any, password: Any) -> httpx.Response:
    return await http.post(
        f"{WALLET}/auth/login", json={"phone_number": phone, "password": password}
    )


async def sign_up(
    http: httpx.AsyncClient, first: str = "Ana", password: str = PASSWORD
) -> dict[str, Any]:
    body = {
        "phone_number": new_phone(),
        "first_name": first,
        "last_name": "Paz",
        "password": password,
    }
    created = await http.post(f"{WALLET}/auth/signup", json=body)
    assert created.status_code == 201, created.text
    profile: dict[str, Any] = created.json()
    return profile


async def person(http: httpx.AsyncClient, first: str = "Ana", password: str = PASSWORD) -> Person:
    """A new profile, logged in."""
    profile = await sign_up(http, first, password)
    logged = await log_in(http, profile["phone_number"], password)
    assert logged.status_code == 200, logged.text
    return Person(
        profile["profile_id"],
        profile["account_id"],
        profile["phone_number"],
        password,
        logged.json()["token"],
    )
