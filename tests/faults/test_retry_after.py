"""The 503 of each surface that answers one for a failure of ours carries Retry-After.

The database here is a port where nothing listens: each request's first read fails at
once. (The top-up gateway answers such a failure 500, as before: its 503 tells what the
operator did.)"""

from __future__ import annotations

import pytest

from caja.db.engine import Database
from tests.faults.common import SHORT, serving
from tests.postgres import free_port

pytestmark = pytest.mark.anyio

_LOGIN = {"phone_number": "3001234567", "password": "a-password-1"}
_REQUESTS = [
    ("GET", "/api/ledger/v1/public/account/ac-x", {"X-Account-api-key": "ck-x"}, None),
    ("GET", "/api/ledger/v0/my/balance", {"Authorization": "ck-x"}, None),
    (
        "GET",
        "/api/coopcentral/v1/accounts/balance?account_token=x",
        {"Authorization": "Token x"},
        None,
    ),
    ("POST", "/api/wallet/v1/auth/login", {}, _LOGIN),
]


async def test_each_surface_answers_503_with_retry_after_when_the_database_is_gone() -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/caja"
    async with serving(Database(url, settings=SHORT)) as caja:
        answers = {}
        for method, path, headers, body in _REQUESTS:
            response = await caja.http.request(method, path, headers=headers, json=body)
            answers[path] = (response.status_code, response.headers.get("Retry-After"))
        ready = await caja.http.get("/readyz")

    assert answers == dict.fromkeys(answers, (503, "1"))
    assert len(answers) == len(_REQUESTS)
    assert (ready.status_code, ready.headers.get("Retry-After")) == (503, "1")
