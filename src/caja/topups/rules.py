"""The gateway's business rules: what a purchase may be, checked before it is made.

A top-up's amount lies within bounds and in whole hundreds; the operator, the package
and its provider exist and are enabled, and the package's provider and price match the
request. Each refusal is :class:`InvalidInput` in the API document's own (Spanish)
words, naming the field and the value. :func:`buy` and :func:`find` are what the
routes call: the checks then the purchase, and a purchase looked up by its token, with
errors that say which token they are about.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.engine import Connection

from caja.core.errors import DuplicateRequest, InvalidInput, NotFound
from caja.db.engine import Database
from caja.ledger.batching import Batcher
from caja.providers.operator import OperatorGateway
from caja.topups import catalog
from caja.topups import service as topups
from caja.topups.service import Bought, Kind, Merchant, Purchase, PurchaseData

__all__ = [
    "TOPUP_MAX",
    "TOPUP_MIN",
    "TOPUP_STEP",
    "DuplicatePurchase",
    "PurchaseNotFound",
    "bounded_amount",
    "buy",
    "check_step",
    "find",
    "with_route",
]

TOPUP_MIN, TOPUP_MAX, TOPUP_STEP = 1_000, 100_000, 100


class DuplicatePurchase(DuplicateRequest):
    """A purchase's idempotency token already used, for a purchase of ``kind``."""

    def __init__(self, kind: Kind, token: str, *, in_flight: bool) -> None:
        self.kind = kind
        self.token = token
        super().__init__(in_flight=in_flight)


class PurchaseNotFound(NotFound):
    """No purchase of the merchant's has this idempotency token."""

    code = "PurchaseNotFound"

    def __init__(self, message: str, token: str) -> None:
        self.token = token
        super().__init__(message)


def bounded_amount(amount: int, what: str) -> int:
    """``amount`` within the gateway's bounds, refused in the seed's words for ``what``
    ("de la recarga", "del paquete")."""
    for breaks, side, bound in (
        (amount < TOPUP_MIN, "menor", TOPUP_MIN),
        (amount > TOPUP_MAX, "mayor", TOPUP_MAX),
    ):
        if breaks:
            raise InvalidInput(
                "amount", f"El monto {what} no puede ser {side} a {bound}.00.", value=amount
            )
    return amount


def check_step(amount: int) -> None:
    """A top-up is bought in whole hundreds."""
    if amount % TOPUP_STEP:
        raise InvalidInput(
            "amount", f"Ensure the given value ({amount}) is divisible by 100.", value=amount
        )


def _with_operator(connection: Connection, data: PurchaseData) -> PurchaseData:
    assert data.service_provider is not None
    found = catalog.operator(connection, data.service_provider)
    if found is None or not found.enabled:
        raise InvalidInput(
            "service_provider",
            f"Objeto con slug={data.service_provider} no existe.",
            value=data.service_provider,
        )
    return replace(data, route=found.route)


def _check_provider(connection: Connection, code: str) -> str:
    """The route of the enabled package provider ``code``."""
    provider = catalog.provider(connection, code)
    if provider is None:
        raise InvalidInput(
            "provider_code", f"Objeto con provider_code={code} no existe", value=code
        )
    if not provider.enabled:
        raise InvalidInput(
            "provider_code", "El operador móvil del paquete no está habilitado.", value=code
        )
    return str(provider.route)


def _with_package(connection: Connection, data: PurchaseData) -> PurchaseData:
    code, package_code = data.provider_code, data.package_code
    assert code is not None
    assert package_code is not None
    route = _check_provider(connection, code)
    package = catalog.package(connection, package_code)
    if package is None:
        raise InvalidInput(
            "package_code", f"Objeto con package_code={package_code} no existe", value=package_code
        )
    if not package.enabled:
        raise InvalidInput(
            "package_code", "El paquete móvil no está habilitado.", value=package_code
        )
    if package.provider_code != code:
        raise InvalidInput(
            "provider_code", "El service_provider se debe corresponder con el mobile_package.",
            value=code,
        )  # fmt: skip
    if package.amount != data.amount:
        raise InvalidInput(
            "amount",
            f"El monto no corresponde al valor del paquete móvil ({package.amount}).",
            value=data.amount,
        )
    return replace(data, route=route)


async def with_route(database: Database, data: PurchaseData) -> PurchaseData:
    """``data`` checked against the catalog, with the operator route it goes by."""
    check = _with_operator if data.kind is Kind.TOPUP else _with_package
    async with database.read() as connection:
        return await connection.run_sync(check, data)


async def buy(
    database: Database,
    batcher: Batcher,
    gateway: OperatorGateway,
    who: Merchant,
    data: PurchaseData,
) -> Bought:
    """Check ``data`` against the catalog, then buy (:func:`caja.topups.service.buy`).
    A token already used is :class:`DuplicatePurchase`, which names it."""
    data = await with_route(database, data)
    try:
        return await topups.buy(batcher, gateway, who, data)
    except DuplicateRequest as duplicate:
        raise DuplicatePurchase(
            data.kind, data.idempotency_token, in_flight=duplicate.in_flight
        ) from None


async def find(database: Database, who: Merchant, kind: Kind, token: str) -> Purchase:
    """The merchant's purchase of ``kind`` with idempotency token ``token``."""
    try:
        return await topups.get_purchase(database, who.client_id, kind, token)
    except NotFound as missing:
        raise PurchaseNotFound(missing.message, token) from None
