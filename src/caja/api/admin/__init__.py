"""The ops console's API: ``/admin/api``, with a key of the ``admin`` scope."""

from caja.api.admin.render import ERRORS
from caja.api.admin.routes import PREFIX, admin_key, router
from caja.api.surface import Surface

__all__ = ["PREFIX", "SURFACE"]

SURFACE = Surface(
    name="admin",
    prefixes=(PREFIX,),
    credentials=(admin_key,),
    errors=ERRORS,
    router=router,
)
