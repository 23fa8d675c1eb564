"""Legacy ledger: ``/api/ledger/v0`` with the key in the ``Authorization`` header."""

from caja.api.ledger_v0.routes import FAST_ROUTES, PREFIX, router

__all__ = ["FAST_ROUTES", "PREFIX", "router"]
