"""Electronic deposit accounts: ``/api/coopcentral/v1``, with ``Authorization: Token <key>``."""

from caja.api.deposit.routes import PREFIX, SURFACE, router

__all__ = ["PREFIX", "SURFACE", "router"]
