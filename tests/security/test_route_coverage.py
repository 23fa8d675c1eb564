"""Every route the app serves is listed here with the inputs that name what a client or a
person owns, and each such input has an isolation test: a new route, a new path
parameter or a new documented id field fails here until it is classified and tested."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from caja.app import create_app
from caja.db.engine import Database

# The modules whose tests register what they cover, imported so that running this file
# alone sees their registrations too.
from tests.integration import test_bulk_transfers, test_wallet_requests  # noqa: F401
from tests.security import (  # noqa: F401
    test_isolation_deposit,
    test_isolation_events,
    test_isolation_gateway,
    test_isolation_ledger,
    test_isolation_wallet,
    test_login_throttle,
)
from tests.security.tenants import COVERED, api_routes

V1 = "/api/ledger/v1/public"
V0 = "/api/ledger/v0"
GATEWAYS = ("/api/gateway_topup/v1", "/api/gateway_top-up/v1")
COOP = "/api/coopcentral/v1"
WALLET = "/api/wallet/v1"
ADMIN = "/admin/api"
EVENTS = "/api/events/v1"
_ADMIN = (
    ("GET", "/summary", ()),
    ("GET", "/search", ()),
    ("GET", "/transfers", ("client", "account", "cursor")),
    ("GET", "/transfers/{token}", ("token",)),
    ("GET", "/accounts/{token}", ("token",)),
    ("GET", "/accounts/{token}/entries", ("token", "cursor")),
    ("GET", "/purchases", ("cursor",)),
    ("POST", "/purchases/reconcile", ()),
    ("POST", "/verify", ()),
    ("GET", "/verify", ()),
    ("GET", "/audit", ("cursor",)),
    ("GET", "/webhooks", ()),
    ("GET", "/webhooks/deliveries", ("endpoint", "client", "cursor")),
    ("GET", "/webhooks/deliveries/{delivery_id}", ("delivery_id",)),
    ("POST", "/webhooks/{endpoint_id}/enable", ("endpoint_id",)),
    ("POST", "/events/{event_id}/replay", ("event_id",)),
)

# Route -> the inputs (path, query or body) naming something a client or person owns.
_GATEWAY_ROUTES: dict[tuple[str, str], frozenset[str]] = {
    (method, prefix + path): frozenset(inputs)
    for prefix in GATEWAYS
    for method, path, inputs in (
        ("GET", "/merchant/balance", ()),
        ("GET", "/service_providers", ()),
        ("GET", "/mobile_package_service_providers_list", ()),
        ("GET", "/packages", ()),
        ("POST", "/topup_account", ("idempotency_token",)),
        ("POST", "/package_buy", ("idempotency_token",)),
        ("GET", "/topup_account/transactions", ()),
        ("GET", "/package_buy/transactions", ()),
        ("GET", "/topup_account/{idempotency_token}", ("idempotency_token",)),
        ("GET", "/package_buy/{idempotency_token}", ("idempotency_token",)),
    )
}
OWNED: dict[tuple[str, str], frozenset[str]] = {
    ("POST", f"{V1}/account"): frozenset(
        {"phone_number", "owner_legal_id_type", "owner_legal_id_number"}
    ),
    ("GET", f"{V1}/account/{{account_token}}"): frozenset({"account_token"}),
    ("GET", f"{V1}/account/{{account_token}}/statement"): frozenset({"account_token"}),
    ("GET", f"{V1}/account/{{account_token}}/transactions"): frozenset({"account_token", "cursor"}),
    ("POST", f"{V1}/transaction"): frozenset(
        {"origin_account", "destination_account", "unique_transfer_token"}
    ),
    ("GET", f"{V1}/transaction/{{unique_transfer_token}}"): frozenset({"unique_transfer_token"}),
    ("POST", f"{V1}/transaction/batch"): frozenset({"transactions"}),
    ("POST", f"{V0}/account"): frozenset(
        {"phone_number", "owner_legal_id_type", "owner_legal_id_number"}
    ),
    ("GET", f"{V0}/my/balance"): frozenset(),
    ("POST", f"{V0}/my/transfer"): frozenset({"destination_phone_number", "unique_transfer_token"}),
    **_GATEWAY_ROUTES,
    ("POST", f"{COOP}/accounts/create"): frozenset(
        {
            "identification_type",
            "identification_number",
            "identification_issued_at",
            "mobile_phone_number",
            "email",
        }
    ),
    ("GET", f"{COOP}/accounts/balance"): frozenset({"account_token"}),
    ("GET", f"{COOP}/accounts/statement"): frozenset({"account_token"}),
    ("POST", f"{COOP}/transactions/create"): frozenset(
        {"origin_account", "destination_account", "unique_transfer_token"}
    ),
    ("POST", f"{COOP}/transactions/revert"): frozenset({"idempotency_token"}),
    ("GET", f"{COOP}/transactions"): frozenset({"account_token"}),
    ("POST", f"{WALLET}/auth/signup"): frozenset(),
    ("POST", f"{WALLET}/auth/login"): frozenset({"phone_number"}),
    ("GET", f"{WALLET}/profile/"): frozenset(),
    ("GET", f"{WALLET}/profile/account/{{account_id}}"): frozenset({"account_id"}),
    ("GET", f"{WALLET}/contact"): frozenset(),
    ("POST", f"{WALLET}/profile/contact"): frozenset({"profile_id"}),
    ("GET", f"{WALLET}/profile/contact"): frozenset(),
    ("DELETE", f"{WALLET}/profile/contact/{{profile_id}}"): frozenset({"profile_id"}),
    ("POST", f"{WALLET}/profile/send-to-profile"): frozenset({"from_account_id", "to_profile_id"}),
    ("GET", f"{WALLET}/profile/payment_transaction"): frozenset(),
    ("POST", f"{WALLET}/profile/payment_request"): frozenset(),
    ("GET", f"{WALLET}/profile/payment_request"): frozenset(),
    ("GET", f"{WALLET}/profile/payment_request/{{request_id}}"): frozenset(),
    ("GET", f"{WALLET}/profile/payment_request/{{request_id}}/qr.svg"): frozenset(),
    ("POST", f"{WALLET}/profile/payment_request/{{request_id}}/pay"): frozenset(
        {"from_account_id"}
    ),
    ("DELETE", f"{WALLET}/profile/payment_request/{{request_id}}"): frozenset({"request_id"}),
    ("POST", f"{EVENTS}/endpoints"): frozenset(),
    ("GET", f"{EVENTS}/endpoints"): frozenset(),
    ("GET", f"{EVENTS}/endpoints/{{endpoint_id}}"): frozenset({"endpoint_id"}),
    ("DELETE", f"{EVENTS}/endpoints/{{endpoint_id}}"): frozenset({"endpoint_id"}),
    ("POST", f"{EVENTS}/endpoints/{{endpoint_id}}/rotate"): frozenset({"endpoint_id"}),
    ("POST", f"{EVENTS}/endpoints/{{endpoint_id}}/enable"): frozenset({"endpoint_id"}),
    ("GET", f"{EVENTS}/events"): frozenset({"after"}),
    ("GET", f"{EVENTS}/events/{{event_id}}"): frozenset({"event_id"}),
    ("POST", f"{EVENTS}/events/{{event_id}}/replay"): frozenset({"event_id"}),
    ("GET", f"{EVENTS}/deliveries"): frozenset({"endpoint_id"}),
    ("GET", f"{EVENTS}/deliveries/{{delivery_id}}"): frozenset({"delivery_id"}),
    ("POST", f"{EVENTS}/monitors"): frozenset({"account_token"}),
    ("GET", f"{EVENTS}/monitors"): frozenset({"account_token"}),
    ("DELETE", f"{EVENTS}/monitors/{{monitor_id}}"): frozenset({"monitor_id"}),
    # Pages, documentation, operations and the sandbox operator: no one's ids.
    ("GET", "/openapi.json"): frozenset(),
    ("GET", "/docs"): frozenset(),
    ("*", "/docs/assets"): frozenset(),
    ("GET", "/"): frozenset(),
    ("GET", "/redoc"): frozenset(),
    ("GET", "/app"): frozenset(),
    ("GET", "/admin"): frozenset(),
    # The ops console's API: a key with the admin scope reads every client's data.
    **{(method, ADMIN + path): frozenset() for method, path, _ in _ADMIN},
    ("*", "/sandbox/operator"): frozenset(),
    ("GET", "/metrics"): frozenset(),
    ("GET", "/healthz"): frozenset(),
    ("GET", "/readyz"): frozenset(),
}

# Inputs that look like ids but name nothing a client or a person owns, and why.
_CATALOG = "the operators' catalog, one for every merchant"
_NOT_OWNED_GATEWAY = {
    ("POST", "/topup_account", "destination_number"): "the phone the operator tops up",
    ("POST", "/topup_account", "payment_token"): "the merchant's own note, never looked up",
    ("POST", "/topup_account", "service_provider"): _CATALOG,
    ("POST", "/package_buy", "destination_number"): "the phone the operator tops up",
    ("POST", "/package_buy", "payment_token"): "the merchant's own note, never looked up",
    ("POST", "/package_buy", "provider_code"): _CATALOG,
    ("POST", "/package_buy", "package_code"): _CATALOG,
    ("GET", "/packages", "provider_identifier"): _CATALOG,
}
NOT_OWNED: dict[tuple[str, str, str], str] = {
    **{
        (method, prefix + path, name): why
        for prefix in GATEWAYS
        for (method, path, name), why in _NOT_OWNED_GATEWAY.items()
    },
    ("GET", f"{WALLET}/contact", "find"): "finding a person by phone is the endpoint's purpose",
    ("POST", f"{WALLET}/auth/signup", "phone_number"): "one profile per phone, for everyone",
    ("GET", f"{WALLET}/profile/payment_transaction", "cursor"): "a bound within the caller's "
    "own list: it names nothing by itself",
    **{
        (method, f"{WALLET}/profile/payment_request/{{request_id}}{tail}", "request_id"): (
            "a request's id is the link its requester shares: anyone logged in reads and pays it"
        )
        for method, tail in (("GET", ""), ("GET", "/qr.svg"), ("POST", "/pay"))
    },
    **{
        (method, ADMIN + path, name): "the admin scope is for operators, who see every client"
        for method, path, names in _ADMIN
        for name in names
    },
}

ID_LIKE = re.compile(r"token|account|_id$|^id$|phone|number|cursor|code|identif|provider|find")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    """The app as the server builds it; these tests read its routes, never its database."""
    path = Path(tmp_path_factory.mktemp("routes")) / "unused.db"
    return create_app(Database(f"sqlite:///{path}"))


def _documented_inputs(app: FastAPI) -> Iterator[tuple[str, str, str]]:
    """(method, OpenAPI path, name) of every parameter and body field OpenAPI documents."""
    spec = app.openapi()
    schemas = spec.get("components", {}).get("schemas", {})
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                yield method.upper(), path, parameter["name"]
            content = operation.get("requestBody", {}).get("content", {})
            schema: dict[str, Any] = content.get("application/json", {}).get("schema", {})
            if "$ref" in schema:
                schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
            for name in schema.get("properties", {}):
                yield method.upper(), path, name


def test_every_route_is_classified(app: FastAPI) -> None:
    served = set(api_routes(app))

    assert sorted(served - set(OWNED)) == [], "routes to classify in OWNED"
    assert sorted(set(OWNED) - served) == [], "OWNED lists routes the app no longer serves"


def test_every_path_parameter_is_classified(app: FastAPI) -> None:
    unclassified = [
        (method, path, name)
        for method, path in api_routes(app)
        for name in re.findall(r"\{(\w+)\}", path)
        if name not in OWNED.get((method, path), frozenset())
        and (method, path, name) not in NOT_OWNED
    ]

    assert unclassified == []


def test_every_documented_id_field_is_classified(app: FastAPI) -> None:
    documented = list(_documented_inputs(app))
    unclassified = [
        (method, path, name)
        for method, path, name in documented
        if ID_LIKE.search(name)
        and name not in OWNED.get((method, path), frozenset())
        and (method, path, name) not in NOT_OWNED
    ]

    assert len(documented) > 40  # the ledger, gateway and deposit bodies are documented
    assert unclassified == []


def test_every_owned_input_has_an_isolation_test() -> None:
    missing = sorted(
        (method, path, name)
        for (method, path), names in OWNED.items()
        for name in names
        if (method, path, name) not in COVERED
    )

    assert missing == []
    assert not {(method, path) for method, path, _ in COVERED} - set(OWNED)
