"""The wallet: ``/api/wallet/v1``, with the log-in token in ``X-Authorization``."""

from caja.api.surface import Surface
from caja.api.wallet.render import ERRORS
from caja.api.wallet.routes import PREFIX, caller, router

__all__ = ["PREFIX", "SURFACE"]

SURFACE = Surface(
    name="wallet",
    prefixes=(PREFIX,),
    credentials=(caller,),
    errors=ERRORS,
    router=router,
)
