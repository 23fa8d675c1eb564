"""Top-ups and mobile packages: ``/api/gateway_topup/v1`` (and ``/api/gateway_top-up/v1``),
with ``Authorization: Basic base64(<key>)``."""

from caja.api.surface import Surface
from caja.api.topup.render import ERRORS
from caja.api.topup.routes import ALIAS, PREFIX, merchant, router

__all__ = ["ALIAS", "PREFIX", "SURFACE"]

SURFACE = Surface(
    name="topup",
    prefixes=(PREFIX, ALIAS),
    credentials=(merchant,),
    errors=ERRORS,
    router=router,
    mounts=(PREFIX, ALIAS),
)
