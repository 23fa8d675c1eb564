"""Wallet log-in tokens that must not pass: forged, unsigned, signed with another
algorithm, altered, expired, not yet valid, without a subject, or naming a profile that
is not there. Each is answered as the send guide says (498 "Token has expired" for a
genuine expired token, 403 in plain text for every other) and moves nothing."""

from __future__ import annotations

import base64
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, select
from sqlalchemy.engine import Connection

from caja.app import services_of
from caja.db.engine import Database
from caja.ops.funding import fund
from caja.wallet.tables import wallet_accounts, wallet_balances, wallet_contacts, wallet_profiles
from tests.security.people import WALLET, Person, person
from tests.security.tenants import every_row

pytestmark = pytest.mark.anyio

OTHER_SECRET = "a-secret-of-some-other-server-" + "z" * 24
EXPIRED = "Token has expired"


@dataclass(frozen=True)
class World:
    ana: Person  # holds 100.00 COP
    beto: Person
    secret: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hand_made(
    header: dict[str, Any], claims: dict[str, Any], key: bytes | None, digest: str = "sha256"
) -> str:
    """A JWT written by hand, for headers and keys PyJWT will not write: signed with HMAC
    and ``digest`` under ``key``, or with no signature at all."""
    signing = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(key, signing.encode(), digest).digest() if key else b""
    return f"{signing}.{_b64(signature)}"


def _claims(world: World, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": world.ana.profile_id, "iat": now, "exp": now + 600}
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def _signed(world: World, **changes: Any) -> str:
    return jwt.encode(_claims(world, **changes), world.secret, algorithm="HS256")


def _expired(world: World) -> dict[str, Any]:
    now = int(time.time())
    return {"iat": now - 1200, "exp": now - 600}


def _with_header(token: str, header: dict[str, Any]) -> str:
    """``token`` with its header replaced, its claims and signature kept."""
    _, claims, signature = token.split(".")
    return f"{_b64(json.dumps(header).encode())}.{claims}.{signature}"


def _with_claims(token: str, claims: dict[str, Any]) -> str:
    """``token`` with its claims replaced, its header and signature kept."""
    header, _, signature = token.split(".")
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


Make = Callable[[World], str]
BAD_TOKENS: dict[str, tuple[Make, int]] = {
    "signed with another secret": (
        lambda w: jwt.encode(_claims(w), OTHER_SECRET, algorithm="HS256"),
        403,
    ),
    "alg none, unsigned": (
        lambda w: _hand_made({"alg": "none", "typ": "JWT"}, _claims(w), None),
        403,
    ),
    "alg None, unsigned": (lambda w: _hand_made({"alg": "None"}, _claims(w), None), 403),
    "alg NONE, unsigned": (lambda w: _hand_made({"alg": "NONE"}, _claims(w), None), 403),
    "alg none over a genuine signature": (
        lambda w: _with_header(_signed(w), {"alg": "none", "typ": "JWT"}),
        403,
    ),
    "HS512 with the server's secret": (
        lambda w: _hand_made({"alg": "HS512"}, _claims(w), w.secret.encode(), "sha512"),
        403,
    ),
    "HS384 with the server's secret": (
        lambda w: _hand_made({"alg": "HS384"}, _claims(w), w.secret.encode(), "sha384"),
        403,
    ),
    "RS256 named, signed with the secret as an HMAC key": (
        lambda w: _hand_made({"alg": "RS256", "typ": "JWT"}, _claims(w), w.secret.encode()),
        403,
    ),
    "ES256 named over a genuine signature": (
        lambda w: _with_header(_signed(w), {"alg": "ES256", "typ": "JWT"}),
        403,
    ),
    "claims changed to another person after signing": (
        lambda w: _with_claims(_signed(w, sub=w.beto.profile_id), _claims(w)),
        403,
    ),
    "expiry moved later after signing": (
        lambda w: _with_claims(_signed(w, **_expired(w)), _claims(w, exp=int(time.time()) + 9_999)),
        403,
    ),
    "expired": (lambda w: _signed(w, **_expired(w)), 498),
    "expired and unsigned": (
        lambda w: _hand_made({"alg": "none"}, _claims(w, **_expired(w)), None),
        403,
    ),
    "expired and signed with another secret": (
        lambda w: jwt.encode(_claims(w, **_expired(w)), OTHER_SECRET, algorithm="HS256"),
        403,
    ),
    "not valid before a later time (nbf)": (
        lambda w: _signed(w, nbf=int(time.time()) + 600),
        403,
    ),
    "issued in the future (iat)": (lambda w: _signed(w, iat=int(time.time()) + 600), 403),
    "expiry not a number": (lambda w: _signed(w, exp="tomorrow"), 403),
    "no expiry": (lambda w: _signed(w, exp=None), 403),
    "no subject": (lambda w: _signed(w, sub=None), 403),
    "an empty subject": (lambda w: _signed(w, sub=""), 403),
    "a number as subject": (lambda w: _signed(w, sub=1), 403),
    "an account id as subject": (lambda w: _signed(w, sub=w.ana.account_id), 403),
    "a profile that never existed": (lambda w: _signed(w, sub="prf-" + "a" * 29), 403),
}


@pytest.fixture
async def world(http: httpx.AsyncClient, app: FastAPI, database: Database) -> World:
    ana, beto = await person(http, "Ana"), await person(http, "Beto")
    await fund(database, ana.account_id, "100.00")
    return World(ana, beto, services_of(app).wallet.jwt_secret)


def _request(world: World, endpoint: str) -> tuple[str, str, dict[str, Any]]:
    if endpoint == "find contact":
        return "GET", f"{WALLET}/contact", {"params": {"find": f"phone:{world.beto.phone_number}"}}
    body = {
        "from_account_id": world.ana.account_id,
        "to_profile_id": world.beto.profile_id,
        "asset_key": "COP",
        "amount": "1.00",
    }
    return "POST", f"{WALLET}/profile/send-to-profile", {"json": body}


def _assert_refused(response: httpx.Response, status: int, endpoint: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/plain")
    if status == 498:
        assert response.text == EXPIRED
    elif endpoint == "find contact":
        assert response.text == "find request requires user authentication"
    else:
        assert response.text == "request requires user authentication"


@pytest.mark.parametrize("endpoint", ["send", "find contact"])
@pytest.mark.parametrize("case", list(BAD_TOKENS))
async def test_a_bad_token_is_refused_as_the_guide_says_and_moves_nothing(
    http: httpx.AsyncClient, database: Database, world: World, endpoint: str, case: str
) -> None:
    make, status = BAD_TOKENS[case]
    token = make(world)
    method, path, options = _request(world, endpoint)
    before = await every_row(database)

    response = await http.request(method, path, headers={"X-Authorization": token}, **options)

    _assert_refused(response, status, endpoint)
    assert await every_row(database) == before


@pytest.mark.parametrize("endpoint", ["send", "find contact"])
async def test_the_genuine_token_passes_where_the_bad_ones_are_refused(
    http: httpx.AsyncClient, world: World, endpoint: str
) -> None:
    method, path, options = _request(world, endpoint)

    response = await http.request(method, path, headers=world.ana.headers, **options)

    assert response.status_code == 200, response.text
    assert response.json().get("code", 200) == 200


async def test_a_token_of_a_profile_that_no_longer_exists_is_refused(
    http: httpx.AsyncClient, database: Database, world: World
) -> None:
    """A token outlives nothing it names: once the profile is gone its unexpired token,
    genuinely signed, is refused like any bad token."""

    def remove(connection: Connection) -> None:
        profile = select(wallet_profiles.c.id).where(
            wallet_profiles.c.token == world.beto.profile_id
        )
        wallet = select(wallet_accounts.c.id).where(wallet_accounts.c.profile_id.in_(profile))
        connection.execute(
            delete(wallet_balances).where(wallet_balances.c.wallet_account_id.in_(wallet))
        )
        connection.execute(delete(wallet_contacts).where(wallet_contacts.c.owner_id.in_(profile)))
        connection.execute(delete(wallet_accounts).where(wallet_accounts.c.profile_id.in_(profile)))
        connection.execute(delete(wallet_profiles).where(wallet_profiles.c.id.in_(profile)))

    await database.write(remove)
    before = await every_row(database)

    response = await http.get(f"{WALLET}/profile/", headers=world.beto.headers)

    _assert_refused(response, 403, "profile")
    assert await every_row(database) == before


async def test_log_in_issues_short_lived_hs256_tokens_naming_the_profile(
    http: httpx.AsyncClient, app: FastAPI, world: World
) -> None:
    header = jwt.get_unverified_header(world.ana.token)
    claims = jwt.decode(world.ana.token, world.secret, algorithms=["HS256"])

    assert header["alg"] == "HS256"
    assert claims["sub"] == world.ana.profile_id
    assert claims["exp"] - claims["iat"] == services_of(app).wallet.token_seconds <= 3600
    assert len(world.secret) >= 32
