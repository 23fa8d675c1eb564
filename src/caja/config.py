"""Settings from the environment."""

from __future__ import annotations

import os

__all__ = ["DEFAULT_DATABASE_URL", "database_url"]

DEFAULT_DATABASE_URL = "sqlite:///caja.db"


def database_url() -> str:
    """``CAJA_DATABASE_URL``: ``sqlite:///path.db`` (default ``caja.db`` here) or
    ``postgresql://user:password@host:port/name``."""
    return os.environ.get("CAJA_DATABASE_URL", DEFAULT_DATABASE_URL)
