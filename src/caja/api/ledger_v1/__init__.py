"""Ledger v1: ``/api/ledger/v1/public`` with the ``X-Account-api-key`` header."""

from caja.api.ledger_v1.routes import FAST_ROUTES, PREFIX, router

__all__ = ["FAST_ROUTES", "PREFIX", "router"]
