"""Fixtures of the security tests: Argon2 with small costs, so that the many sign-ups and
log-ins here run fast; a test that asks for ``real_hashing`` gets the server's own."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from caja.wallet import service as wallet_service


@pytest.fixture
def real_hashing() -> None:
    """Asks for the server's own Argon2 costs."""


@pytest.fixture(autouse=True)
def fast_hashing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if "real_hashing" not in request.fixturenames:
        cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        monkeypatch.setattr(wallet_service, "_hasher", cheap)
