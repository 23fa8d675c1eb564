"""Ledger v1 over HTTP: every endpoint and every status code of the v1 seed."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import OperationalError

from caja.api.ledger_v1.schemas import TRANSFER_TOKEN_PATTERN
from caja.clients.service import authenticate, create_client, revoke_client
from caja.core.tokens import new_token
from caja.customers.service import get_account
from caja.db.engine import Database
from caja.ledger import batching as engine
from caja.ledger.model import NewTransfer
from tests.helpers import V1, Caja, account_body, listening, transfer_body

pytestmark = pytest.mark.anyio

# Stand-ins in parametrized bodies, replaced by the test with the real value.
MISSING = object()
ORIGIN = object()
UNKNOWN = object()
ELSEWHERE = object()
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
UNAUTHORIZED = ("Unauthorized", "Invalid authorization token was provided.")
FORBIDDEN = (
    "Forbidden",
    "You do not have enough permissions to perform this action, please contact the support team.",
)
UNAVAILABLE = (
    "TemporarilyUnavailable",
    "Temporary failure, nothing was changed; it is safe to retry the request.",
)
NO_FUNDS = {"code": "NoFunds", "message": "Not enough funds in the origin_account."}
ACCOUNT_NOT_FOUND = ("AccountNotFound", "The account does not exist.")
TRANSACTION_NOT_FOUND = ("TransactionNotFound", "The transaction does not exist.")
NOT_AN_OBJECT = ("InvalidJSON", "the body must be a JSON object")
POSITIVE = 'amount: must be a positive amount such as "1000.00"'
PHONE_FORMAT = "phone_number: must be an international number such as +573334444666"
TOKEN_PATTERN = f"unique_transfer_token: String should match pattern '{TRANSFER_TOKEN_PATTERN}'"


# --- small helpers ---------------------------------------------------------------------------


def headers(key: str) -> dict[str, str]:
    return {"X-Account-api-key": key}


def assert_error(response: httpx.Response, status: int, code: str, message: str) -> None:
    assert response.status_code == status, response.text
    assert response.json() == {"code": code, "message": message}


def without_missing(body: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in body.items() if value is not MISSING}


def with_raw_amount(body: dict[str, Any], amount_json: str) -> str:
    """The body as JSON text with ``amount`` written exactly as ``amount_json``."""
    rest = {name: value for name, value in body.items() if name != "amount"}
    return json.dumps(rest)[:-1] + f', "amount": {amount_json}}}'


async def post_raw(caja: Caja, key: str, path: str, content: str | bytes) -> httpx.Response:
    return await caja.http.post(
        f"{V1}{path}",
        content=content,
        headers={**headers(key), "Content-Type": "application/json"},
    )


async def post_account(caja: Caja, key: str, body: dict[str, Any]) -> httpx.Response:
    return await caja.http.post(f"{V1}/account", json=body, headers=headers(key))


async def history(
    caja: Caja, key: str, token: str, params: dict[str, Any] | None = None
) -> httpx.Response:
    return await caja.http.get(
        f"{V1}/account/{token}/transactions", params=params, headers=headers(key)
    )


async def pair(caja: Caja, key: str, funds: str | None = "10000") -> tuple[str, str]:
    """Two accounts of the key's client; the first funded with ``funds``."""
    origin = (await caja.account(key))["token"]
    destination = (await caja.account(key))["token"]
    if funds is not None:
        await caja.fund(origin, funds)
    return origin, destination


async def transferred(caja: Caja, key: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await caja.transfer(key, body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def snapshot(caja: Caja, key: str, *tokens: str) -> tuple[Any, ...]:
    """Row counts and the balances of ``tokens``: what a refused request must not change."""
    return await caja.counts(), [await caja.balance(key, token) for token in tokens]


@dataclass(frozen=True)
class World:
    """A client with two accounts and one 1000.00 transfer between them."""

    key: str
    client: str
    origin: str
    destination: str
    transaction: dict[str, Any]


async def world(caja: Caja, name: str = "acme") -> World:
    client = await create_client(caja.database, name, ["ledger:admin"])
    origin, destination = await pair(caja, client.api_key)
    transaction = await transferred(
        caja, client.api_key, transfer_body(origin, destination, "1000")
    )
    return World(client.api_key, client.client_id, origin, destination, transaction)


ENDPOINTS = [
    "POST /account",
    "GET /account/{token}",
    "POST /transaction",
    "GET /transaction/{utt}",
    "GET /account/{token}/transactions",
]
READS = [endpoint for endpoint in ENDPOINTS if endpoint.startswith("GET")]


async def send(caja: Caja, endpoint: str, w: World, sent: dict[str, str]) -> httpx.Response:
    """Call ``endpoint`` with a request that ``w.key`` would have answered with a 2XX."""
    utt = w.transaction["unique_transfer_token"]
    method, url, body = {
        "POST /account": ("POST", f"{V1}/account", account_body()),
        "GET /account/{token}": ("GET", f"{V1}/account/{w.origin}", None),
        "POST /transaction": ("POST", f"{V1}/transaction", transfer_body(w.origin, w.destination)),
        "GET /transaction/{utt}": ("GET", f"{V1}/transaction/{utt}", None),
        "GET /account/{token}/transactions": ("GET", f"{V1}/account/{w.origin}/transactions", None),
    }[endpoint]
    return await caja.http.request(method, url, json=body, headers=sent)


@contextmanager
def failing_database(database: Database) -> Iterator[None]:
    def fail(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("SELECT 1", {}, Exception("injected"))

    with listening(database, "before_cursor_execute", fail):
        yield


# --- authentication, permissions, outages: every endpoint -----------------------------------


async def bad_key(caja: Caja, w: World, kind: str) -> dict[str, str]:
    if kind == "missing":
        return {}
    if kind == "unknown":
        return headers("ck-" + "x" * 43)
    await revoke_client(caja.database, w.client)
    return headers(w.key)


@pytest.mark.parametrize("kind", ["missing", "unknown", "revoked"])
@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_every_endpoint_answers_401_to_a_missing_unknown_or_revoked_key(
    caja: Caja, endpoint: str, kind: str
) -> None:
    w = await world(caja)
    before = await caja.counts()

    response = await send(caja, endpoint, w, await bad_key(caja, w, kind))

    assert_error(response, 401, *UNAUTHORIZED)
    assert await caja.counts() == before


@pytest.mark.parametrize(
    ("endpoint", "scope"),
    [("POST /account", "ledger"), *((endpoint, "topup") for endpoint in ENDPOINTS)],
)
async def test_every_endpoint_answers_403_to_a_key_without_the_scope(
    caja: Caja, endpoint: str, scope: str
) -> None:
    w = await world(caja)
    key = await caja.client_key(scope, name="narrow")
    before = await caja.counts()

    response = await send(caja, endpoint, w, headers(key))

    assert_error(response, 403, *FORBIDDEN)
    assert await caja.counts() == before


@pytest.mark.parametrize("endpoint", READS)
async def test_every_read_answers_503_while_the_database_fails(caja: Caja, endpoint: str) -> None:
    w = await world(caja)

    with failing_database(caja.database):
        response = await send(caja, endpoint, w, headers(w.key))

    assert_error(response, 503, *UNAVAILABLE)
    assert (await send(caja, endpoint, w, headers(w.key))).status_code == 200


@pytest.mark.parametrize(
    ("endpoint", "error"),
    [
        ("GET /account/{token}", ACCOUNT_NOT_FOUND),
        ("GET /transaction/{utt}", TRANSACTION_NOT_FOUND),
        ("GET /account/{token}/transactions", ACCOUNT_NOT_FOUND),
    ],
)
async def test_reads_answer_another_clients_ids_exactly_like_unknown_ids(
    caja: Caja, endpoint: str, error: tuple[str, str]
) -> None:
    mine = await world(caja)
    theirs = replace(await world(caja, name="other"), key=mine.key)
    unknown = replace(
        mine,
        origin=new_token("acc"),
        transaction={"unique_transfer_token": "utt-never-used"},
    )

    foreign = await send(caja, endpoint, theirs, headers(mine.key))
    missing = await send(caja, endpoint, unknown, headers(mine.key))

    assert_error(missing, 422, *error)
    assert foreign.status_code == 422
    assert foreign.content == missing.content


# --- POST /account ----------------------------------------------------------------------------


async def test_create_account_answers_201_with_the_input_and_a_zero_balance(caja: Caja) -> None:
    key = await caja.client_key()
    body = account_body(owner_legal_id_type="NIT")
    transfers, entries, accounts = await caja.counts()

    response = await post_account(caja, key, body)

    assert response.status_code == 201, response.text
    created = response.json()
    assert created["token"].startswith("acc-")
    assert created["owner"]["token"].startswith("ow-")
    assert created == {
        "token": created["token"],
        "phone_number": body["phone_number"],
        "balance": "0.00",
        "owner": {
            "token": created["owner"]["token"],
            "legal_id_type": "NIT",
            "legal_id_number": body["owner_legal_id_number"],
            "full_name": body["owner_full_name"],
            "email": body["owner_email"],
        },
    }
    assert await caja.counts() == (transfers, entries, accounts + 1)


async def test_create_account_for_the_same_owner_and_phone_answers_200_with_that_account(
    caja: Caja,
) -> None:
    key = await caja.client_key()
    body = account_body()
    first = await caja.account(key, **body)
    before = await caja.counts()

    again = await post_account(
        caja, key, {**body, "owner_full_name": "Renamed", "owner_email": "x@y.co"}
    )

    assert again.status_code == 200, again.text
    assert again.json() == first
    assert await caja.counts() == before


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        pytest.param(
            {"phone_number": "+573009999999"},
            "OwnerHasAnotherAccount",
            "Account not created; the owner already has an account with a different phone number.",
            id="same owner, other phone",
        ),
        pytest.param(
            {"owner_legal_id_number": "99999999"},
            "PhoneNumberTaken",
            "Account not created; the phone number belongs to another owner's account.",
            id="same phone, other owner",
        ),
    ],
)
async def test_create_account_answers_409_when_owner_or_phone_belong_to_another_account(
    caja: Caja, change: dict[str, str], code: str, message: str
) -> None:
    key = await caja.client_key()
    body = account_body()
    await caja.account(key, **body)
    before = await caja.counts()

    response = await post_account(caja, key, {**body, **change})

    assert_error(response, 409, code, message)
    assert await caja.counts() == before


@pytest.mark.parametrize(
    ("change", "message"),
    [
        *(
            pytest.param({field: MISSING}, f"{field}: is required", id=f"missing {field}")
            for field in account_body()
        ),
        pytest.param({"phone_number": "3001234567"}, PHONE_FORMAT, id="phone without +"),
        pytest.param({"phone_number": "+57abc"}, PHONE_FORMAT, id="phone with letters"),
        pytest.param(
            {"owner_legal_id_type": "XX"},
            "owner_legal_id_type: Input should be 'CC', 'CE', 'NIT', 'TI', 'PA' or 'PEP'",
            id="unknown legal id type",
        ),
        pytest.param(
            {"owner_email": "not-an-email"}, "owner_email: must be an email address", id="email"
        ),
        pytest.param(
            {"owner_full_name": "   "}, "owner_full_name: must not be blank", id="blank name"
        ),
    ],
)
async def test_create_account_answers_422_naming_the_bad_field(
    caja: Caja, change: dict[str, Any], message: str
) -> None:
    key = await caja.client_key()
    before = await caja.counts()

    response = await post_account(caja, key, without_missing(account_body(**change)))

    assert_error(response, 422, "InvalidData", message)
    assert await caja.counts() == before


@pytest.mark.parametrize("path", ["/account", "/transaction"])
@pytest.mark.parametrize("content", [b"not json", b"[1, 2]", b""], ids=["text", "array", "empty"])
async def test_post_answers_422_to_a_body_that_is_not_a_json_object(
    caja: Caja, path: str, content: bytes
) -> None:
    key = await caja.client_key()
    before = await caja.counts()

    response = await post_raw(caja, key, path, content)

    assert_error(response, 422, *NOT_AN_OBJECT)
    assert await caja.counts() == before


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 8192):
        yield data[start : start + 8192]


@pytest.mark.parametrize("path", ["/account", "/transaction"])
@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
async def test_post_answers_413_to_a_body_over_64_kib(
    caja: Caja, path: str, streamed: bool
) -> None:
    key = await caja.client_key()
    before = await caja.counts()
    data = json.dumps(account_body(owner_full_name="x" * (64 * 1024))).encode()

    response = await caja.http.post(
        f"{V1}{path}",
        content=_chunks(data) if streamed else data,
        headers={**headers(key), "Content-Type": "application/json"},
    )

    assert_error(response, 413, "PayloadTooLarge", "The request body is too large.")
    assert await caja.counts() == before


# --- GET /account/{token} ---------------------------------------------------------------------


async def test_get_account_answers_200_with_the_current_balance(caja: Caja) -> None:
    key = await caja.client_key()
    created = await caja.account(key)
    await caja.fund(created["token"], "2500.5")

    response = await caja.http.get(f"{V1}/account/{created['token']}", headers=headers(key))

    assert response.status_code == 200, response.text
    assert response.json() == {**created, "balance": "2500.50"}


# --- POST /transaction ------------------------------------------------------------------------


async def test_create_transaction_answers_201_with_every_field(caja: Caja) -> None:
    key = await caja.client_key()
    origin, destination = await pair(caja, key)
    body = transfer_body(origin, destination, "1000", description="rent")
    transfers, entries, accounts = await caja.counts()

    response = await caja.transfer(key, body)

    assert response.status_code == 201, response.text
    created = response.json()
    assert created["token"].startswith("tx-")
    assert ISO_UTC.fullmatch(created["date_created"])
    assert created == {
        "token": created["token"],
        "date_created": created["date_created"],
        "origin_account": origin,
        "origin_account_balance": 9000,
        "destination_account": destination,
        "amount": "1000.00",
        "description": "rent",
        "unique_transfer_token": body["unique_transfer_token"],
    }
    assert '"origin_account_balance":9000.00' in response.text
    assert await snapshot(caja, key, origin, destination) == (
        (transfers + 1, entries + 2, accounts),
        ["9000.00", "1000.00"],
    )


@pytest.mark.parametrize(
    ("amount_json", "amount", "balance"),
    [
        ('"1000"', "1000.00", "9000.00"),
        ('"1000.5"', "1000.50", "8999.50"),
        ('"1000.50"', "1000.50", "8999.50"),
        ("1000", "1000.00", "9000.00"),
        ("1000.5", "1000.50", "8999.50"),
    ],
)
async def test_transfer_accepts_the_amount_as_a_string_or_a_json_number(
    caja: Caja, amount_json: str, amount: str, balance: str
) -> None:
    key = await caja.client_key()
    origin, destination = await pair(caja, key)

    response = await post_raw(
        caja, key, "/transaction", with_raw_amount(transfer_body(origin, destination), amount_json)
    )

    assert response.status_code == 201, response.text
    assert response.json()["amount"] == amount
    assert f'"origin_account_balance":{balance}' in response.text
    assert [await caja.balance(key, token) for token in (origin, destination)] == [balance, amount]


async def test_transfer_accepts_a_unique_transfer_token_of_64_characters(caja: Caja) -> None:
    key = await caja.client_key()
    origin, destination = await pair(caja, key)
    utt = "a.b_c:d~e-" + "z" * 54

    response = await caja.transfer(
        key, transfer_body(origin, destination, unique_transfer_token=utt)
    )

    assert response.status_code == 201, response.text
    assert response.json()["unique_transfer_token"] == utt
    stored = await caja.http.get(f"{V1}/transaction/{utt}", headers=headers(key))
    assert stored.json() == response.json()


async def test_replay_with_the_same_body_answers_208_with_the_stored_transaction(
    caja: Caja,
) -> None:
    key = await caja.client_key()
    origin, destination = await pair(caja, key)
    body = transfer_body(origin, destination, "1000")
    first = await transferred(caja, key, body)
    await transferred(caja, key, transfer_body(origin, destination, "500"))
    before = await snapshot(caja, key, origin, destination)

    replay = await caja.transfer(key, body)

    assert replay.status_code == 208, replay.text
    assert replay.json() == first
    assert '"origin_account_balance":9000.00' in replay.text
    assert before == await snapshot(caja, key, origin, destination)
    assert before[1] == ["8500.00", "1500.00"]
    assert (await caja.verify()).ok


async def test_replay_with_the_amount_written_differently_is_the_same_transaction(
    caja: Caja,
) -> None:
    key = await caja.client_key()
    origin, destination = await pair(caja, key)
    body = transfer_body(origin, destination, "1000")
    first = await transferred(caja, key, body)

    replay = await post_raw(caja, key, "/transaction", with_raw_amount(body, "1000.00"))

    assert replay.status_code == 208, replay.text
    assert replay.json() == first
    assert await caja.balance(key, destination) == "1000.00"


async def test_replay_with_another_amount_answers_422_and_moves_nothing(caja: Caja) -> None:
    key = await caja.client_key()
    origin, destination = await pair(caja, key)
    body = transfer_body(origin, destination, "1000")
    await transferred(caja, key, body)
    before = await snapshot(caja, key, origin, destination)

    response = await caja.transfer(key, {**body, "amount": "999"})

    assert_error(
        response,
        422,
        "UniqueTransferTokenReused",
        "The unique_transfer_token was already used for a different transaction; "
        "use a new token for a new transaction.",
    )
    assert await snapshot(caja, key, origin, destination) == before


async def test_transfer_beyond_the_balance_answers_402_and_moves_nothing(caja: Caja) -> None:
    key = await caja.client_key()
    origin, destination = await pair(caja, key, funds="999.99")
    before = await snapshot(caja, key, origin, destination)

    response = await caja.transfer(key, transfer_body(origin, destination, "1000"))

    assert response.status_code == 402, response.text
    assert response.json() == NO_FUNDS
    assert await snapshot(caja, key, origin, destination) == before


async def test_a_refused_transfer_is_not_stored_so_its_token_works_once_funded(
    caja: Caja,
) -> None:
    key = await caja.client_key()
    origin, destination = await pair(caja, key, funds="500")
    body = transfer_body(origin, destination, "1000")
    assert (await caja.transfer(key, body)).status_code == 402
    stored = await caja.http.get(
        f"{V1}/transaction/{body['unique_transfer_token']}", headers=headers(key)
    )
    assert_error(stored, 422, *TRANSACTION_NOT_FOUND)
    await caja.fund(origin, "500")

    response = await caja.transfer(key, body)

    assert response.status_code == 201, response.text
    assert '"origin_account_balance":0.00' in response.text
    assert await caja.balance(key, destination) == "1000.00"


@pytest.mark.parametrize(
    ("amount_json", "code", "message"),
    [
        ('"10.001"', "InvalidData", "amount: must have at most 2 decimals"),
        ('"0"', "InvalidData", "amount: must be greater than zero"),
        ('"-5"', "InvalidData", POSITIVE),
        ('"abc"', "InvalidData", POSITIVE),
        ('""', "InvalidData", POSITIVE),
        ('"1e3"', "InvalidData", POSITIVE),
        ('"1,000.00"', "InvalidData", POSITIVE),
        ("0", "InvalidData", "amount: must be greater than zero"),
        ("-1", "InvalidData", "amount: must be greater than zero"),
        ("1.001", "InvalidData", "amount: must have at most 2 decimals"),
        ("true", "InvalidData", POSITIVE),
        ("null", "InvalidData", POSITIVE),
        ("1e400", "InvalidData", "amount: is too large"),
        ("NaN", "InvalidJSON", "NaN is not a valid JSON number"),
        ("Infinity", "InvalidJSON", "Infinity is not a valid JSON number"),
    ],
)
async def test_transfer_answers_422_to_an_invalid_amount_and_moves_nothing(
    caja: Caja, amount_json: str, code: str, message: str
) -> None:
    key = await caja.client_key()
    origin, destination = await pair(caja, key)
    before = await snapshot(caja, key, origin, destination)

    response = await post_raw(
        caja, key, "/transaction", with_raw_amount(transfer_body(origin, destination), amount_json)
    )

    assert_error(response, 422, code, message)
    assert await snapshot(caja, key, origin, destination) == before


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        pytest.param(
            {"destination_account": ORIGIN},
            "InvalidData",
            "destination_account: must differ from the origin account",
            id="same origin and destination",
        ),
        pytest.param(
            {"origin_account": UNKNOWN},
            "AccountNotFound",
            "The origin_account does not exist.",
            id="unknown origin",
        ),
        pytest.param(
            {"destination_account": UNKNOWN},
            "AccountNotFound",
            "The destination_account does not exist.",
            id="unknown destination",
        ),
        pytest.param(
            {"description": MISSING}, "InvalidData", "description: is required", id="no description"
        ),
        pytest.param(
            {"description": "  "},
            "InvalidData",
            "description: must not be blank",
            id="blank description",
        ),
        pytest.param(
            {"unique_transfer_token": "has spaces"}, "InvalidData", TOKEN_PATTERN, id="utt spaces"
        ),
        pytest.param(
            {"unique_transfer_token": "u" * 65}, "InvalidData", TOKEN_PATTERN, id="utt of 65"
        ),
    ],
)
async def test_transfer_answers_422_to_invalid_data_and_moves_nothing(
    caja: Caja, change: dict[str, Any], code: str, message: str
) -> None:
    key = await caja.client_key()
    origin, destination = await pair(caja, key)
    stand_in = {ORIGIN: origin, UNKNOWN: new_token("acc")}
    body = transfer_body(origin, destination)
    body.update({name: stand_in.get(value, value) for name, value in change.items()})
    before = await snapshot(caja, key, origin, destination)

    response = await caja.transfer(key, without_missing(body))

    assert_error(response, 422, code, message)
    assert await snapshot(caja, key, origin, destination) == before


@pytest.mark.parametrize("field", ["origin_account", "destination_account"])
async def test_transfer_with_another_clients_account_answers_like_an_unknown_account(
    caja: Caja, field: str
) -> None:
    key = await caja.client_key()
    origin, destination = await pair(caja, key)
    other_key = await caja.client_key(name="other")
    theirs, _ = await pair(caja, other_key)
    before = await snapshot(caja, key, origin, destination), await caja.balance(other_key, theirs)

    foreign = await caja.transfer(key, transfer_body(origin, destination, **{field: theirs}))
    unknown = await caja.transfer(
        key, transfer_body(origin, destination, **{field: new_token("acc")})
    )

    assert_error(unknown, 422, "AccountNotFound", f"The {field} does not exist.")
    assert foreign.status_code == 422
    assert foreign.content == unknown.content
    assert before == (
        await snapshot(caja, key, origin, destination),
        await caja.balance(other_key, theirs),
    )


async def test_two_clients_may_use_the_same_unique_transfer_token(caja: Caja) -> None:
    mine = await world(caja)
    other_key = await caja.client_key(name="other")
    origin, destination = await pair(caja, other_key)
    utt = mine.transaction["unique_transfer_token"]

    response = await caja.transfer(
        other_key, transfer_body(origin, destination, "7", unique_transfer_token=utt)
    )

    assert response.status_code == 201, response.text
    assert response.json()["amount"] == "7.00"


# --- GET /transaction/{unique_transfer_token} -------------------------------------------------


async def test_get_transaction_answers_200_with_the_created_transaction(caja: Caja) -> None:
    w = await world(caja)
    await transferred(caja, w.key, transfer_body(w.origin, w.destination, "250"))

    response = await caja.http.get(
        f"{V1}/transaction/{w.transaction['unique_transfer_token']}", headers=headers(w.key)
    )

    assert response.status_code == 200, response.text
    assert response.json() == w.transaction
    assert '"origin_account_balance":9000.00' in response.text


# --- GET /account/{token}/transactions --------------------------------------------------------


async def test_history_lists_the_accounts_movements_newest_first(caja: Caja) -> None:
    key = await caja.client_key()
    origin, destination = await pair(caja, key)
    sent = await transferred(caja, key, transfer_body(origin, destination, "1000"))
    received = await transferred(caja, key, transfer_body(destination, origin, "300"))
    sent_again = await transferred(caja, key, transfer_body(origin, destination, "200"))

    response = await history(caja, key, origin)

    assert response.status_code == 200, response.text
    *transfers, funding = response.json()["transactions"]
    assert transfers == [sent_again, received, sent]
    assert funding["origin_account"] == "sys-funding-cop"
    assert funding["origin_account_balance"] is None
    assert (funding["destination_account"], funding["amount"]) == (origin, "10000.00")
    assert response.json()["next_cursor"] is None
    assert response.text.count('"origin_account_balance":null') == 1


@pytest.mark.parametrize("transfers", [3, 4])
async def test_history_pages_cover_every_movement_once(caja: Caja, transfers: int) -> None:
    key = await caja.client_key()
    origin, destination = await pair(caja, key)
    for _ in range(transfers):
        await transferred(caja, key, transfer_body(origin, destination, "10"))
    everything = [
        item["token"] for item in (await history(caja, key, origin)).json()["transactions"]
    ]
    seen: list[str] = []
    pages = 0
    cursor: str | None = None

    while pages == 0 or cursor is not None:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await history(caja, key, origin, params)).json()
        seen += [item["token"] for item in page["transactions"]]
        cursor = page["next_cursor"]
        pages += 1
        assert pages <= transfers

    assert len(everything) == transfers + 1
    assert seen == everything
    assert pages == (transfers + 2) // 2


@pytest.mark.parametrize("limit", [1, 500])
async def test_history_accepts_limits_from_1_to_500(caja: Caja, limit: int) -> None:
    w = await world(caja)

    response = await history(caja, w.key, w.origin, {"limit": limit})

    assert response.status_code == 200, response.text
    assert len(response.json()["transactions"]) == min(limit, 2)


@pytest.mark.parametrize(
    ("params", "code", "message"),
    [
        ({"limit": 0}, "InvalidData", "limit: Input should be greater than or equal to 1"),
        ({"limit": 501}, "InvalidData", "limit: Input should be less than or equal to 500"),
        (
            {"cursor": "tx-unknown"},
            "InvalidCursor",
            "The cursor is not a transaction of this account.",
        ),
        (
            {"cursor": ELSEWHERE},
            "InvalidCursor",
            "The cursor is not a transaction of this account.",
        ),
    ],
    ids=["limit 0", "limit 501", "unknown cursor", "another account's transaction"],
)
async def test_history_answers_422_to_a_bad_limit_or_cursor(
    caja: Caja, params: dict[str, Any], code: str, message: str
) -> None:
    w = await world(caja)
    third = (await caja.account(w.key))["token"]
    elsewhere = await transferred(caja, w.key, transfer_body(w.destination, third, "1"))
    query = {
        name: elsewhere["token"] if value is ELSEWHERE else value for name, value in params.items()
    }

    response = await history(caja, w.key, w.origin, query)

    assert_error(response, 422, code, message)


async def test_a_full_page_of_500_still_points_to_the_older_ones(caja: Caja) -> None:
    key = await caja.client_key("ledger:admin")
    origin = (await caja.account(key))["token"]
    destination = (await caja.account(key))["token"]
    principal = await authenticate(caja.database, key)
    assert principal is not None
    debit = (await get_account(caja.database, principal.client_id, origin)).account.id
    credit = (await get_account(caja.database, principal.client_id, destination)).account.id
    await caja.fund(origin, "1000.00")
    moves = [
        NewTransfer(debit_account_id=debit, credit_account_id=credit, amount_minor=1)
        for _ in range(500)
    ]
    assert all(result.error is None for result in await engine.post(caja.database, moves))
    headers = {"X-Account-api-key": key}

    first = await caja.http.get(f"{V1}/account/{origin}/transactions?limit=500", headers=headers)
    cursor = first.json()["next_cursor"]
    rest = await caja.http.get(
        f"{V1}/account/{origin}/transactions?limit=500&cursor={cursor}", headers=headers
    )

    assert len(first.json()["transactions"]) == 500
    assert cursor is not None
    assert [item["amount"] for item in rest.json()["transactions"]] == ["1000.00"]
    assert rest.json()["next_cursor"] is None


async def test_account_creation_whose_commit_fails_answers_503_and_creates_nothing(
    caja: Caja,
) -> None:
    key = await caja.client_key("ledger:admin")
    body = account_body()
    before = await caja.counts()

    def fail(_connection: Any) -> None:
        raise RuntimeError("injected commit failure")

    with listening(caja.database, "commit", fail):
        failed = await caja.http.post(f"{V1}/account", json=body, headers=headers(key))
    after_failure = await caja.counts()
    retried = await caja.http.post(f"{V1}/account", json=body, headers=headers(key))
    again = await caja.http.post(f"{V1}/account", json=body, headers=headers(key))

    assert_error(failed, 503, *UNAVAILABLE)
    assert after_failure == before
    assert retried.status_code == 201
    assert again.status_code == 200
    assert again.json()["token"] == retried.json()["token"]
    assert (await caja.counts())[2] == before[2] + 1
