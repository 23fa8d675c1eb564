"""Top-ups and mobile packages: ``/api/gateway_topup/v1`` (and ``/api/gateway_top-up/v1``),
with ``Authorization: Basic base64(<key>)``."""

from caja.api.topup.routes import ALIAS, PREFIX, SURFACES, router

__all__ = ["ALIAS", "PREFIX", "SURFACES", "router"]
