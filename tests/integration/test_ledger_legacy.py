"""The legacy ledger surface, ``/api/ledger/v0``, over HTTP (header ``Authorization``)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.sql import Select

from caja.clients.service import create_client, revoke_client
from caja.customers.tables import owners
from caja.db.engine import Database
from caja.ledger.tables import accounts, transfers
from tests.helpers import V0, Caja, account_body, listening

pytestmark = pytest.mark.anyio

_tokens = itertools.count(1)
MISSING = object()
UNKNOWN_PHONE = "+19995550000"
TRANSACTION_FIELDS = {
    "token",
    "date_created",
    "origin_account",
    "origin_account_balance",
    "destination_account",
    "amount",
    "description",
    "unique_transfer_token",
}


def auth(key: str | None) -> dict[str, str]:
    return {} if key is None else {"Authorization": key}


def assert_error(response: httpx.Response, status: int, code: str, message: str = "") -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message"}, body
    assert body["code"] == code
    assert body["message"]
    if message:
        assert body["message"] == message


def legacy_transfer(phone: str, amount: Any = "100.00", **overrides: Any) -> dict[str, Any]:
    body = {
        "destination_phone_number": phone,
        "amount": amount,
        "description": "lunch",
        "unique_transfer_token": f"legacy-{next(_tokens)}",
    }
    body.update(overrides)
    return {name: value for name, value in body.items() if value is not MISSING}


async def rows(database: Database, table: Any) -> int:
    query: Select[Any] = select(func.count()).select_from(table)
    async with database.read() as connection:
        return int((await connection.execute(query)).scalar_one())


@contextmanager
def failing_commits(database: Database) -> Iterator[None]:
    def fail(conn: Any) -> None:
        raise RuntimeError("injected commit failure")

    with listening(database, "commit", fail):
        yield


@contextmanager
def failing_reads(database: Database, marker: str) -> Iterator[None]:
    """Every statement whose SQL contains ``marker`` fails as a lost connection would."""

    def fail(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        if marker in statement:
            raise OperationalError("SELECT 1", {}, Exception("injected"))

    event.listen(database.engine.sync_engine, "before_cursor_execute", fail)
    try:
        yield
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", fail)


@pytest.fixture(autouse=True)
async def ledger_stays_consistent(caja: Caja) -> AsyncIterator[None]:
    yield
    report = await caja.verify()
    assert report.ok, [check for check in report.checks if check.violations]


@pytest.fixture
async def admin_key(caja: Caja) -> str:
    return await caja.client_key("ledger:admin")


async def create_account(caja: Caja, key: str, **overrides: Any) -> httpx.Response:
    return await caja.http.post(f"{V0}/account", json=account_body(**overrides), headers=auth(key))


@dataclass
class Holder:
    account: dict[str, Any]
    key: str

    @property
    def token(self) -> str:
        return str(self.account["token"])

    @property
    def phone(self) -> str:
        return str(self.account["phone_number"])


async def new_holder(caja: Caja, admin_key: str) -> Holder:
    response = await create_account(caja, admin_key)
    assert response.status_code == 201, response.text
    return Holder(response.json(), response.json()["api_key"])


async def balance(caja: Caja, holder: Holder) -> str:
    response = await caja.http.get(f"{V0}/my/balance", headers=auth(holder.key))
    assert response.status_code == 200, response.text
    return str(response.json()["balance"])


async def send(caja: Caja, key: str | None, body: dict[str, Any]) -> httpx.Response:
    return await caja.http.post(f"{V0}/my/transfer", json=body, headers=auth(key))


@pytest.fixture
async def sender(caja: Caja, admin_key: str) -> Holder:
    holder = await new_holder(caja, admin_key)
    await caja.fund(holder.token, "500.00")
    return holder


@pytest.fixture
async def receiver(caja: Caja, admin_key: str) -> Holder:
    return await new_holder(caja, admin_key)


# POST /account


async def test_create_account_returns_the_account_and_its_own_key(
    caja: Caja, admin_key: str
) -> None:
    body = account_body()
    response = await caja.http.post(f"{V0}/account", json=body, headers=auth(admin_key))

    assert response.status_code == 201, response.text
    created = response.json()
    assert created["api_key"].startswith("ak-")
    assert created["token"].startswith("acc-")
    assert created["phone_number"] == body["phone_number"]
    assert created["balance"] == "0.00"
    assert created["owner"]["legal_id_number"] == body["owner_legal_id_number"]
    assert created["owner"]["email"] == body["owner_email"]
    mine = await caja.http.get(f"{V0}/my/balance", headers=auth(created["api_key"]))
    assert mine.json()["token"] == created["token"]


async def test_same_owner_and_phone_returns_the_existing_account_without_key(
    caja: Caja, admin_key: str
) -> None:
    body = account_body()
    first = await caja.http.post(f"{V0}/account", json=body, headers=auth(admin_key))
    before = await rows(caja.database, accounts)

    again = await caja.http.post(f"{V0}/account", json=body, headers=auth(admin_key))

    assert again.status_code == 200, again.text
    assert again.json() == {**first.json(), "api_key": None}
    assert await rows(caja.database, accounts) == before


async def test_owner_with_another_phone_is_406(caja: Caja, admin_key: str) -> None:
    first = account_body()
    await caja.http.post(f"{V0}/account", json=first, headers=auth(admin_key))
    response = await create_account(
        caja, admin_key, owner_legal_id_number=first["owner_legal_id_number"]
    )

    assert_error(response, 406, "OwnerHasAnotherAccount")


async def test_phone_of_another_owner_is_409(caja: Caja, admin_key: str) -> None:
    first = await create_account(caja, admin_key)
    response = await create_account(caja, admin_key, phone_number=first.json()["phone_number"])

    assert_error(response, 409, "PhoneNumberTaken")


@pytest.mark.parametrize("key", [None, "ck-unknown"], ids=["missing", "unknown"])
async def test_account_creation_without_a_valid_key_is_401(caja: Caja, key: str | None) -> None:
    response = await caja.http.post(f"{V0}/account", json=account_body(), headers=auth(key))

    assert_error(response, 401, "Unauthorized")


@pytest.mark.parametrize("caller", ["client without ledger:admin", "account key"])
async def test_account_creation_without_admin_permission_is_403(
    caja: Caja, admin_key: str, caller: str
) -> None:
    if caller == "account key":
        key = (await new_holder(caja, admin_key)).key
    else:
        key = await caja.client_key("ledger")
    before = await rows(caja.database, accounts)

    response = await create_account(caja, key)

    assert_error(response, 403, "Forbidden")
    assert await rows(caja.database, accounts) == before


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("phone_number", MISSING),
        ("owner_email", MISSING),
        ("phone_number", "3001234567"),
        ("owner_email", "not-an-email"),
    ],
    ids=["missing phone", "missing email", "bad phone", "bad email"],
)
async def test_invalid_account_data_is_422(
    caja: Caja, admin_key: str, field: str, value: object
) -> None:
    body = account_body(**{field: value})
    body = {name: item for name, item in body.items() if item is not MISSING}

    response = await caja.http.post(f"{V0}/account", json=body, headers=auth(admin_key))

    assert_error(response, 422, "InvalidData")
    assert field in response.json()["message"]


async def test_account_commit_failure_is_503_creates_nothing_and_can_be_retried(
    caja: Caja, admin_key: str
) -> None:
    body = account_body()
    before = (await rows(caja.database, accounts), await rows(caja.database, owners))

    with failing_commits(caja.database):
        response = await caja.http.post(f"{V0}/account", json=body, headers=auth(admin_key))

    assert_error(response, 503, "TemporarilyUnavailable")
    assert (await rows(caja.database, accounts), await rows(caja.database, owners)) == before
    retry = await caja.http.post(f"{V0}/account", json=body, headers=auth(admin_key))
    assert retry.status_code == 201, retry.text
    assert retry.json()["api_key"].startswith("ak-")


# GET /my/balance


async def test_my_balance_shows_my_account_and_follows_funding(
    caja: Caja, receiver: Holder
) -> None:
    response = await caja.http.get(f"{V0}/my/balance", headers=auth(receiver.key))

    assert response.status_code == 200, response.text
    assert response.json()["token"] == receiver.token
    assert response.json()["balance"] == "0.00"
    await caja.fund(receiver.token, "500.00")
    assert await balance(caja, receiver) == "500.00"


@pytest.mark.parametrize("key", [None, "ak-unknown"], ids=["missing", "unknown"])
async def test_my_balance_without_a_valid_key_is_401(caja: Caja, key: str | None) -> None:
    response = await caja.http.get(f"{V0}/my/balance", headers=auth(key))

    assert_error(response, 401, "Unauthorized")


async def test_account_keys_of_a_revoked_client_are_401(caja: Caja) -> None:
    client = await create_client(caja.database, "revoked", ["ledger:admin"])
    holder = await new_holder(caja, client.api_key)
    assert await balance(caja, holder) == "0.00"

    await revoke_client(caja.database, client.client_id)

    response = await caja.http.get(f"{V0}/my/balance", headers=auth(holder.key))
    assert_error(response, 401, "Unauthorized")


async def test_my_balance_with_the_client_key_is_403(caja: Caja, admin_key: str) -> None:
    response = await caja.http.get(f"{V0}/my/balance", headers=auth(admin_key))

    assert_error(response, 403, "Forbidden")


@pytest.mark.parametrize(
    "marker", ["api_keys", "owners"], ids=["while authenticating", "while reading the account"]
)
async def test_my_balance_read_failure_is_503(caja: Caja, receiver: Holder, marker: str) -> None:
    with failing_reads(caja.database, marker):
        response = await caja.http.get(f"{V0}/my/balance", headers=auth(receiver.key))

    assert_error(response, 503, "TemporarilyUnavailable")


# POST /my/transfer


async def test_transfer_moves_money_from_my_account_to_the_phone_owner(
    caja: Caja, sender: Holder, receiver: Holder
) -> None:
    body = legacy_transfer(receiver.phone, "100.00")
    response = await send(caja, sender.key, body)

    assert response.status_code == 201, response.text
    sent = response.json()
    assert set(sent) == TRANSACTION_FIELDS
    assert sent["token"].startswith("tx-")
    assert sent["origin_account"] == sender.token
    assert sent["destination_account"] == receiver.token
    assert sent["amount"] == "100.00"
    assert sent["description"] == "lunch"
    assert sent["unique_transfer_token"] == body["unique_transfer_token"]
    assert sent["origin_account_balance"] == 400
    assert '"origin_account_balance":400.00' in response.text
    assert await balance(caja, sender) == "400.00"
    assert await balance(caja, receiver) == "100.00"


async def test_replay_with_the_same_token_is_208_and_moves_once(
    caja: Caja, sender: Holder, receiver: Holder
) -> None:
    body = legacy_transfer(receiver.phone, "100.00")
    first = await send(caja, sender.key, body)
    replay = await send(caja, sender.key, body)

    assert first.status_code == 201, first.text
    assert replay.status_code == 208, replay.text
    assert replay.json() == first.json()
    assert await balance(caja, sender) == "400.00"
    assert await balance(caja, receiver) == "100.00"


async def test_same_token_with_a_different_body_is_422(
    caja: Caja, sender: Holder, receiver: Holder
) -> None:
    body = legacy_transfer(receiver.phone, "100.00")
    await send(caja, sender.key, body)

    response = await send(caja, sender.key, {**body, "amount": "200.00"})

    assert_error(response, 422, "UniqueTransferTokenReused")
    assert await balance(caja, sender) == "400.00"


async def test_transfer_without_funds_is_402_and_moves_nothing(
    caja: Caja, sender: Holder, receiver: Holder
) -> None:
    response = await send(caja, sender.key, legacy_transfer(receiver.phone, "500.01"))

    assert response.status_code == 402, response.text
    assert response.json() == {
        "code": "NoFunds",
        "message": "Not enough funds in the origin_account.",
    }
    assert await balance(caja, sender) == "500.00"
    assert await balance(caja, receiver) == "0.00"


async def test_transfer_with_the_client_key_is_403(
    caja: Caja, admin_key: str, sender: Holder, receiver: Holder
) -> None:
    response = await send(caja, admin_key, legacy_transfer(receiver.phone))

    assert_error(response, 403, "Forbidden")
    assert await balance(caja, receiver) == "0.00"


@pytest.mark.parametrize("key", [None, "ak-unknown"], ids=["missing", "unknown"])
async def test_transfer_without_a_valid_key_is_401(
    caja: Caja, receiver: Holder, key: str | None
) -> None:
    response = await send(caja, key, legacy_transfer(receiver.phone))

    assert_error(response, 401, "Unauthorized")


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        pytest.param({"amount": "1.001"}, "InvalidData", id="three decimals"),
        pytest.param({"amount": "-1"}, "InvalidData", id="negative"),
        pytest.param({"amount": 0}, "InvalidData", id="zero"),
        pytest.param({"destination_phone_number": UNKNOWN_PHONE}, "AccountNotFound", id="unknown"),
        pytest.param({"destination_phone_number": "12345"}, "InvalidData", id="bad phone"),
        pytest.param({"destination_phone_number": MISSING}, "InvalidData", id="missing phone"),
        pytest.param({"amount": MISSING}, "InvalidData", id="missing amount"),
        pytest.param({"description": MISSING}, "InvalidData", id="missing description"),
        pytest.param({"unique_transfer_token": MISSING}, "InvalidData", id="missing token"),
    ],
)
async def test_invalid_transfer_is_422_and_moves_nothing(
    caja: Caja, sender: Holder, receiver: Holder, overrides: dict[str, Any], code: str
) -> None:
    response = await send(caja, sender.key, legacy_transfer(receiver.phone, **overrides))

    assert_error(response, 422, code)
    assert await balance(caja, sender) == "500.00"


async def test_transfer_to_my_own_phone_is_422(caja: Caja, sender: Holder) -> None:
    response = await send(caja, sender.key, legacy_transfer(sender.phone))

    assert_error(response, 422, "InvalidData")
    assert await balance(caja, sender) == "500.00"


async def test_phone_of_another_clients_account_looks_unknown(caja: Caja, sender: Holder) -> None:
    other_admin = await caja.client_key("ledger:admin", name="other")
    stranger = await new_holder(caja, other_admin)

    theirs = await send(caja, sender.key, legacy_transfer(stranger.phone))
    unknown = await send(caja, sender.key, legacy_transfer(UNKNOWN_PHONE))

    assert_error(theirs, 422, "AccountNotFound")
    assert theirs.json() == unknown.json()
    assert await balance(caja, stranger) == "0.00"


async def test_transfer_commit_failure_is_503_moves_nothing_and_retry_posts_once(
    caja: Caja, sender: Holder, receiver: Holder
) -> None:
    body = legacy_transfer(receiver.phone, "100.00")
    before = await rows(caja.database, transfers)

    with failing_commits(caja.database):
        response = await send(caja, sender.key, body)

    assert_error(response, 503, "TemporarilyUnavailable")
    assert await rows(caja.database, transfers) == before
    assert await balance(caja, sender) == "500.00"
    retry = await send(caja, sender.key, body)
    again = await send(caja, sender.key, body)
    assert (retry.status_code, again.status_code) == (201, 208), retry.text
    assert await rows(caja.database, transfers) == before + 1
    assert await balance(caja, receiver) == "100.00"


async def test_each_account_key_has_its_own_transfer_tokens(
    caja: Caja, sender: Holder, receiver: Holder
) -> None:
    await caja.fund(receiver.token, "500.00")
    body = legacy_transfer(receiver.phone, "100.00", unique_transfer_token="shared-token")

    first = await send(caja, sender.key, body)
    second = await send(
        caja, receiver.key, {**body, "destination_phone_number": sender.phone, "amount": "30.00"}
    )

    assert (first.status_code, second.status_code) == (201, 201), second.text
    assert first.json()["token"] != second.json()["token"]
    assert await balance(caja, sender) == "430.00"
    assert await balance(caja, receiver) == "570.00"
