"""Ledger v1: ``/api/ledger/v1/public`` with the ``X-Account-api-key`` header."""

from caja.api.ledger_v1.routes import PREFIX, router

__all__ = ["PREFIX", "router"]
