"""Hand-written hostile requests to every write endpoint of every surface, and to the
path and query parameters of the reads.

Each request (a huge or endless body, deep nesting, a wrong or missing content type, a
body that is not an object, numbers out of any range, text no database can store,
strings built to break SQL, ids and keys of 10,000 characters, bytes that are not UTF-8)
must get a 4XX in the surface's own error body, and leave the ledger as it was: the same
rows in transfers, entries and accounts, and the same balance in every account.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import select

from caja.http.body import MAX_BODY_BYTES
from caja.ledger.tables import accounts
from tests.fuzz.shapes import error_problem
from tests.fuzz.world import PREFIXES, SETUPS, World
from tests.gateway import package_body, topup_body
from tests.helpers import SANDBOX_HOLDER, Caja, account_body

pytestmark = pytest.mark.anyio

JSON = {"Content-Type": "application/json"}
CHUNK = 16 * 1024
HUGE = 10 * 1024 * 1024


@dataclass(frozen=True)
class Endpoint:
    """A write endpoint: a valid body for it, and the fields naming things (accounts,
    tokens, phones) where a hostile value can only be refused."""

    surface: str
    path: str
    body: Callable[[World], dict[str, Any]]
    ids: tuple[str, ...]
    amounts: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return PREFIXES[self.surface] + self.path

    def __str__(self) -> str:
        return f"{self.surface}:{self.path}"


def _real(world: World, name: str, index: int = 0) -> Any:
    found = world.values[name]
    assert isinstance(found, list), name
    return found[index]


def _transfer(world: World) -> dict[str, Any]:
    return {
        "origin_account": _real(world, "origin_account"),
        "destination_account": _real(world, "destination_account", 1),
        "amount": "1.00",
        "description": "hostile",
        "unique_transfer_token": "hostile-1",
    }


def _legacy_transfer(world: World) -> dict[str, Any]:
    return {
        "destination_phone_number": _real(world, "destination_phone_number", 1),
        "amount": "1.00",
        "description": "hostile",
        "unique_transfer_token": "hostile-1",
    }


def _holder(_world: World) -> dict[str, Any]:
    return {
        **SANDBOX_HOLDER,
        "identification_number": "77745678",
        "email": "hostile@example.com",
    }


def _deposit_transfer(world: World) -> dict[str, Any]:
    return {**_transfer(world), "channel": "wallet", "fee_amount": "0.10"}


def _send(world: World) -> dict[str, Any]:
    return {
        "from_account_id": _real(world, "from_account_id"),
        "to_profile_id": _real(world, "to_profile_id"),
        "asset_key": "COP",
        "amount": "1.00",
        "meta_data": {"notes": "hostile"},
    }


ENDPOINTS = [
    Endpoint(
        "ledger_v1", "/account", lambda _: account_body(),
        ("phone_number", "owner_legal_id_type", "owner_legal_id_number"),
    ),
    Endpoint(
        "ledger_v1", "/transaction", _transfer,
        ("origin_account", "destination_account", "unique_transfer_token"), ("amount",),
    ),
    Endpoint(
        "ledger_v0", "/account", lambda _: account_body(),
        ("phone_number", "owner_legal_id_type", "owner_legal_id_number"),
    ),
    Endpoint(
        "ledger_v0", "/my/transfer", _legacy_transfer,
        ("destination_phone_number", "unique_transfer_token"), ("amount",),
    ),
    Endpoint(
        "topup", "/topup_account", lambda _: topup_body(),
        ("destination_number", "service_provider"), ("amount",),
    ),
    Endpoint(
        "topup", "/package_buy", lambda _: package_body(),
        ("destination_number", "provider_code", "package_code"), ("amount",),
    ),
    Endpoint(
        "deposit", "/accounts/create", _holder,
        ("identification_number", "identification_type", "mobile_phone_number", "sex"),
    ),
    Endpoint(
        "deposit", "/transactions/create", _deposit_transfer,
        ("origin_account", "destination_account", "unique_transfer_token"),
        ("amount", "fee_amount"),
    ),
    Endpoint(
        "deposit", "/transactions/revert",
        lambda world: {"idempotency_token": "hostile-unknown"}, ("idempotency_token",),
    ),
    Endpoint(
        "wallet", "/auth/signup",
        lambda _: {"phone_number": "3020000001", "first_name": "Eve", "last_name": "Mal",
                   "password": "a long enough password"},
        ("phone_number",),
    ),
    Endpoint(
        "wallet", "/auth/login",
        lambda _: {"phone_number": "3009999999", "password": "wrong one!"},
        ("phone_number",),
    ),
    Endpoint(
        "wallet", "/profile/contact",
        lambda world: {"profile_id": "prf-unknown", "first_name": "Eve", "last_name": "Mal"},
        ("profile_id",),
    ),
    Endpoint(
        "wallet", "/profile/send-to-profile", _send,
        ("from_account_id", "to_profile_id", "asset_key"), ("amount",),
    ),
    Endpoint(
        "events", "/endpoints", lambda world: {"url": _real(world, "url")}, ("url",),
    ),
    Endpoint(
        "events", "/monitors",
        lambda world: {"account_token": _real(world, "account_token"), "below": "100.00"},
        ("account_token",), ("below",),
    ),
]  # fmt: skip

HOSTILE_TEXT = {
    "emoji": "acc-😀💸",
    "right-to-left": "\u202eacc-1234\u202c",
    "nul": "acc-\u0000-1",
    "lone surrogate": "acc-\ud800",
    "sql": "'; DROP TABLE transfers; --",
    "sql quote": "x' OR '1'='1",
    "10,000 characters": "a" * 10_000,
}
# Raw JSON text for an amount, as a client could send it.
HOSTILE_NUMBERS = {
    "1e309": "1e309",
    "1e999999": "1e999999",
    "-1e999999": "-1e999999",
    "1e-400": "1e-400",
    "NaN": "NaN",
    "Infinity": "Infinity",
    "-Infinity": "-Infinity",
    "NaN as text": '"NaN"',
    "Infinity as text": '"Infinity"',
    "-0": "-0",
    "-0.00": "-0.00",
    "-0.00 as text": '"-0.00"',
    "10**400": str(10**400),
    "-10**400": str(-(10**400)),
    "10**400 as text": f'"{10**400}"',
    "5000 digits": "9" * 5000,
    "true": "true",
    "an object": '{"amount": 1}',
    "nested 500": "[" * 500 + "]" * 500,
}


@dataclass
class Target:
    caja: Caja
    endpoint: Endpoint
    world: World

    @property
    def headers(self) -> dict[str, str]:
        return self.world.credentials(self.endpoint.path)

    async def post(self, content: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        sent = {**self.headers, **(JSON if headers is None else headers)}
        return await self.caja.http.post(self.endpoint.url, content=content, headers=sent)

    async def state(self) -> tuple[Any, ...]:
        async with self.caja.database.read() as connection:
            balances = (
                await connection.execute(
                    select(accounts.c.token, accounts.c.balance_minor).order_by(accounts.c.id)
                )
            ).all()
        return await self.caja.counts(), [tuple(row) for row in balances]


@pytest.fixture(params=ENDPOINTS, ids=str)
async def target(request: pytest.FixtureRequest, caja: Caja) -> Target:
    endpoint: Endpoint = request.param
    world = await SETUPS[endpoint.surface](caja)
    return Target(caja, endpoint, world)


class Refusals:
    """Sends hostile requests one by one, and collects every answer that is not a 4XX
    in the surface's error body or that changed the ledger."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.problems: list[str] = []

    async def expect(
        self,
        case: str,
        content: Any,
        headers: dict[str, str] | None = None,
        status: int | None = None,
    ) -> httpx.Response:
        before = await self.target.state()
        response = await self.target.post(content, headers)
        where = f"{self.target.endpoint} {case}: {response.status_code} {response.text[:200]!r}"
        if not 400 <= response.status_code < 500:
            self.problems.append(f"{where}: not a 4XX")
        elif status is not None and response.status_code != status:
            self.problems.append(f"{where}: expected {status}")
        shape = error_problem(self.target.endpoint.surface, response)
        if shape is not None:
            self.problems.append(f"{where}: {shape}")
        if await self.target.state() != before:
            self.problems.append(f"{where}: changed the ledger")
        return response

    def check(self) -> None:
        assert not self.problems, "\n".join(self.problems)


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


class Pulled:
    """A body of ``size`` bytes, sent in chunks as the server asks for them; ``bytes``
    says how much the server took."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.bytes = 0

    async def stream(self) -> AsyncIterator[bytes]:
        yield b'{"description": "'
        while self.bytes < self.size:
            self.bytes += CHUNK
            yield b"x" * CHUNK


async def test_a_huge_body_is_refused_without_being_read(target: Target) -> None:
    refusals = Refusals(target)
    await refusals.expect("10 MiB", b"x" * HUGE, status=413)
    for declared in (True, False):
        pulled = Pulled(HUGE)
        headers = {**JSON, "Content-Length": str(HUGE + 17)} if declared else None
        await refusals.expect(f"10 MiB streamed, {declared=}", pulled.stream(), headers, 413)
        assert pulled.bytes <= MAX_BODY_BYTES + CHUNK, f"the server read {pulled.bytes} bytes"
    refusals.check()


async def test_deep_nesting_is_refused(target: Target) -> None:
    refusals = Refusals(target)
    await refusals.expect("100,000 levels", b"[" * 100_000 + b"]" * 100_000, status=413)
    await refusals.expect("10,000 objects deep", b'{"a":' * 10_000 + b"1" + b"}" * 10_000)
    await refusals.expect("30,000 lists deep", b"[" * 30_000 + b"]" * 30_000)
    body = target.endpoint.body(target.world)
    for name in (*target.endpoint.ids, *target.endpoint.amounts):
        for depth in (100, 500, 900, 990, 5_000):
            nested = "[" * depth + "]" * depth
            content = json.dumps({**body, name: "@"}).replace('"@"', nested)
            await refusals.expect(f"{name} nested {depth} deep", content.encode())
    refusals.check()


async def test_a_body_not_declared_as_json_is_refused_with_415(target: Target) -> None:
    refusals = Refusals(target)
    body = target.endpoint.body(target.world)
    valid = _json(body)
    for content_type in (
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonx",
        "application/xml",
        "",
    ):
        await refusals.expect(f"as {content_type!r}", valid, {"Content-Type": content_type}, 415)
    await refusals.expect("without a content type", valid, {}, 415)
    form = "&".join(f"{name}={value}" for name, value in body.items() if isinstance(value, str))
    await refusals.expect(
        "a form", form.encode(), {"Content-Type": "application/x-www-form-urlencoded"}, 415
    )
    refusals.check()


async def test_a_body_that_is_not_a_json_object_is_refused(target: Target) -> None:
    refusals = Refusals(target)
    valid = _json(target.endpoint.body(target.world))
    for case, content in {
        "empty": b"",
        "a list": b"[" + valid + b"]",
        "a string": b'"hello"',
        "a number": b"42",
        "null": b"null",
        "true": b"true",
        "cut short": valid[:-1],
        "two objects": valid + valid,
        "a BOM": b"\xef\xbb\xbf" + valid,
        "UTF-16": valid.decode().encode("utf-16"),
        "not UTF-8": valid[:-1] + b', "x": "\xff\xfe\xc3\x28"}',
        "an encoded surrogate": valid[:-1] + b', "x": "\xed\xa0\x80"}',
        "a raw NUL": valid[:-1] + b', "x": "\x00"}',
        "NaN": valid[:-1] + b', "x": NaN}',
    }.items():
        await refusals.expect(case, content)
    refusals.check()


@pytest.mark.parametrize(
    "target", [item for item in ENDPOINTS if item.amounts], ids=str, indirect=True
)
async def test_hostile_numbers_in_amounts_are_refused(target: Target) -> None:
    refusals = Refusals(target)
    body = target.endpoint.body(target.world)
    for name in target.endpoint.amounts:
        for case, raw in HOSTILE_NUMBERS.items():
            content = json.dumps({**body, name: "@"}).replace('"@"', raw)
            await refusals.expect(f"{name} = {case}", content.encode())
    refusals.check()


async def test_hostile_text_in_identifiers_is_refused(target: Target) -> None:
    refusals = Refusals(target)
    body = target.endpoint.body(target.world)
    for name in target.endpoint.ids:
        for case, text in HOSTILE_TEXT.items():
            await refusals.expect(f"{name} = {case}", _json({**body, name: text}))
    refusals.check()


async def test_an_over_long_credential_is_refused(target: Target) -> None:
    refusals = Refusals(target)
    valid = _json(target.endpoint.body(target.world))
    for name in target.headers:
        for case, text in {"10,000 characters": "k" * 10_000, "sql": "' OR 1=1 --"}.items():
            headers = {**JSON, name: text}
            response = await refusals.expect(f"{name} = {case}", valid, headers)
            if response.status_code not in (401, 403):
                refusals.problems.append(f"{name} = {case}: {response.status_code}, not 401")
    refusals.check()


# Reads and deletes whose path or query names something, "{}" where the text goes.
READS = [
    ("ledger_v1", "GET", "/account/{}"),
    ("ledger_v1", "GET", "/transaction/{}"),
    ("ledger_v1", "GET", "/account/{}/transactions"),
    ("ledger_v1", "GET", "/account/acc-x/transactions?cursor={}"),
    ("topup", "GET", "/topup_account/{}"),
    ("topup", "GET", "/package_buy/{}"),
    ("topup", "GET", "/packages?provider_identifier={}"),
    ("topup", "GET", "/topup_account/transactions?start_date={}&end_date={}"),
    ("deposit", "GET", "/accounts/balance?account_token={}"),
    ("deposit", "GET", "/transactions?account_token={}&initial_date=2026-01-01&final_date={}"),
    ("wallet", "GET", "/profile/account/{}"),
    ("wallet", "GET", "/contact?find=phone:{}"),
    ("wallet", "GET", "/contact?find={}"),
    ("wallet", "DELETE", "/profile/contact/{}"),
    ("wallet", "GET", "/profile/payment_transaction?type={}"),
]


@pytest.mark.parametrize(("surface", "method", "path"), READS, ids=lambda item: str(item))
async def test_hostile_text_in_paths_and_queries_is_refused(
    caja: Caja, surface: str, method: str, path: str
) -> None:
    world = await SETUPS[surface](caja)
    target = Target(caja, ENDPOINTS[0], world)
    before = await target.state()
    problems = []
    for case, text in HOSTILE_TEXT.items():
        encoded = quote(text.encode("utf-8", "surrogatepass"), safe="")
        url = PREFIXES[surface] + path.replace("{}", encoded)
        response = await caja.http.request(method, url, headers=world.credentials(path))
        where = f"{method} {path} with {case}: {response.status_code} {response.text[:200]!r}"
        if not 400 <= response.status_code < 500:
            problems.append(f"{where}: not a 4XX")
        shape = error_problem(surface, response)
        if shape is not None:
            problems.append(f"{where}: {shape}")
    assert await target.state() == before
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("token", ["a\nb", "a/b", "line\n", "😀-\u202e-x"])
@pytest.mark.parametrize("kind", ["topup_account", "package_buy"])
async def test_a_purchase_is_found_by_a_token_of_any_text(
    caja: Caja, kind: str, token: str
) -> None:
    world = await SETUPS["topup"](caja)
    body = topup_body() if kind == "topup_account" else package_body()
    api, headers = PREFIXES["topup"], world.credentials("")
    bought = await caja.http.post(
        f"{api}/{kind}", json={**body, "idempotency_token": token}, headers=headers
    )
    assert bought.status_code == 200, bought.text
    stored = bought.json()["idempotency_token"]

    found = await caja.http.get(f"{api}/{kind}/{quote(stored, safe='')}", headers=headers)

    assert found.status_code == 200, found.text
    assert found.json()["token"] == bought.json()["token"]
