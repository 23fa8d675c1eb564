"""Mobile packages over HTTP: every test number, example error and endpoint of the
"Mobile packages services" half of the gateway seed.

Decisions taken where the seed contradicts itself (docs/compat.md): statuses are
UPPERCASE, an unknown outcome answers 502 and a rejection 503 (the HTTP-code table, not
the test-data table), and ``GET /package_buy/{token}`` answers a rejected purchase with
503 and an unknown one with 502, the purchase in the body.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from caja.clients.tables import clients
from caja.core.clock import BOGOTA
from caja.db.engine import Database
from caja.ledger.tables import accounts
from caja.topups.catalog import import_catalog, set_enabled
from caja.topups.tables import purchases
from tests.gateway import GATEWAY, Merchant, merchant, package_body, topup_body
from tests.helpers import Caja

pytestmark = pytest.mark.anyio

NO_FUNDS = (
    "You have no funds. Please top up your account and contact our support team to keep "
    "operating. Thank you."
)
UNKNOWN_MESSAGE = "Failure when performing mobile top up - top up in unknown status"
REJECTED_MESSAGE = "The buy was rejected"
BLANK = "Este campo no puede estar en blanco."
PATTERN = "Este valor no coincide con el patrón requerido."
BOGOTA_TEXT = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
PESO = 100  # minor units in the ledger

LOGO = "https://storage.googleapis.com/bucket-faas/suppliers/{}.webp"
SEED_PROVIDERS = [
    {"name": "TIGO", "provider_code": "3", "operator_logo_url": LOGO.format(3), "enabled": True},
    {
        "name": "CLARO PAQUETES",
        "provider_code": "58",
        "operator_logo_url": LOGO.format(58),
        "enabled": True,
    },
    {
        "name": "VIRGIN MOBILE PAQUETES",
        "provider_code": "72",
        "operator_logo_url": LOGO.format(72),
        "enabled": True,
    },
    {
        "name": "MOVISTAR PAQUETES",
        "provider_code": "30",
        "operator_logo_url": LOGO.format(30),
        "enabled": True,
    },
]
SEED_PACKAGES = [
    {
        "name": "200 MINUTOS A TODO OPERADOR",
        "description": "200 MNTS O 20DIAS",
        "amount": 9900,
        "validity": "20 DÍAS",
        "package_code": "024",
        "sku": "50015",
        "category_code": "9",
        "category_description": "HABLAR",
        "provider_code": "58",
    },
    {
        "name": "18 MINUTOS A VENEZUELA - $5.000",
        "description": "18MIN_A_VNZLA-30D",
        "amount": 5000,
        "validity": "30 DÍAS",
        "package_code": "353",
        "sku": "50050",
        "category_code": "9",
        "category_description": "HABLAR",
        "provider_code": "58",
    },
    {
        "name": "1.5 GB DE NAVEGACION + MUNUTOS Y MENSAJES ILIMI. + REDES SOCIALES (WHATSAPP "
        "FACEBOOK TWITTER) + 7 DIAS POR $7.500",
        "description": "1.5GB_MIN ILIMT+7D",
        "amount": 7500,
        "validity": "7 DIAS",
        "package_code": "767",
        "sku": "50130",
        "category_code": "7",
        "category_description": "TODO INCLUIDO",
        "provider_code": "58",
    },
    {
        "name": "TODO INCLUIDO CON MINUTOS ILIMITADOS CHAT DE WHATSAPP FACEBOOK Y TWITTER  "
        "12GB POR 30 DIAS",
        "description": "12GB/ILIMITADO_30D",
        "amount": 41000,
        "validity": "30 DIAS",
        "package_code": "939",
        "sku": "50148",
        "category_code": "7",
        "category_description": "TODO INCLUIDO",
        "provider_code": "58",
    },
]
HISTORY_FIELDS = {
    "idempotency_token",
    "destination_number",
    "amount",
    "package_code",
    "provider_code",
    "status",
    "created_at",
}


# --- helpers -------------------------------------------------------------------------------


async def buy(http: httpx.AsyncClient, who: Merchant, body: dict[str, Any]) -> httpx.Response:
    return await http.post(f"{GATEWAY}/package_buy", json=body, headers=who.headers)


async def get(
    http: httpx.AsyncClient, who: Merchant, path: str, params: dict[str, Any] | None = None
) -> httpx.Response:
    return await http.get(f"{GATEWAY}{path}", params=params, headers=who.headers)


async def available(http: httpx.AsyncClient, who: Merchant) -> int:
    """The merchant's balance as the gateway shows it: its balance less held money."""
    response = await get(http, who, "/merchant/balance")
    assert response.status_code == 200, response.text
    balance: int = response.json()["balance"]
    return balance


async def ledger(database: Database, who: Merchant) -> tuple[int, int, int]:
    """Whole pesos: the merchant account's balance and held money, and what the operators'
    system account received."""
    async with database.read() as connection:
        own = (
            await connection.execute(
                select(accounts.c.balance_minor, accounts.c.pending_out_minor)
                .join(clients, clients.c.id == accounts.c.client_id)
                .where(clients.c.token == who.client_id, accounts.c.kind == "merchant")
            )
        ).one()
        operators = (
            await connection.execute(
                select(accounts.c.balance_minor).where(accounts.c.token == "sys-operators-cop")
            )
        ).scalar_one()
    return own.balance_minor // PESO, own.pending_out_minor // PESO, operators // PESO


async def history(
    http: httpx.AsyncClient, who: Merchant, **params: Any
) -> tuple[int, list[dict[str, Any]]]:
    response = await get(http, who, "/package_buy/transactions", params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"count", "transactions"}
    return body["count"], body["transactions"]


async def trace(caja: Caja, who: Merchant) -> tuple[Any, ...]:
    """What a refused request must not change."""
    count, _ = await history(caja.http, who)
    return await caja.counts(), await available(caja.http, who), count


def assert_invalid(response: httpx.Response, field: str, message: str, *value: Any) -> None:
    """A 422 with the seed's ``{error_message, field, value}`` body."""
    assert response.status_code == 422, response.text
    expected: dict[str, Any] = {"error_message": message, "field": field}
    if value:
        expected["value"] = value[0]
    assert response.json() == expected


def bogota_today() -> date:
    return datetime.now(BOGOTA).date()


# --- purchasing: the test numbers ------------------------------------------------------------

# number, HTTP status, status, result_code, error_message, (balance, held, to operators)
TEST_NUMBERS = [
    ("3110001111", 200, "AUTHORIZED", 0, None, (2500, 0, 7500)),
    ("3110007777", 200, "IN_PROGRESS", 1, None, (10000, 7500, 0)),
    ("3110006666", 502, "UNKNOWN", None, UNKNOWN_MESSAGE, (10000, 7500, 0)),
    ("3110000000", 503, "REJECTED", 5, REJECTED_MESSAGE, (10000, 0, 0)),
]


@pytest.mark.parametrize(
    ("number", "status_code", "status", "result_code", "message", "money"),
    TEST_NUMBERS,
    ids=["authorized", "in progress", "unknown", "rejected"],
)
async def test_each_test_number_answers_as_the_seed_says_and_moves_money_so(
    caja: Caja,
    number: str,
    status_code: int,
    status: str,
    result_code: int | None,
    message: str | None,
    money: tuple[int, int, int],
) -> None:
    who = await merchant(caja.database, funds=10000)
    sent = package_body(number)

    response = await buy(caja.http, who, sent)

    assert response.status_code == status_code, response.text
    body = response.json()
    assert body["idempotency_token"] == sent["idempotency_token"]
    assert body["destination_number"] == number
    assert body["amount"] == 7500
    assert body["payment_token"] == "wallet-11233dafd"
    assert body["package_code"] == "767"
    assert body["provider_code"] == "58"
    assert body["route"] == "PUNTORED"
    assert body["status"] == status
    assert body["result_code"] == result_code
    assert body.get("error_message") == message
    if status == "AUTHORIZED":
        assert isinstance(body["external_gateway_auth_code"], str)
        assert body["external_gateway_auth_code"]
    else:
        assert body["external_gateway_auth_code"] is None
    assert BOGOTA_TEXT.fullmatch(body["created_at"])
    assert await ledger(caja.database, who) == money
    balance, held, _ = money
    assert await available(caja.http, who) == balance - held


async def test_a_purchase_may_spend_the_max_loan_to_the_last_peso(caja: Caja) -> None:
    who = await merchant(caja.database, funds=5000, max_loan=2500)

    response = await buy(caja.http, who, package_body())

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "AUTHORIZED"
    assert await available(caja.http, who) == -2500
    assert await ledger(caja.database, who) == (-2500, 0, 7500)


@pytest.mark.parametrize(("funds", "max_loan"), [(0, 0), (5000, 2499), (7499, 0)])
async def test_a_purchase_beyond_balance_and_max_loan_answers_402(
    caja: Caja, funds: int, max_loan: int
) -> None:
    who = await merchant(caja.database, funds=funds, max_loan=max_loan)
    before = await trace(caja, who)

    response = await buy(caja.http, who, package_body())

    assert response.status_code == 402, response.text
    assert response.json() == {"error_message": NO_FUNDS}
    assert await trace(caja, who) == before
    assert await ledger(caja.database, who) == (funds, 0, 0)


# --- purchasing: the example errors -----------------------------------------------------------


async def test_a_reused_idempotency_token_answers_422_and_buys_nothing_more(caja: Caja) -> None:
    who = await merchant(caja.database, funds=20000)
    first = package_body()
    assert (await buy(caja.http, who, first)).status_code == 200
    before = await trace(caja, who)

    again = await buy(caja.http, who, first)
    other_body = await buy(
        caja.http, who, package_body("3110000000", idempotency_token=first["idempotency_token"])
    )

    for response in (again, other_body):
        assert_invalid(
            response,
            "idempotency_token",
            "Ya existe un/a mobile package transaction con este/a idempotency token.",
            first["idempotency_token"],
        )
    assert await trace(caja, who) == before
    assert await ledger(caja.database, who) == (12500, 0, 7500)


async def test_one_idempotency_token_serves_two_merchants_and_a_top_up(caja: Caja) -> None:
    """Tokens are the merchant's own, and a package's apart from a top-up's."""
    first = await merchant(caja.database, funds=10000)
    second = await merchant(caja.database, funds=10000)
    token = "shared-token-1"

    bought = [
        await buy(caja.http, first, package_body(idempotency_token=token)),
        await buy(caja.http, second, package_body(idempotency_token=token)),
        await caja.http.post(
            f"{GATEWAY}/topup_account",
            json=topup_body(idempotency_token=token),
            headers=first.headers,
        ),
    ]

    assert [response.status_code for response in bought] == [200, 200, 200]
    assert await available(caja.http, first) == 10000 - 7500 - 1000
    assert await available(caja.http, second) == 10000 - 7500


async def two_packages_provider(database: Database) -> None:
    """Provider 77 with package P77 (7500 pesos, like 767)."""
    await import_catalog(
        database,
        {
            "package_providers": [{"provider_code": "77", "name": "OTRO", "route": "PUNTORED"}],
            "packages": [
                {
                    "package_code": "P77",
                    "provider_code": "77",
                    "name": "P77",
                    "description": "P77",
                    "amount": 7500,
                    "validity": "7 DIAS",
                    "category_code": "7",
                    "category_description": "TODO INCLUIDO",
                }
            ],
        },
    )


async def disable(database: Database, kind: str, code: str) -> None:
    await set_enabled(database, kind, code, False)


# id, setup, body overrides, field, message, value
CATALOG_ERRORS: list[tuple[str, Any, dict[str, Any], str, str, Any]] = [
    (
        "package of another provider",
        two_packages_provider,
        {"package_code": "P77"},
        "provider_code",
        "El service_provider se debe corresponder con el mobile_package.",
        "58",
    ),
    (
        "package of another seeded provider",
        None,
        {"provider_code": 3},
        "provider_code",
        "El service_provider se debe corresponder con el mobile_package.",
        "3",
    ),
    (
        "disabled provider",
        lambda database: disable(database, "package_providers", "58"),
        {},
        "provider_code",
        "El operador móvil del paquete no está habilitado.",
        "58",
    ),
    (
        "unknown provider",
        None,
        {"provider_code": 99},
        "provider_code",
        "Objeto con provider_code=99 no existe",
        "99",
    ),
    (
        "disabled package",
        lambda database: disable(database, "packages", "767"),
        {},
        "package_code",
        "El paquete móvil no está habilitado.",
        "767",
    ),
    (
        "unknown package",
        None,
        {"package_code": 768},
        "package_code",
        "Objeto con package_code=768 no existe",
        "768",
    ),
    (
        "amount other than the package's",
        None,
        {"amount": 9900},
        "amount",
        "El monto no corresponde al valor del paquete móvil (7500).",
        9900,
    ),
]

# id, body overrides, field, message, value
FIELD_ERRORS: list[tuple[str, dict[str, Any], str, str, Any]] = [
    ("blank destination", {"destination_number": ""}, "destination_number", BLANK[:-1], ""),
    ("spaces destination", {"destination_number": "  "}, "destination_number", BLANK[:-1], ""),
    ("9 digits", {"destination_number": "301486565"}, "mobile_number", PATTERN, "301486565"),
    ("11 digits", {"destination_number": "30148656512"}, "mobile_number", PATTERN, "30148656512"),
    (
        "12 digits (top-ups only)",
        {"destination_number": "573014865651"},
        "mobile_number",
        PATTERN,
        "573014865651",
    ),
    ("letters", {"destination_number": "31100O1111"}, "mobile_number", PATTERN, "31100O1111"),
    ("blank payment_token", {"payment_token": ""}, "payment_token", BLANK, ""),
    ("blank payment_origin", {"payment_origin": " "}, "payment_origin", BLANK, ""),
    (
        "600",
        {"amount": 600},
        "amount",
        "El monto del paquete no puede ser menor a 1000.00.",
        600,
    ),
    (
        "110000",
        {"amount": 110000},
        "amount",
        "El monto del paquete no puede ser mayor a 100000.00.",
        110000,
    ),
]


async def assert_refused_without_trace(
    caja: Caja, who: Merchant, body: dict[str, Any], field: str, message: str, value: Any
) -> None:
    before = await trace(caja, who)
    money = await ledger(caja.database, who)

    response = await buy(caja.http, who, body)

    assert_invalid(response, field, message, value)
    assert await trace(caja, who) == before
    assert await ledger(caja.database, who) == money


@pytest.mark.parametrize(
    ("setup", "overrides", "field", "message", "value"),
    [case[1:] for case in CATALOG_ERRORS],
    ids=[case[0] for case in CATALOG_ERRORS],
)
async def test_a_purchase_the_catalog_refuses_answers_422_and_leaves_no_trace(
    caja: Caja, setup: Any, overrides: dict[str, Any], field: str, message: str, value: Any
) -> None:
    who = await merchant(caja.database, funds=50000)
    if setup is not None:
        await setup(caja.database)

    await assert_refused_without_trace(caja, who, package_body(**overrides), field, message, value)


@pytest.mark.parametrize(
    ("overrides", "field", "message", "value"),
    [case[1:] for case in FIELD_ERRORS],
    ids=[case[0] for case in FIELD_ERRORS],
)
async def test_a_malformed_purchase_answers_422_and_leaves_no_trace(
    caja: Caja, overrides: dict[str, Any], field: str, message: str, value: Any
) -> None:
    who = await merchant(caja.database, funds=50000)

    await assert_refused_without_trace(caja, who, package_body(**overrides), field, message, value)


async def test_a_package_of_a_new_provider_can_be_bought(caja: Caja) -> None:
    who = await merchant(caja.database, funds=10000)
    await two_packages_provider(caja.database)

    response = await buy(caja.http, who, package_body(provider_code=77, package_code="P77"))

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["provider_code"], body["package_code"], body["status"]) == (
        "77",
        "P77",
        "AUTHORIZED",
    )
    assert await available(caja.http, who) == 2500


async def test_payment_origin_is_optional_and_kept_when_sent(caja: Caja) -> None:
    who = await merchant(caja.database, funds=20000)

    without = await buy(caja.http, who, package_body())
    with_origin = await buy(caja.http, who, package_body(payment_origin="Tpaga wallet"))

    assert without.status_code == with_origin.status_code == 200
    assert without.json()["payment_origin"] is None
    assert with_origin.json()["payment_origin"] == "Tpaga wallet"


async def test_codes_may_be_sent_as_text_or_numbers(caja: Caja) -> None:
    who = await merchant(caja.database, funds=20000)

    as_text = await buy(caja.http, who, package_body(provider_code="58", package_code="767"))
    as_numbers = await buy(caja.http, who, package_body(provider_code=58, package_code=767))

    assert as_text.status_code == as_numbers.status_code == 200
    for response in (as_text, as_numbers):
        assert (response.json()["provider_code"], response.json()["package_code"]) == (
            "58",
            "767",
        )


# --- package providers --------------------------------------------------------------------


async def test_providers_list_shows_the_seed_providers(caja: Caja) -> None:
    who = await merchant(caja.database)

    response = await get(caja.http, who, "/mobile_package_service_providers_list")

    assert response.status_code == 200, response.text
    assert response.json() == {"service_providers": SEED_PROVIDERS}


async def test_a_disabled_provider_is_listed_as_not_enabled(caja: Caja) -> None:
    who = await merchant(caja.database)
    await disable(caja.database, "package_providers", "72")

    response = await get(caja.http, who, "/mobile_package_service_providers_list")

    assert response.status_code == 200, response.text
    listed = response.json()["service_providers"]
    assert [(p["provider_code"], p["enabled"]) for p in listed] == [
        ("3", True),
        ("58", True),
        ("72", False),
        ("30", True),
    ]


# --- packages -----------------------------------------------------------------------------


@pytest.mark.parametrize("params", [{}, {"provider_identifier": "58"}, {"provider_identifier": 58}])
async def test_packages_lists_the_seed_packages(caja: Caja, params: dict[str, Any]) -> None:
    who = await merchant(caja.database)

    response = await get(caja.http, who, "/packages", params)

    assert response.status_code == 200, response.text
    assert response.json() == {"packages": SEED_PACKAGES}


async def test_packages_of_a_provider_without_packages_is_an_empty_list(caja: Caja) -> None:
    who = await merchant(caja.database)

    response = await get(caja.http, who, "/packages", {"provider_identifier": "3"})

    assert response.status_code == 200, response.text
    assert response.json() == {"packages": []}


async def test_packages_filter_by_provider_among_several(caja: Caja) -> None:
    who = await merchant(caja.database)
    await two_packages_provider(caja.database)

    everything = await get(caja.http, who, "/packages")
    of_77 = await get(caja.http, who, "/packages", {"provider_identifier": "77"})
    of_58 = await get(caja.http, who, "/packages", {"provider_identifier": "58"})

    assert [p["package_code"] for p in everything.json()["packages"]] == [
        "024",
        "353",
        "767",
        "939",
        "P77",
    ]
    assert [p["package_code"] for p in of_77.json()["packages"]] == ["P77"]
    assert of_77.json()["packages"][0]["sku"] is None
    assert of_58.json() == {"packages": SEED_PACKAGES}


async def test_packages_of_an_unknown_provider_answers_422(caja: Caja) -> None:
    who = await merchant(caja.database)

    response = await get(caja.http, who, "/packages", {"provider_identifier": "999"})

    assert_invalid(response, "provider_identifier", "Objeto con provider_code=999 no existe", "999")


@pytest.mark.parametrize(
    ("page", "per_page", "codes"),
    [
        (1, 2, ["024", "353"]),
        (2, 2, ["767", "939"]),
        (3, 2, []),
        (2, 3, ["939"]),
        (1, 1000, ["024", "353", "767", "939"]),
    ],
)
async def test_packages_are_paginated(
    caja: Caja, page: int, per_page: int, codes: list[str]
) -> None:
    who = await merchant(caja.database)

    response = await get(caja.http, who, "/packages", {"page": page, "per_page": per_page})

    assert response.status_code == 200, response.text
    assert [p["package_code"] for p in response.json()["packages"]] == codes


PAGE_ERRORS = [
    ("page", "0", "Asegúrese de que este valor sea mayor o igual a 1."),
    ("page", "-1", "Asegúrese de que este valor sea mayor o igual a 1."),
    ("page", "abc", "Se requiere un número entero válido."),
    ("page", "1.5", "Se requiere un número entero válido."),
    ("per_page", "0", "Asegúrese de que este valor sea mayor o igual a 1."),
    ("per_page", "1001", "Asegúrese de que este valor sea menor o igual a 1000."),
]


@pytest.mark.parametrize(("name", "value", "message"), PAGE_ERRORS)
@pytest.mark.parametrize("path", ["/packages", "/package_buy/transactions"])
async def test_a_bad_page_answers_422(
    caja: Caja, path: str, name: str, value: str, message: str
) -> None:
    who = await merchant(caja.database)

    response = await get(caja.http, who, path, {name: value})

    assert_invalid(response, name, message, value)


async def test_disabled_packages_and_packages_of_disabled_providers_are_not_listed(
    caja: Caja,
) -> None:
    who = await merchant(caja.database)
    await disable(caja.database, "packages", "353")

    without_353 = await get(caja.http, who, "/packages")
    await disable(caja.database, "package_providers", "58")
    without_58 = await get(caja.http, who, "/packages")
    of_58 = await get(caja.http, who, "/packages", {"provider_identifier": "58"})

    assert [p["package_code"] for p in without_353.json()["packages"]] == ["024", "767", "939"]
    assert without_58.json() == {"packages": []}
    assert of_58.json() == {"packages": []}


# --- purchase information -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "status_code", "status", "message"),
    [
        ("3110001111", 200, "AUTHORIZED", None),
        ("3110007777", 200, "IN_PROGRESS", None),
        ("3110006666", 502, "UNKNOWN", UNKNOWN_MESSAGE),
        ("3110000000", 503, "REJECTED", REJECTED_MESSAGE),
    ],
    ids=["authorized", "in progress", "unknown", "rejected"],
)
async def test_purchase_information_answers_with_the_purchase_and_its_outcome(
    caja: Caja, number: str, status_code: int, status: str, message: str | None
) -> None:
    who = await merchant(caja.database, funds=10000)
    sent = package_body(number)
    bought = await buy(caja.http, who, sent)

    response = await get(caja.http, who, f"/package_buy/{sent['idempotency_token']}")

    assert response.status_code == status_code, response.text
    body = response.json()
    assert body == bought.json()
    assert body["status"] == status
    assert body.get("error_message") == message
    assert body["idempotency_token"] == sent["idempotency_token"]
    assert body["destination_number"] == number


@pytest.mark.parametrize("whose", ["nobody's", "another merchant's", "a top-up's"])
async def test_purchase_information_of_a_token_not_ones_own_package_answers_422(
    caja: Caja, whose: str
) -> None:
    who = await merchant(caja.database, funds=10000)
    other = await merchant(caja.database, funds=10000)
    token = "pk-not-mine"
    if whose == "another merchant's":
        assert (await buy(caja.http, other, package_body(idempotency_token=token))).is_success
    elif whose == "a top-up's":
        topup = await caja.http.post(
            f"{GATEWAY}/topup_account",
            json=topup_body(idempotency_token=token),
            headers=who.headers,
        )
        assert topup.status_code == 200, topup.text

    response = await get(caja.http, who, f"/package_buy/{token}")

    assert_invalid(
        response, "idempotency_token", f"Objeto con idempotency_token={token} no existe.", token
    )


# --- history ------------------------------------------------------------------------------


async def buy_all(caja: Caja, who: Merchant, numbers: list[str]) -> list[dict[str, Any]]:
    bodies = []
    for number in numbers:
        body = package_body(number)
        response = await buy(caja.http, who, body)
        assert response.status_code in (200, 502, 503), response.text
        bodies.append(body)
    return bodies


NUMBERS = ["3110001111", "3110007777", "3110006666", "3110000000"]


async def test_history_lists_ones_own_purchases_oldest_first(caja: Caja) -> None:
    who = await merchant(caja.database, funds=50000)
    other = await merchant(caja.database, funds=50000)
    today = bogota_today()
    await buy_all(caja, other, ["3110001111"])
    sent = await buy_all(caja, who, NUMBERS)
    topup = await caja.http.post(f"{GATEWAY}/topup_account", json=topup_body(), headers=who.headers)
    assert topup.status_code == 200, topup.text

    count, listed = await history(caja.http, who)

    assert count == 4
    for item in listed:
        assert set(item) == HISTORY_FIELDS
        assert BOGOTA_TEXT.fullmatch(item["created_at"])
        assert date.fromisoformat(item["created_at"][:10]) in {today, bogota_today()}
    assert [
        (i["idempotency_token"], i["destination_number"], i["amount"], i["status"]) for i in listed
    ] == [
        (body["idempotency_token"], body["destination_number"], 7500, status)
        for body, status in zip(
            sent, ["AUTHORIZED", "IN_PROGRESS", "UNKNOWN", "REJECTED"], strict=True
        )
    ]
    assert {(i["package_code"], i["provider_code"]) for i in listed} == {("767", "58")}
    other_count, [only] = await history(caja.http, other)
    assert other_count == 1
    assert only["idempotency_token"] not in {body["idempotency_token"] for body in sent}


async def test_history_of_a_merchant_without_purchases_is_empty(caja: Caja) -> None:
    who = await merchant(caja.database)

    assert await history(caja.http, who) == (0, [])


@pytest.mark.parametrize(
    ("page", "per_page", "indexes"),
    [(1, 2, [0, 1]), (2, 2, [2, 3]), (3, 2, [4]), (4, 2, []), (1, 200, [0, 1, 2, 3, 4])],
)
async def test_history_is_paginated_and_counts_everything(
    caja: Caja, page: int, per_page: int, indexes: list[int]
) -> None:
    who = await merchant(caja.database, funds=50000)
    sent = await buy_all(caja, who, ["3110001111"] * 5)

    count, listed = await history(caja.http, who, page=page, per_page=per_page)

    assert count == 5
    assert [i["idempotency_token"] for i in listed] == [
        sent[n]["idempotency_token"] for n in indexes
    ]


async def move_to(database: Database, token: str, moment: datetime) -> None:
    async with database.engine.begin() as connection:
        await connection.execute(
            update(purchases)
            .where(purchases.c.idempotency_token == token)
            .values(created_at=moment)
        )


async def test_history_filters_by_bogota_days(caja: Caja) -> None:
    """03:00 UTC of 2024-12-05 is still 2024-12-04 in Bogotá (UTC-5)."""
    who = await merchant(caja.database, funds=50000)
    late, early, now = await buy_all(caja, who, ["3110001111"] * 3)
    await move_to(caja.database, late["idempotency_token"], datetime(2024, 12, 5, 3, tzinfo=UTC))
    await move_to(caja.database, early["idempotency_token"], datetime(2024, 12, 5, 6, tzinfo=UTC))

    def tokens(listed: list[dict[str, Any]]) -> list[str]:
        return [i["idempotency_token"] for i in listed]

    on_4th = await history(caja.http, who, start_date="2024-12-04", end_date="2024-12-04")
    on_5th = await history(caja.http, who, start_date="2024-12-05", end_date="2024-12-05")
    both = await history(caja.http, who, start_date="2024-12-01", end_date="2024-12-31")
    today = bogota_today()
    around_today = await history(
        caja.http,
        who,
        start_date=(today - timedelta(days=1)).isoformat(),
        end_date=(today + timedelta(days=1)).isoformat(),
    )
    everything = await history(caja.http, who)

    assert (on_4th[0], tokens(on_4th[1])) == (1, [late["idempotency_token"]])
    assert on_4th[1][0]["created_at"] == "2024-12-04 22:00:00"
    assert (on_5th[0], tokens(on_5th[1])) == (1, [early["idempotency_token"]])
    assert on_5th[1][0]["created_at"] == "2024-12-05 01:00:00"
    assert both[0] == 2
    assert (around_today[0], tokens(around_today[1])) == (1, [now["idempotency_token"]])
    assert everything[0] == 3


async def test_history_filter_counts_only_the_range_and_pages_within_it(caja: Caja) -> None:
    who = await merchant(caja.database, funds=50000)
    sent = await buy_all(caja, who, ["3110001111"] * 4)
    for body in sent[:3]:
        await move_to(caja.database, body["idempotency_token"], datetime(2024, 1, 10, tzinfo=UTC))

    count, listed = await history(
        caja.http, who, start_date="2024-01-01", end_date="2024-01-31", page=2, per_page=2
    )

    assert count == 3
    assert [i["idempotency_token"] for i in listed] == [sent[2]["idempotency_token"]]


DATE_ERRORS = [
    ({"start_date": "2024-12-01"}, "end_date", "Este campo es requerido.", ()),
    ({"end_date": "2024-12-01"}, "start_date", "Este campo es requerido.", ()),
    (
        {"start_date": "2024-12-02", "end_date": "2024-12-01"},
        "start_date",
        "start_date no puede ser mayor que end_date.",
        ("2024-12-02",),
    ),
    (
        {"start_date": "2024/12/01", "end_date": "2024-12-02"},
        "start_date",
        "Fecha con formato erróneo. Use uno de los siguientes formatos en su lugar: YYYY-MM-DD.",
        ("2024/12/01",),
    ),
    (
        {"start_date": "2024-12-01", "end_date": "2024-02-30"},
        "end_date",
        "Fecha con formato erróneo. Use uno de los siguientes formatos en su lugar: YYYY-MM-DD.",
        ("2024-02-30",),
    ),
]


@pytest.mark.parametrize(
    ("params", "field", "message", "value"),
    DATE_ERRORS,
    ids=["start only", "end only", "start after end", "bad format", "no such day"],
)
async def test_history_refuses_a_bad_date_range(
    caja: Caja, params: dict[str, str], field: str, message: str, value: tuple[str, ...]
) -> None:
    who = await merchant(caja.database, funds=10000)
    await buy_all(caja, who, ["3110001111"])

    response = await get(caja.http, who, "/package_buy/transactions", params)

    assert_invalid(response, field, message, *value)


async def test_a_one_day_range_is_allowed(caja: Caja) -> None:
    who = await merchant(caja.database, funds=10000)
    [sent] = await buy_all(caja, who, ["3110001111"])
    await move_to(caja.database, sent["idempotency_token"], datetime(2024, 6, 1, 17, tzinfo=UTC))

    count, [only] = await history(caja.http, who, start_date="2024-06-01", end_date="2024-06-01")

    assert count == 1
    assert only["idempotency_token"] == sent["idempotency_token"]


# --- the ledger after all of it --------------------------------------------------------------


async def test_the_ledger_is_consistent_after_every_scenario(caja: Caja) -> None:
    who = await merchant(caja.database, funds=60000, max_loan=1000)
    poor = await merchant(caja.database, funds=1000)
    await buy_all(caja, who, NUMBERS * 2)
    await buy(caja.http, who, package_body(amount=600))
    await buy(caja.http, poor, package_body())
    reused = package_body()
    await buy(caja.http, who, reused)
    await buy(caja.http, who, reused)

    report = await caja.verify()

    assert report.ok, report
    # 3 authorized, 4 held (in progress and unknown), rejected given back.
    assert await ledger(caja.database, who) == (60000 - 3 * 7500, 4 * 7500, 3 * 7500)
    assert await ledger(caja.database, poor) == (1000, 0, 3 * 7500)
