"""The top-up gateway over HTTP: every endpoint, test number and example error of the seed."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote

import anyio
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

from caja.app import services_of
from caja.clients.service import revoke_client
from caja.clients.tables import clients
from caja.core.clock import BOGOTA
from caja.db.engine import Database
from caja.ledger.accounts import AccountKind
from caja.ledger.tables import accounts
from caja.providers.operator import Answer, OperatorGateway, PurchaseRequest
from caja.topups.catalog import set_enabled
from caja.topups.tables import purchases
from tests.gateway import GATEWAY, GATEWAY_ALIAS, Merchant, basic, merchant, topup_body
from tests.helpers import Caja, listening

pytestmark = pytest.mark.anyio

MISSING = object()  # a body field left out
NO_VALUE = object()  # an error body without "value"
AS_SENT = object()  # the error shows the value of the one field the case sets

UNAUTHORIZED = {"error_message": "Invalid authorization token was provided."}
FORBIDDEN = {
    "error_message": "You do not have enough permissions to perform this action, "
    "please contact the support team."
}
UNAVAILABLE = {
    "error_message": "Temporary failure, nothing was changed; it is safe to retry the request."
}
NO_FUNDS = {
    "error_message": "You have no funds. Please top up your account and contact our support "
    "team to keep operating. Thank you."
}
SIMULTANEOUS = (
    "Eally simultaneous top up request, skipping this one or top up request already answered"
)
UNKNOWN_STATUS = "Failure when performing mobile top up - top up in unknown status"
OPERATOR_ERROR = "There was an internal error at the operator; the purchase is in process."
REJECTED = "The buy was rejected"
ALREADY = "Ya existe un/a topup transaction con este/a idempotency token."
REQUIRED = "Este campo es requerido."
NULL = "Este campo no puede ser nulo."
BLANK = "Este campo no puede estar en blanco."
PATTERN = "Este valor no coincide con el patrón requerido."
INTEGER = "Se requiere un número entero válido."
DATE_FORMAT = (
    "Fecha con formato erróneo. Use uno de los siguientes formatos en su lugar: YYYY-MM-DD."
)
TOO_SMALL = "El monto de la recarga no puede ser menor a 1000.00."
TOO_BIG = "El monto de la recarga no puede ser mayor a 100000.00."
TOO_LONG = "Asegúrese de que este campo no tenga más de {} caracteres."
AT_LEAST_1 = "Asegúrese de que este valor sea mayor o igual a 1."
AT_MOST_1000 = "Asegúrese de que este valor sea menor o igual a 1000."
NOT_AN_OBJECT = {
    "error_message": "El cuerpo de la solicitud debe ser un objeto JSON válido.",
    "field": "non_field_errors",
}

TOPUP_FIELDS = {
    "token",
    "idempotency_token",
    "destination_number",
    "service_provider",
    "amount",
    "payment_token",
    "payment_origin",
    "route",
    "external_gateway_auth_code",
    "gateway_topup_token",
    "status",
    "result_code",
    "date_created",
}
HISTORY_FIELDS = {
    "idempotency_token",
    "destination_number",
    "service_provider",
    "amount",
    "payment_origin",
    "status",
    "date_created",
    "created_at",
}
DATE_CREATED = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
OPERATORS = [
    ("movistar", "Movistar"),
    ("claro-movil", "Claro Móvil"),
    ("avantel", "Avantel"),
    ("uff-movil", "Uff Móvil"),
    ("etb", "ETB"),
    ("tigo", "Tigo"),
]


# --- small helpers ---------------------------------------------------------------------------


def bogota_today() -> date:
    return datetime.now(BOGOTA).date()


async def post_topup(
    http: httpx.AsyncClient, who: Merchant, body: dict[str, Any], prefix: str = GATEWAY
) -> httpx.Response:
    sent = {name: value for name, value in body.items() if value is not MISSING}
    return await http.post(f"{prefix}/topup_account", json=sent, headers=who.headers)


async def post_raw(http: httpx.AsyncClient, who: Merchant, content: str) -> httpx.Response:
    return await http.post(
        f"{GATEWAY}/topup_account",
        content=content,
        headers={**who.headers, "Content-Type": "application/json"},
    )


async def bought(http: httpx.AsyncClient, who: Merchant, **overrides: Any) -> dict[str, Any]:
    """An authorized top-up (3110001111 unless overridden) and its JSON."""
    response = await post_topup(http, who, topup_body(**overrides))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def get_topup(
    http: httpx.AsyncClient, who: Merchant, token: str, prefix: str = GATEWAY
) -> httpx.Response:
    return await http.get(f"{prefix}/topup_account/{token}", headers=who.headers)


async def history(
    http: httpx.AsyncClient, who: Merchant, params: dict[str, Any] | None = None
) -> httpx.Response:
    return await http.get(
        f"{GATEWAY}/topup_account/transactions", params=params, headers=who.headers
    )


async def listed(
    http: httpx.AsyncClient, who: Merchant, params: dict[str, Any] | None = None
) -> tuple[int, list[str]]:
    """The history's count and the idempotency tokens of its page."""
    response = await history(http, who, params)
    assert response.status_code == 200, response.text
    body = response.json()
    return body["count"], [item["idempotency_token"] for item in body["transactions"]]


async def balance(http: httpx.AsyncClient, who: Merchant) -> dict[str, Any]:
    response = await http.get(f"{GATEWAY}/merchant/balance", headers=who.headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def available(http: httpx.AsyncClient, who: Merchant) -> int:
    found: int = (await balance(http, who))["balance"]
    return found


async def ledger(database: Database, who: Merchant) -> tuple[int, int]:
    """The merchant account's ledger balance and held amount, in pesos."""
    async with database.read() as connection:
        row = (
            await connection.execute(
                select(accounts.c.balance_minor, accounts.c.pending_out_minor)
                .join(clients, clients.c.id == accounts.c.client_id)
                .where(clients.c.token == who.client_id, accounts.c.kind == AccountKind.MERCHANT)
            )
        ).one()
    return row.balance_minor // 100, row.pending_out_minor // 100


async def snapshot(caja: Caja, who: Merchant) -> tuple[Any, ...]:
    """Ledger rows, purchases and the merchant's balance: what a refused request must not
    change."""
    async with caja.database.read() as connection:
        stored = (
            await connection.execute(select(func.count()).select_from(purchases))
        ).scalar_one()
    return await caja.counts(), stored, await balance(caja.http, who)


def assert_invalid(
    response: httpx.Response, field: str, message: str, value: Any = NO_VALUE
) -> None:
    assert response.status_code == 422, response.text
    expected: dict[str, Any] = {"error_message": message, "field": field}
    if value is not NO_VALUE:
        expected["value"] = value
    assert response.json() == expected


def bad(case_id: str, sent: dict[str, Any], field: str, message: str, value: Any = AS_SENT) -> Any:
    """A parametrize case: what is sent, and the 422 body's field, message and value."""
    if value is AS_SENT:
        [value] = sent.values()
    return pytest.param(sent, field, message, value, id=case_id)


class Gate:
    """An operator gateway that holds every purchase until released."""

    def __init__(self, inner: OperatorGateway) -> None:
        self.inner = inner
        self.entered = anyio.Event()
        self.release = anyio.Event()

    async def send(self, request: PurchaseRequest) -> Answer:
        self.entered.set()
        await self.release.wait()
        return await self.inner.send(request)

    async def status(self, reference: str) -> Answer:
        return await self.inner.status(reference)

    async def close(self) -> None:
        await self.inner.close()


# --- the seed's test numbers -----------------------------------------------------------------


@dataclass(frozen=True)
class Number:
    number: str
    http: int
    status: str
    error_message: str | None
    result_code: int | None
    operator_answered: bool  # the operator's reference is known
    money: str  # gone (paid), held (open purchase) or back (voided)


NUMBERS = [
    Number("3110001111", 200, "authorized", None, 0, True, "gone"),
    Number("3110002222", 502, "unknown", UNKNOWN_STATUS, None, False, "held"),
    Number("3110003333", 500, "in_progress", OPERATOR_ERROR, None, False, "held"),
    Number("3110004444", 409, "in_progress", SIMULTANEOUS, 2, True, "held"),
    Number("3110005555", 503, "rejected", REJECTED, 5, True, "back"),
    Number("3001234567", 200, "authorized", None, 0, True, "gone"),  # any other number
    Number("573001234567", 200, "authorized", None, 0, True, "gone"),  # 12 digits
]
# (available, ledger balance, held) after a 2000 purchase from 10000
MONEY_AFTER = {"gone": (8000, 8000, 0), "held": (8000, 10000, 2000), "back": (10000, 10000, 0)}


@pytest.mark.parametrize("case", NUMBERS, ids=[case.number for case in NUMBERS])
async def test_each_test_number_gives_its_code_status_and_balance(
    caja: Caja, http: httpx.AsyncClient, database: Database, case: Number
) -> None:
    who = await merchant(database, funds=10000)
    body = topup_body(case.number, amount=2000, service_provider="tigo")
    day_before = bogota_today()

    response = await post_topup(http, who, body)

    day_after = bogota_today()
    assert response.status_code == case.http, response.text
    answer = response.json()
    message = {"error_message": case.error_message} if case.error_message else {}
    assert set(answer) == TOPUP_FIELDS | set(message)
    assert answer["token"].startswith("topup-")
    assert {name: answer[name] for name in body} == body
    assert answer["route"] == "MOVILRED"
    assert answer["status"] == case.status
    assert answer["result_code"] == case.result_code
    assert {name: answer[name] for name in message} == message
    if case.status == "authorized":
        assert isinstance(answer["external_gateway_auth_code"], str)
        assert answer["external_gateway_auth_code"]
    else:
        assert answer["external_gateway_auth_code"] is None
    if case.operator_answered:
        assert isinstance(answer["gateway_topup_token"], str)
        assert answer["gateway_topup_token"]
    else:
        assert answer["gateway_topup_token"] is None
    assert DATE_CREATED.fullmatch(answer["date_created"])
    assert date.fromisoformat(answer["date_created"][:10]) in {day_before, day_after}

    spendable, ledger_balance, held = MONEY_AFTER[case.money]
    assert await balance(http, who) == {"balance": spendable, "max_loan_amount": 0}
    assert await ledger(database, who) == (ledger_balance, held)

    stored = await get_topup(http, who, body["idempotency_token"])
    assert stored.status_code == 200, stored.text
    assert stored.json() == {name: answer[name] for name in TOPUP_FIELDS}
    count, tokens = await listed(http, who)
    assert (count, tokens) == (1, [body["idempotency_token"]])
    assert (await caja.verify()).ok


async def test_every_outcome_together_keeps_the_ledger_consistent(
    caja: Caja, http: httpx.AsyncClient, database: Database
) -> None:
    who = await merchant(database, funds=20000, max_loan=5000)

    codes = [
        (await post_topup(http, who, topup_body(case.number, amount=3000))).status_code
        for case in NUMBERS
    ]

    assert codes == [case.http for case in NUMBERS]
    gone = sum(3000 for case in NUMBERS if case.money == "gone")
    held = sum(3000 for case in NUMBERS if case.money == "held")
    assert await ledger(database, who) == (20000 - gone, held)
    assert await balance(http, who) == {
        "balance": 20000 - gone - held,
        "max_loan_amount": 5000,
    }
    assert (await listed(http, who))[0] == len(NUMBERS)
    assert (await caja.verify()).ok


# --- the seed's example errors, and other bad bodies ----------------------------------------

INVALID = [
    # the seed's example errors
    bad("unknown-operator", {"service_provider": "invalid-operator"}, "service_provider",
        "Objeto con slug=invalid-operator no existe."),
    bad("blank-destination", {"destination_number": ""}, "destination_number",
        "Este campo no puede estar en blanco"),
    bad("8-digits", {"destination_number": "09516588"}, "mobile_number", PATTERN),
    bad("blank-payment-token", {"payment_token": ""}, "payment_token", BLANK),
    bad("blank-payment-origin", {"payment_origin": ""}, "payment_origin", BLANK),
    bad("amount-600", {"amount": 600}, "amount", TOO_SMALL),
    bad("amount-110000", {"amount": 110000}, "amount", TOO_BIG),
    bad("amount-6548", {"amount": 6548}, "amount",
        "Ensure the given value (6548) is divisible by 100."),
    # more of the same kinds
    bad("spaces-destination", {"destination_number": "   "}, "destination_number",
        "Este campo no puede estar en blanco", ""),
    bad("11-digits", {"destination_number": "31100011112"}, "mobile_number", PATTERN),
    bad("letter", {"destination_number": "311000111a"}, "mobile_number", PATTERN),
    bad("plus-sign", {"destination_number": "+573110001111"}, "mobile_number", PATTERN),
    bad("blank-token", {"idempotency_token": " "}, "idempotency_token", BLANK, ""),
    bad("blank-operator", {"service_provider": ""}, "service_provider", BLANK),
    bad("amount-900", {"amount": 900}, "amount", TOO_SMALL),
    bad("amount-negative", {"amount": -1000}, "amount", TOO_SMALL),
    bad("amount-100100", {"amount": 100100}, "amount", TOO_BIG),
    # not whole numbers
    bad("amount-fraction", {"amount": 1000.5}, "amount", INTEGER),
    bad("amount-text", {"amount": "abc"}, "amount", INTEGER),
    bad("amount-text-fraction", {"amount": "1000.5"}, "amount", INTEGER),
    bad("amount-true", {"amount": True}, "amount", INTEGER),
    bad("amount-list", {"amount": [1000]}, "amount", INTEGER),
    bad("amount-list-fraction", {"amount": [1.5]}, "amount", INTEGER),
    # too long, or not text
    bad("long-idempotency-token", {"idempotency_token": "t" * 129}, "idempotency_token",
        TOO_LONG.format(128)),
    bad("long-payment-token", {"payment_token": "p" * 65}, "payment_token", TOO_LONG.format(64)),
    bad("long-payment-origin", {"payment_origin": "o" * 256}, "payment_origin",
        TOO_LONG.format(255)),
    bad("long-destination", {"destination_number": "3" * 21}, "destination_number",
        TOO_LONG.format(20)),
    bad("destination-list", {"destination_number": ["3110001111"]}, "destination_number",
        "No es una cadena válida."),
    # missing or null
    *(bad(f"missing-{name}", {name: MISSING}, name, REQUIRED, NO_VALUE) for name in topup_body()),
    *(
        bad(f"null-{name}", {name: None}, name, NULL)
        for name in ("amount", "idempotency_token", "destination_number")
    ),
]  # fmt: skip


@pytest.mark.parametrize(("overrides", "field", "message", "value"), INVALID)
async def test_an_invalid_topup_answers_422_and_leaves_no_trace(
    caja: Caja,
    http: httpx.AsyncClient,
    database: Database,
    overrides: dict[str, Any],
    field: str,
    message: str,
    value: Any,
) -> None:
    who = await merchant(database, funds=10000)
    await bought(http, who)
    before = await snapshot(caja, who)

    response = await post_topup(http, who, topup_body(**overrides))

    assert_invalid(response, field, message, value)
    assert await snapshot(caja, who) == before


async def test_a_huge_integer_amount_is_refused_and_shown_back_exactly(
    caja: Caja, http: httpx.AsyncClient, database: Database
) -> None:
    who = await merchant(database, funds=10000)
    before = await snapshot(caja, who)
    body = topup_body()
    body.pop("amount")
    huge = 10**30  # past what a 64-bit integer holds

    response = await post_raw(http, who, json.dumps(body)[:-1] + f', "amount": {huge}}}')

    assert_invalid(response, "amount", TOO_BIG, huge)
    assert await snapshot(caja, who) == before


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("[]", NOT_AN_OBJECT),
        ('"topup"', NOT_AN_OBJECT),
        ("1000", NOT_AN_OBJECT),
        ("null", NOT_AN_OBJECT),
        ("not json", NOT_AN_OBJECT),
        ("", NOT_AN_OBJECT),
        ('{"amount": 1000', NOT_AN_OBJECT),
        ('{"amount": NaN}', NOT_AN_OBJECT),
    ],
)
async def test_a_body_that_is_not_a_json_object_answers_422(
    caja: Caja, http: httpx.AsyncClient, database: Database, content: str, expected: Any
) -> None:
    who = await merchant(database, funds=10000)
    before = await snapshot(caja, who)

    response = await post_raw(http, who, content)

    assert response.status_code == 422, response.text
    assert response.json() == expected
    assert await snapshot(caja, who) == before


@pytest.mark.parametrize(
    ("name", "length"),
    [("idempotency_token", 128), ("payment_token", 64), ("payment_origin", 255)],
)
async def test_fields_at_their_maximum_length_are_accepted(
    http: httpx.AsyncClient, database: Database, name: str, length: int
) -> None:
    who = await merchant(database, funds=10000)

    answer = await bought(http, who, **{name: "x" * length})

    assert answer[name] == "x" * length
    assert (await get_topup(http, who, answer["idempotency_token"])).json()[name] == "x" * length


@pytest.mark.parametrize(
    ("amount", "stored"),
    [(1000, 1000), (100000, 100000), (5500, 5500), ("2000", 2000), (3000.0, 3000)],
)
async def test_amounts_within_the_limits_are_accepted(
    http: httpx.AsyncClient, database: Database, amount: Any, stored: int
) -> None:
    who = await merchant(database, funds=100000)

    answer = await bought(http, who, amount=amount)

    assert answer["amount"] == stored
    assert await available(http, who) == 100000 - stored


async def test_a_disabled_operator_answers_like_an_unknown_one_and_leaves_the_list(
    caja: Caja, http: httpx.AsyncClient, database: Database
) -> None:
    who = await merchant(database, funds=10000)
    await set_enabled(database, "operators", "etb", False)
    before = await snapshot(caja, who)

    refused = await post_topup(http, who, topup_body(service_provider="etb"))

    assert_invalid(refused, "service_provider", "Objeto con slug=etb no existe.", "etb")
    assert await snapshot(caja, who) == before
    providers = await http.get(f"{GATEWAY}/service_providers", headers=who.headers)
    assert "etb" not in [item["slug"] for item in providers.json()["service_providers"]]
    assert (await bought(http, who, service_provider="tigo"))["service_provider"] == "tigo"

    await set_enabled(database, "operators", "etb", True)

    assert (await bought(http, who, service_provider="etb"))["service_provider"] == "etb"


@pytest.mark.parametrize("case", NUMBERS[:5], ids=[case.number for case in NUMBERS[:5]])
async def test_reusing_the_idempotency_token_of_a_finished_purchase_answers_422(
    caja: Caja, http: httpx.AsyncClient, database: Database, case: Number
) -> None:
    who = await merchant(database, funds=10000)
    body = topup_body(case.number, amount=2000)
    assert (await post_topup(http, who, body)).status_code == case.http
    first = (await get_topup(http, who, body["idempotency_token"])).json()
    before = await snapshot(caja, who)

    again = await post_topup(http, who, body)
    changed = await post_topup(http, who, {**body, "destination_number": "3001234567"})

    for response in (again, changed):
        assert_invalid(response, "idempotency_token", ALREADY, body["idempotency_token"])
    assert await snapshot(caja, who) == before
    assert (await get_topup(http, who, body["idempotency_token"])).json() == first
    assert (await caja.verify()).ok


async def test_a_request_with_the_token_of_one_in_flight_answers_409(
    caja: Caja, app: FastAPI, http: httpx.AsyncClient, database: Database
) -> None:
    who = await merchant(database, funds=10000)
    body = topup_body(amount=3000)
    gate = Gate(services_of(app).operator)
    services_of(app).operator = gate
    try:
        with anyio.fail_after(30):
            first = asyncio.create_task(post_topup(http, who, body))
            await gate.entered.wait()

            in_flight = await get_topup(http, who, body["idempotency_token"])
            held = await balance(http, who)
            second = await post_topup(http, who, {**body, "amount": 1000})
            gate.release.set()
            answered = await first
    finally:
        gate.release.set()
        services_of(app).operator = gate.inner

    assert in_flight.status_code == 200, in_flight.text
    assert in_flight.json()["status"] == "created"
    assert held["balance"] == 7000
    assert second.status_code == 409, second.text
    assert second.json() == {
        "error_message": SIMULTANEOUS,
        "field": "idempotency_token",
        "value": body["idempotency_token"],
    }
    assert answered.status_code == 200, answered.text
    assert answered.json()["status"] == "authorized"
    assert answered.json()["amount"] == 3000
    assert await ledger(database, who) == (7000, 0)
    assert (await listed(http, who))[0] == 1
    assert (await caja.verify()).ok


# --- authentication and permissions: every endpoint -----------------------------------------

ENDPOINTS = [
    ("GET", "/merchant/balance"),
    ("GET", "/service_providers"),
    ("POST", "/topup_account"),
    ("GET", "/topup_account/{token}"),
    ("GET", "/topup_account/transactions"),
]


async def call(
    http: httpx.AsyncClient,
    endpoint: tuple[str, str],
    headers: dict[str, str],
    token: str,
    prefix: str = GATEWAY,
) -> httpx.Response:
    """Call ``endpoint`` with a request a good key would have answered with a 200."""
    method, path = endpoint
    body = topup_body() if method == "POST" else None
    url = prefix + path.format(token=token)
    return await http.request(method, url, json=body, headers=headers)


def encoded(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def bad_headers(database: Database, who: Merchant, kind: str) -> dict[str, str]:
    if kind == "revoked":
        await revoke_client(database, who.client_id)
        return who.headers
    return {
        "missing": {},
        "empty": {"Authorization": ""},
        "not-basic": {"Authorization": f"Bearer {encoded(who.api_key)}"},
        "basic-without-key": {"Authorization": "Basic "},
        "bad-base64": {"Authorization": "Basic not*base64!"},
        "key-not-encoded": {"Authorization": f"Basic {who.api_key}"},
        "not-utf8": {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe").decode()},
        "unknown-key": basic("ck-" + "x" * 43),
    }[kind]


BAD_AUTH = [
    "missing",
    "empty",
    "not-basic",
    "basic-without-key",
    "bad-base64",
    "key-not-encoded",
    "not-utf8",
    "unknown-key",
    "revoked",
]


@pytest.mark.parametrize("kind", BAD_AUTH)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=" ".join)
async def test_every_endpoint_answers_401_without_a_valid_key(
    caja: Caja, http: httpx.AsyncClient, database: Database, endpoint: tuple[str, str], kind: str
) -> None:
    who = await merchant(database, funds=10000)
    token = (await bought(http, who))["idempotency_token"]
    before = await snapshot(caja, who)

    response = await call(http, endpoint, await bad_headers(database, who, kind), token)

    assert response.status_code == 401, response.text
    assert response.json() == UNAUTHORIZED
    assert await caja.counts() == before[0]
    async with database.read() as connection:
        stored = (
            await connection.execute(select(func.count()).select_from(purchases))
        ).scalar_one()
    assert stored == before[1]


@pytest.mark.parametrize("scopes", [("ledger",), ("ledger:admin", "deposit")])
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=" ".join)
async def test_every_endpoint_answers_403_to_a_key_without_the_topup_scope(
    caja: Caja,
    http: httpx.AsyncClient,
    database: Database,
    endpoint: tuple[str, str],
    scopes: tuple[str, ...],
) -> None:
    who = await merchant(database, funds=10000)
    token = (await bought(http, who))["idempotency_token"]
    narrow = await merchant(database, scopes=scopes)
    before = await snapshot(caja, who)

    response = await call(http, endpoint, narrow.headers, token)

    assert response.status_code == 403, response.text
    assert response.json() == FORBIDDEN
    assert await snapshot(caja, who) == before


@pytest.mark.parametrize(
    "form", ["Basic {encoded}", "basic {encoded}", "  Basic   {encoded}  ", "Basic {with_colon}"]
)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=" ".join)
async def test_every_endpoint_accepts_the_key_in_basic_form(
    http: httpx.AsyncClient, database: Database, endpoint: tuple[str, str], form: str
) -> None:
    who = await merchant(database, funds=10000)
    token = (await bought(http, who))["idempotency_token"]
    header = form.format(encoded=encoded(who.api_key), with_colon=encoded(who.api_key + ":"))

    response = await call(http, endpoint, {"Authorization": header}, token)

    assert response.status_code == 200, response.text


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=" ".join)
async def test_every_endpoint_answers_500_while_the_database_fails(
    caja: Caja, http: httpx.AsyncClient, database: Database, endpoint: tuple[str, str]
) -> None:
    who = await merchant(database, funds=10000)
    token = (await bought(http, who))["idempotency_token"]
    before = await snapshot(caja, who)

    def fail(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("SELECT 1", {}, Exception("injected"))

    with listening(database, "before_cursor_execute", fail):
        response = await call(http, endpoint, who.headers, token)

    assert response.status_code == 500, response.text
    assert response.json() == UNAVAILABLE
    assert await snapshot(caja, who) == before
    assert (await call(http, endpoint, who.headers, token)).status_code == 200


# --- GET /merchant/balance and the money a merchant may spend -------------------------------


@pytest.mark.parametrize(("funds", "max_loan"), [(0, 0), (5000, 0), (0, 3000), (125000, 50000)])
async def test_balance_shows_the_funds_and_the_max_loan(
    http: httpx.AsyncClient, database: Database, funds: int, max_loan: int
) -> None:
    who = await merchant(database, funds=funds, max_loan=max_loan)

    response = await http.get(f"{GATEWAY}/merchant/balance", headers=who.headers)

    assert response.status_code == 200, response.text
    assert response.json() == {"balance": funds, "max_loan_amount": max_loan}
    assert all(type(value) is int for value in response.json().values())


@pytest.mark.parametrize(
    ("funds", "max_loan", "amount", "status", "after"),
    [
        (1000, 0, 1000, 200, 0),
        (0, 2000, 2000, 200, -2000),
        (1000, 2000, 3000, 200, -2000),
        (1000, 2000, 3100, 402, 1000),
        (0, 0, 1000, 402, 0),
        (500, 0, 1000, 402, 500),
        (0, 999, 1000, 402, 0),
    ],
)
async def test_a_purchase_needs_balance_plus_max_loan(
    caja: Caja,
    http: httpx.AsyncClient,
    database: Database,
    funds: int,
    max_loan: int,
    amount: int,
    status: int,
    after: int,
) -> None:
    who = await merchant(database, funds=funds, max_loan=max_loan)
    before = await snapshot(caja, who)
    body = topup_body(amount=amount)

    response = await post_topup(http, who, body)

    assert response.status_code == status, response.text
    assert await balance(http, who) == {"balance": after, "max_loan_amount": max_loan}
    if status == 402:
        assert response.json() == NO_FUNDS
        assert await snapshot(caja, who) == before
        assert (await get_topup(http, who, body["idempotency_token"])).status_code == 422
        assert await listed(http, who) == (0, [])
    assert (await caja.verify()).ok


async def test_a_merchant_spends_down_to_exactly_minus_its_max_loan(
    caja: Caja, http: httpx.AsyncClient, database: Database
) -> None:
    who = await merchant(database, funds=1000, max_loan=3000)

    for expected in (0, -1000, -2000, -3000):
        await bought(http, who)
        assert await available(http, who) == expected
    before = await snapshot(caja, who)
    refused = await post_topup(http, who, topup_body())

    assert refused.status_code == 402, refused.text
    assert refused.json() == NO_FUNDS
    assert await snapshot(caja, who) == before
    assert await ledger(database, who) == (-3000, 0)
    assert (await caja.verify()).ok


async def test_a_token_refused_for_lack_of_funds_can_be_used_once_funded(
    caja: Caja, http: httpx.AsyncClient, database: Database
) -> None:
    who = await merchant(database)
    body = topup_body(amount=4000)
    assert (await post_topup(http, who, body)).status_code == 402

    await caja.fund(who.client_id, "5000")
    response = await post_topup(http, who, body)

    assert response.status_code == 200, response.text
    assert await available(http, who) == 1000


async def test_held_money_is_not_available_and_rejected_money_comes_back(
    caja: Caja, http: httpx.AsyncClient, database: Database
) -> None:
    who = await merchant(database, funds=2000)

    held = await post_topup(http, who, topup_body("3110002222", amount=2000))
    refused = await post_topup(http, who, topup_body(amount=1000))

    assert held.status_code == 502, held.text
    assert refused.status_code == 402, refused.text
    assert refused.json() == NO_FUNDS
    assert await ledger(database, who) == (2000, 2000)

    other = await merchant(database, funds=2000)
    rejected = await post_topup(http, other, topup_body("3110005555", amount=2000))
    paid = await post_topup(http, other, topup_body(amount=2000))

    assert rejected.status_code == 503, rejected.text
    assert paid.status_code == 200, paid.text
    assert await available(http, other) == 0
    assert (await caja.verify()).ok


# --- GET /service_providers -------------------------------------------------------------------


async def test_service_providers_lists_the_seeds_operators(
    http: httpx.AsyncClient, database: Database
) -> None:
    who = await merchant(database)

    response = await http.get(f"{GATEWAY}/service_providers", headers=who.headers)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "service_providers": [
            {"slug": slug, "name": name, "icon_url": "https://some-icon-url.com"}
            for slug, name in OPERATORS
        ]
    }


@pytest.mark.parametrize("slug", [slug for slug, _ in OPERATORS])
async def test_a_disabled_operator_leaves_the_list_and_an_enabled_one_sells(
    http: httpx.AsyncClient, database: Database, slug: str
) -> None:
    who = await merchant(database, funds=10000)

    assert (await bought(http, who, service_provider=slug))["service_provider"] == slug
    await set_enabled(database, "operators", slug, False)
    response = await http.get(f"{GATEWAY}/service_providers", headers=who.headers)

    assert [item["slug"] for item in response.json()["service_providers"]] == [
        other for other, _ in OPERATORS if other != slug
    ]


# --- GET /topup_account/{idempotency_token} -------------------------------------------------


async def test_get_topup_answers_the_stored_purchase(
    http: httpx.AsyncClient, database: Database
) -> None:
    who = await merchant(database, funds=10000)
    answer = await bought(http, who, amount=4500, service_provider="claro-movil")

    response = await get_topup(http, who, answer["idempotency_token"])

    assert response.status_code == 200, response.text
    assert response.json() == answer
    assert response.json()["amount"] == 4500
    assert response.json()["service_provider"] == "claro-movil"


@pytest.mark.parametrize("token", ["2024/12/05-001", "a b", "ñandú", "50%", "x?y#z", "/lead"])
async def test_get_topup_finds_tokens_of_any_characters(
    http: httpx.AsyncClient, database: Database, token: str
) -> None:
    who = await merchant(database, funds=10000)
    answer = await bought(http, who, idempotency_token=token)

    response = await get_topup(http, who, quote(token, safe=""))

    assert response.status_code == 200, response.text
    assert response.json() == answer
    assert answer["idempotency_token"] == token


@pytest.mark.parametrize("token", ["never-used", "idtk-0", "x" * 200])
async def test_get_topup_of_an_unknown_token_answers_422(
    http: httpx.AsyncClient, database: Database, token: str
) -> None:
    who = await merchant(database, funds=10000)
    await bought(http, who)

    response = await get_topup(http, who, token)

    assert_invalid(
        response, "idempotency_token", f"Objeto con idempotency_token={token} no existe.", token
    )


async def test_another_merchants_purchase_answers_exactly_like_a_missing_one(
    http: httpx.AsyncClient, database: Database
) -> None:
    mine = await merchant(database, funds=10000)
    theirs = await merchant(database, funds=10000)
    their_purchase = await bought(http, theirs)
    token = their_purchase["idempotency_token"]

    foreign = await get_topup(http, mine, token)

    assert_invalid(
        foreign, "idempotency_token", f"Objeto con idempotency_token={token} no existe.", token
    )
    assert await listed(http, mine) == (0, [])

    # The token is the merchant's own: another merchant may use it too.
    my_purchase = await bought(http, mine, idempotency_token=token, amount=2000)
    assert my_purchase["token"] != their_purchase["token"]
    assert (await get_topup(http, mine, token)).json()["amount"] == 2000
    assert (await get_topup(http, theirs, token)).json() == their_purchase
    assert await listed(http, mine) == (1, [token])
    assert await listed(http, theirs) == (1, [token])


# --- GET /topup_account/transactions --------------------------------------------------------


async def test_history_lists_the_merchants_purchases_oldest_first(
    http: httpx.AsyncClient, database: Database
) -> None:
    who = await merchant(database, funds=10000)
    other = await merchant(database, funds=10000)
    await bought(http, other)
    answers = [
        (await post_topup(http, who, topup_body(number, amount=1000 + n * 100))).json()
        for n, number in enumerate(["3110001111", "3110005555", "3110002222"])
    ]

    response = await history(http, who)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == 3
    assert [set(item) for item in body["transactions"]] == [HISTORY_FIELDS] * 3
    assert body["transactions"] == [
        {
            **{name: answer[name] for name in HISTORY_FIELDS - {"created_at"}},
            "created_at": answer["date_created"],
        }
        for answer in answers
    ]
    assert [item["status"] for item in body["transactions"]] == [
        "authorized",
        "rejected",
        "unknown",
    ]


async def test_history_of_a_merchant_without_purchases_is_empty(
    http: httpx.AsyncClient, database: Database
) -> None:
    who = await merchant(database)

    response = await history(http, who)

    assert response.status_code == 200, response.text
    assert response.json() == {"count": 0, "transactions": []}


async def test_history_pages_hold_200_purchases_by_default(
    http: httpx.AsyncClient, database: Database
) -> None:
    who = await merchant(database, funds=201 * 1000)
    bodies = [topup_body() for _ in range(201)]
    responses = [await post_topup(http, who, body) for body in bodies]
    assert {response.status_code for response in responses} == {200}

    count, first = await listed(http, who)
    _, second = await listed(http, who, {"page": 2})

    assert count == 201
    assert len(first) == 200
    assert len(second) == 1
    assert sorted(first + second) == sorted(body["idempotency_token"] for body in bodies)
    assert await listed(http, who, {"page": 1, "per_page": 200}) == (count, first)


@pytest.mark.parametrize(
    ("params", "indexes"),
    [
        ({"per_page": 2}, [0, 1]),
        ({"page": 1, "per_page": 2}, [0, 1]),
        ({"page": 2, "per_page": 2}, [2, 3]),
        ({"page": 3, "per_page": 2}, [4]),
        ({"page": 4, "per_page": 2}, []),
        ({"page": 2}, []),
        ({"per_page": 1000}, [0, 1, 2, 3, 4]),
        ({"page": 5, "per_page": 1}, [4]),
    ],
)
async def test_history_pagination(
    http: httpx.AsyncClient, database: Database, params: dict[str, Any], indexes: list[int]
) -> None:
    who = await merchant(database, funds=10000)
    tokens = [(await bought(http, who))["idempotency_token"] for _ in range(5)]

    assert await listed(http, who, params) == (5, [tokens[i] for i in indexes])


async def test_history_filters_by_bogota_days(http: httpx.AsyncClient, database: Database) -> None:
    who = await merchant(database, funds=10000)
    first_day = bogota_today()
    tokens = [(await bought(http, who))["idempotency_token"] for _ in range(3)]
    last_day = bogota_today()

    def day_range(start: date, end: date) -> dict[str, str]:
        return {"start_date": start.isoformat(), "end_date": end.isoformat()}

    assert await listed(http, who, day_range(first_day, last_day)) == (3, tokens)
    assert await listed(http, who, day_range(first_day - timedelta(days=30), last_day)) == (
        3,
        tokens,
    )
    assert await listed(
        http, who, {**day_range(first_day, last_day), "page": 2, "per_page": 2}
    ) == (3, tokens[2:])
    past = day_range(date(2020, 1, 1), first_day - timedelta(days=1))
    assert await listed(http, who, past) == (0, [])
    future = day_range(last_day + timedelta(days=1), last_day + timedelta(days=2))
    assert await listed(http, who, future) == (0, [])


async def test_history_days_are_bogota_days_not_utc_days(
    http: httpx.AsyncClient, database: Database
) -> None:
    who = await merchant(database, funds=10000)
    late = (await bought(http, who))["idempotency_token"]
    # 2024-12-05 03:30 UTC is still 2024-12-04 22:30 in Bogotá (UTC-5).
    await database.write(
        lambda connection: connection.execute(
            update(purchases)
            .where(purchases.c.idempotency_token == late)
            .values(created_at=datetime(2024, 12, 5, 3, 30, tzinfo=UTC))
        )
    )
    await bought(http, who)

    on_the_4th = {"start_date": "2024-12-04", "end_date": "2024-12-04"}
    on_the_5th = {"start_date": "2024-12-05", "end_date": "2024-12-05"}

    assert await listed(http, who, on_the_4th) == (1, [late])
    assert await listed(http, who, on_the_5th) == (0, [])
    item = (await history(http, who, on_the_4th)).json()["transactions"][0]
    assert item["date_created"] == item["created_at"] == "2024-12-04 22:30:00"
    assert (await get_topup(http, who, late)).json()["date_created"] == "2024-12-04 22:30:00"


DAY = "2024-12-05"

BAD_HISTORY = [
    bad("start-only", {"start_date": DAY}, "end_date", REQUIRED, NO_VALUE),
    bad("end-only", {"end_date": DAY}, "start_date", REQUIRED, NO_VALUE),
    bad("start-after-end", {"start_date": "2024-12-06", "end_date": DAY}, "start_date",
        "start_date no puede ser mayor que end_date.", "2024-12-06"),
    *(
        bad(f"start-{raw}", {"start_date": raw, "end_date": DAY}, "start_date", DATE_FORMAT, raw)
        for raw in ["2024/12/05", "05-12-2024", "2024-12-5", "2024-02-30", "20241205", "", "hoy"]
    ),
    bad("end-month-13", {"start_date": DAY, "end_date": "2024-13-01"}, "end_date", DATE_FORMAT,
        "2024-13-01"),
    bad("end-only-bad", {"end_date": "nope"}, "end_date", DATE_FORMAT),
    bad("page-0", {"page": "0"}, "page", AT_LEAST_1),
    bad("page-negative", {"page": "-1"}, "page", AT_LEAST_1),
    bad("page-text", {"page": "abc"}, "page", INTEGER),
    bad("page-fraction", {"page": "1.5"}, "page", INTEGER),
    bad("page-empty", {"page": ""}, "page", INTEGER),
    bad("per-page-0", {"per_page": "0"}, "per_page", AT_LEAST_1),
    bad("per-page-1001", {"per_page": "1001"}, "per_page", AT_MOST_1000),
    bad("per-page-text", {"per_page": "many"}, "per_page", INTEGER),
]  # fmt: skip


@pytest.mark.parametrize(("params", "field", "message", "value"), BAD_HISTORY)
async def test_history_answers_422_to_bad_parameters(
    http: httpx.AsyncClient,
    database: Database,
    params: dict[str, str],
    field: str,
    message: str,
    value: Any,
) -> None:
    who = await merchant(database, funds=10000)
    await bought(http, who)

    response = await history(http, who, params)

    assert_invalid(response, field, message, value)


# --- the other spelling of the path ---------------------------------------------------------


async def test_the_other_spelling_of_the_path_works_the_same(
    caja: Caja, http: httpx.AsyncClient, database: Database
) -> None:
    who = await merchant(database, funds=10000, max_loan=1000)

    async def both(method: str, path: str, **kwargs: Any) -> tuple[httpx.Response, ...]:
        return tuple(
            [
                await http.request(method, prefix + path, headers=who.headers, **kwargs)
                for prefix in (GATEWAY, GATEWAY_ALIAS)
            ]
        )

    for path in ("/merchant/balance", "/service_providers"):
        main, alias = await both("GET", path)
        assert (main.status_code, main.json()) == (alias.status_code, alias.json())

    created = await post_topup(http, who, topup_body(amount=2000), prefix=GATEWAY_ALIAS)
    assert created.status_code == 200, created.text
    token = created.json()["idempotency_token"]
    assert await available(http, who) == 8000
    main, alias = await both("GET", f"/topup_account/{token}")
    assert alias.status_code == 200, alias.text
    assert main.json() == alias.json() == created.json()
    main, alias = await both("GET", "/topup_account/transactions")
    assert alias.json()["count"] == 1
    assert main.json() == alias.json()

    rejected = await post_topup(http, who, topup_body("3110005555"), prefix=GATEWAY_ALIAS)
    assert rejected.status_code == 503, rejected.text
    assert rejected.json()["status"] == "rejected"

    reused = await post_topup(http, who, topup_body(idempotency_token=token), prefix=GATEWAY_ALIAS)
    assert_invalid(reused, "idempotency_token", ALREADY, token)
    poor = await post_topup(http, who, topup_body(amount=10000), prefix=GATEWAY_ALIAS)
    assert (poor.status_code, poor.json()) == (402, NO_FUNDS)
    main, alias = await both("GET", "/topup_account/missing")
    assert (main.status_code, main.json()) == (alias.status_code, alias.json())
    assert alias.status_code == 422
    main, alias = await both("GET", "/topup_account/transactions", params={"page": "0"})
    assert (main.status_code, main.json()) == (alias.status_code, alias.json())
    assert alias.status_code == 422

    unauthorized = await http.get(f"{GATEWAY_ALIAS}/merchant/balance")
    assert (unauthorized.status_code, unauthorized.json()) == (401, UNAUTHORIZED)
    narrow = await merchant(database, scopes=("ledger",))
    forbidden = await http.get(f"{GATEWAY_ALIAS}/service_providers", headers=narrow.headers)
    assert (forbidden.status_code, forbidden.json()) == (403, FORBIDDEN)
    assert (await caja.verify()).ok
