"""Electronic deposit accounts: ``/api/coopcentral/v1``, with ``Authorization: Token <key>``."""

from caja.api.deposit.render import ERRORS
from caja.api.deposit.routes import PREFIX, client, router
from caja.api.surface import Surface

__all__ = ["PREFIX", "SURFACE"]

SURFACE = Surface(
    name="deposit",
    prefixes=(PREFIX,),
    credentials=(client,),
    errors=ERRORS,
    router=router,
)
