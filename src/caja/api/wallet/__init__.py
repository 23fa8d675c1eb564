"""The wallet: ``/api/wallet/v1``, with the log-in token in ``X-Authorization``."""

from caja.api.wallet.routes import PREFIX, SURFACE, router

__all__ = ["PREFIX", "SURFACE", "router"]
