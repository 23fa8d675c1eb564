"""Legacy ledger: ``/api/ledger/v0`` with the key in the ``Authorization`` header."""

from caja.api.ledger_v0.routes import (
    ERRORS,
    FAST_ROUTES,
    PREFIX,
    account_holder,
    admin,
    router,
)
from caja.api.surface import Surface

__all__ = ["PREFIX", "SURFACE"]

SURFACE = Surface(
    name="ledger_v0",
    prefixes=(PREFIX,),
    credentials=(admin, account_holder),
    errors=ERRORS,
    router=router,
    fast_routes=tuple(FAST_ROUTES),
)
