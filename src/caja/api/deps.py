"""What the routes need, typed: the app's services and the dependencies shared by the
surfaces.

The app builds one :class:`Services` and keeps it on the app (``attach_services``).
FastAPI routes reach each part through the ``Annotated`` aliases below
(``DatabaseDep``, ``BatcherDep``, …); the plain routes, which skip FastAPI's
dependency machinery, call :func:`services_of` with their request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel
from starlette.applications import Starlette

from caja.clients.service import Principal, authenticate, key_digest
from caja.config import WalletSettings
from caja.core.errors import CajaError, InvalidInput, Unauthorized
from caja.db.engine import Database
from caja.http.body import read_object, validate
from caja.ledger.batching import Batcher
from caja.providers.bank import BankCore
from caja.providers.operator import OperatorGateway
from caja.providers.sandbox_operator import SandboxOperator

__all__ = [
    "NUL_PROBLEM",
    "BankDep",
    "BatcherDep",
    "DatabaseDep",
    "OperatorDep",
    "Services",
    "ServicesDep",
    "WalletSettingsDep",
    "attach_services",
    "keyed_body",
    "refuse_nul",
    "services_of",
]

M = TypeVar("M", bound=BaseModel)


@dataclass(slots=True)
class Services:
    """Everything the routes use beyond the request, built once by the app. Not frozen:
    a test may swap the operator gateway or the wallet settings of a running app."""

    database: Database
    batcher: Batcher
    operator: OperatorGateway
    bank: BankCore
    wallet: WalletSettings
    sandbox: SandboxOperator | None = None


def attach_services(app: Starlette, services: Services) -> None:
    app.state.services = services


def services_of(app: Starlette) -> Services:
    """The services of ``app`` (for a request: ``services_of(request.app)``)."""
    services = app.state.services
    assert isinstance(services, Services)
    return services


def _services(request: Request) -> Services:
    return services_of(request.app)


def _database(request: Request) -> Database:
    return services_of(request.app).database


def _batcher(request: Request) -> Batcher:
    return services_of(request.app).batcher


def _operator(request: Request) -> OperatorGateway:
    return services_of(request.app).operator


def _bank(request: Request) -> BankCore:
    return services_of(request.app).bank


def _wallet(request: Request) -> WalletSettings:
    return services_of(request.app).wallet


ServicesDep = Annotated[Services, Depends(_services)]
DatabaseDep = Annotated[Database, Depends(_database)]
BatcherDep = Annotated[Batcher, Depends(_batcher)]
OperatorDep = Annotated[OperatorGateway, Depends(_operator)]
BankDep = Annotated[BankCore, Depends(_bank)]
WalletSettingsDep = Annotated[WalletSettings, Depends(_wallet)]

NUL_PROBLEM = "must not contain NUL characters"


def refuse_nul(request: Request, problem: str = NUL_PROBLEM, code: str | None = None) -> None:
    """Refuse a path or query parameter holding a NUL character (``%00``), which no
    database can store or compare with, naming the parameter. The surfaces call it once
    the key is checked, so a caller without a valid key still learns nothing but 401 or
    403."""
    for name, value in (*request.path_params.items(), *request.query_params.multi_items()):
        if isinstance(value, str) and "\x00" in value:
            raise InvalidInput(name, problem, code=code, value=value)


async def keyed_body(
    request: Request,
    header: str,
    model: type[M],
    authorize: Callable[[Principal | None], Principal],
) -> tuple[str, M]:
    """The digest of the key in ``header`` and the body as ``model``, for routes whose
    key is checked later, inside their batch.

    A missing or impossible key is 401 at once. A body that cannot be read or validated
    is refused only after the key is checked here, so a caller without a valid key
    learns nothing but 401 or 403.
    """
    key = request.headers.get(header)
    digest = key_digest(key)
    if digest is None:
        raise Unauthorized()
    try:
        return digest, validate(model, await read_object(request))
    except CajaError:
        authorize(await authenticate(_database(request), key))
        raise
