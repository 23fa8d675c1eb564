"""Ledger v1: ``/api/ledger/v1/public`` with the ``X-Account-api-key`` header."""

from caja.api.errors import LEDGER
from caja.api.ledger_v1.routes import FAST_ROUTES, NAME, PREFIX, ledger_client, router
from caja.api.surface import Surface

__all__ = ["PREFIX", "SURFACE"]

SURFACE = Surface(
    name=NAME,
    prefixes=(PREFIX,),
    credentials=(ledger_client,),
    errors=LEDGER,
    router=router,
    fast_routes=tuple(FAST_ROUTES),
)
