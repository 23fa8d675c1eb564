"""Events and webhooks: ``/api/events/v1`` with the ``X-Account-api-key`` header, for a
client of any scope: its webhook endpoints, its events, their deliveries, and its
balance monitors."""

from caja.api.events.render import ERRORS
from caja.api.events.routes import PREFIX, events_client, router
from caja.api.surface import Surface

__all__ = ["PREFIX", "SURFACE"]

SURFACE = Surface(
    name="events",
    prefixes=(PREFIX,),
    credentials=(events_client,),
    errors=ERRORS,
    router=router,
)
