"""Answers to bad credentials never repeat them: not the key a refused request carried,
on any surface and in any form it came in, not a password a sign-up or a log-in refused,
not a log-in token that did not pass, neither in the body nor in a header."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import jwt
import pytest

from caja.clients.service import create_client, revoke_client
from caja.core.tokens import new_api_key
from caja.db.engine import Database
from tests.security.people import WALLET, log_in, new_phone, sign_up
from tests.security.surfaces import client_with_every_scope, requests

pytestmark = pytest.mark.anyio

PASSWORD = "correct horse battery staple"


def _assert_not_echoed(response: httpx.Response, *secrets: str) -> None:
    shown = response.text + "\n" + "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    for secret in secrets:
        assert secret not in shown, (response.status_code, response.text)


def _forms(key: str) -> list[str]:
    """The key and the forms it travels in."""
    return [key, base64.b64encode(key.encode()).decode(), key.split("-", 1)[-1]]


@pytest.mark.parametrize("kind", ["never issued", "revoked", "without the scope"])
async def test_a_refused_key_is_not_echoed_on_any_surface(
    http: httpx.AsyncClient, database: Database, kind: str
) -> None:
    client = await client_with_every_scope(http, database)
    if kind == "never issued":
        key = new_api_key("ck")
    elif kind == "revoked":
        revoked = await create_client(database, "revoked", ["ledger:admin", "topup", "deposit"])
        await revoke_client(database, revoked.client_id)
        key = revoked.api_key
    else:
        key = (await create_client(database, "ops only", ["admin"])).api_key

    for surface, make in requests(client, key, key).items():
        method, path, options = make()
        # The key in the body as well, where a careless client might put it.
        if "json" in options:
            options["json"] = {**options["json"], "description": key, "api_key": key}
        response = await http.request(method, path, **options)
        # The events surface takes a client's key of any scope.
        any_scope = ("ops dashboard", "events read", "events monitor")
        allowed = kind == "without the scope" and surface in any_scope
        assert response.status_code in (401, 403) or allowed, (surface, response.text)
        _assert_not_echoed(response, *_forms(key))


KEY_HEADERS: dict[str, Any] = {
    "ledger v1, key with blanks around": lambda key: (
        "/api/ledger/v1/public/account/acc-x",
        {"X-Account-api-key": f"  {key}x  "},
    ),
    "ledger v0, a Bearer key": lambda key: (
        "/api/ledger/v0/my/balance",
        {"Authorization": f"Bearer {key}"},
    ),
    "gateway, the key not base64": lambda key: (
        "/api/gateway_topup/v1/merchant/balance",
        {"Authorization": f"Basic {key}"},
    ),
    "gateway, key and a password": lambda key: (
        "/api/gateway_topup/v1/merchant/balance",
        {"Authorization": "Basic " + base64.b64encode(f"{key}x:{PASSWORD}".encode()).decode()},
    ),
    "gateway, a Token key": lambda key: (
        "/api/gateway_topup/v1/merchant/balance",
        {"Authorization": f"Token {key}"},
    ),
    "deposit, a Basic key": lambda key: (
        "/api/coopcentral/v1/accounts/balance?account_token=coopacc-x",
        {"Authorization": "Basic " + base64.b64encode(key.encode()).decode()},
    ),
    "deposit, a bare key": lambda key: (
        "/api/coopcentral/v1/accounts/balance?account_token=coopacc-x",
        {"Authorization": key},
    ),
    "dashboard, a wrong key": lambda key: ("/admin/api/summary", {"X-Admin-Key": key + "x"}),
}


@pytest.mark.parametrize("case", list(KEY_HEADERS))
async def test_a_key_in_the_wrong_form_is_not_echoed(
    http: httpx.AsyncClient, database: Database, case: str
) -> None:
    key = (await create_client(database, "formless", ["ledger:admin", "topup", "deposit"])).api_key
    path, headers = KEY_HEADERS[case](key)

    response = await http.get(path, headers=headers)

    assert response.status_code == 401, response.text
    _assert_not_echoed(response, *_forms(key), PASSWORD, *headers.values())


SIGN_UPS: dict[str, dict[str, Any]] = {
    "a password too short": {"password": "short pw!"},
    "a password too long": {"password": "p" * 120 + " too long"},
    "a password not a string": {"password": 12345678901234},
    "a password as a list": {"password": ["correct horse", "battery staple"]},
    "a bad phone with a good password": {"phone_number": "+57 300", "password": PASSWORD},
    "a missing name with a good password": {"first_name": "", "password": PASSWORD},
}


@pytest.mark.parametrize("case", list(SIGN_UPS))
async def test_a_refused_sign_up_does_not_echo_the_password(
    http: httpx.AsyncClient, case: str
) -> None:
    body = {"phone_number": new_phone(), "first_name": "Ana", "last_name": "Paz", **SIGN_UPS[case]}

    response = await http.post(f"{WALLET}/auth/signup", json=body)

    assert response.status_code == 400, response.text
    password = body["password"]
    secrets = [str(part) for part in (password if isinstance(password, list) else [password])]
    _assert_not_echoed(response, *secrets)


async def test_refused_log_ins_do_not_echo_the_password(http: httpx.AsyncClient) -> None:
    profile = await sign_up(http, password=PASSWORD)
    phone = profile["phone_number"]
    guesses = [f"guess number {n} of the password" for n in range(6)]

    answers = [await log_in(http, phone, guess) for guess in guesses]
    locked = await log_in(http, phone, PASSWORD)
    unknown = await log_in(http, new_phone(), PASSWORD)
    broken = await http.post(
        f"{WALLET}/auth/login",
        content=f'{{"phone_number": "{phone}", "password": "{PASSWORD}"'.encode(),
        headers={"Content-Type": "application/json"},
    )

    assert [a.status_code for a in answers] == [401] * 5 + [429]
    assert (locked.status_code, unknown.status_code, broken.status_code) == (429, 401, 400)
    for response, secret in [*zip(answers, guesses, strict=True), (locked, PASSWORD)]:
        _assert_not_echoed(response, secret)
    _assert_not_echoed(unknown, PASSWORD)
    _assert_not_echoed(broken, PASSWORD)


async def test_a_refused_log_in_token_is_not_echoed(http: httpx.AsyncClient) -> None:
    profile = await sign_up(http, password=PASSWORD)
    forged = jwt.encode({"sub": profile["profile_id"], "exp": 2**40}, "x" * 40, "HS256")

    for path in ("/profile/", "/contact?find=phone:3001234567", "/profile/payment_transaction"):
        response = await http.get(f"{WALLET}{path}", headers={"X-Authorization": forged})
        assert response.status_code == 403, response.text
        _assert_not_echoed(response, forged, forged.rsplit(".", 1)[1])
