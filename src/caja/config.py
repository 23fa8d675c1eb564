"""Settings from the environment."""

from __future__ import annotations

import os
from typing import Any

__all__ = [
    "DEFAULT_DATABASE_URL",
    "access_log",
    "batch_settings",
    "bench_endpoint",
    "database_url",
]

DEFAULT_DATABASE_URL = "sqlite:///caja.db"


def database_url() -> str:
    """``CAJA_DATABASE_URL``: ``sqlite:///path.db`` (default ``caja.db`` here) or
    ``postgresql://user:password@host:port/name``."""
    return os.environ.get("CAJA_DATABASE_URL", DEFAULT_DATABASE_URL)


def access_log() -> bool:
    """``CAJA_ACCESS_LOG=0`` turns the JSON request log off (metrics stay on)."""
    return os.environ.get("CAJA_ACCESS_LOG", "1") != "0"


def bench_endpoint() -> bool:
    """``CAJA_BENCH_ENDPOINT=1`` adds ``POST /_bench/empty``, the benchmark's baseline."""
    return os.environ.get("CAJA_BENCH_ENDPOINT") == "1"


def batch_settings() -> dict[str, Any]:
    """How transfers are grouped into transactions (see docs/performance.md).

    ``CAJA_BATCH_MAX_SIZE`` (default 256) operations at most per transaction;
    ``CAJA_BATCH_MAX_WAIT_MS`` (default 0) how long a batch waits for more once it has
    one; ``CAJA_BATCH_CONCURRENCY`` (default 1) batches in flight per process on
    PostgreSQL (SQLite writes one at a time).
    """
    settings: dict[str, Any] = {}
    size = os.environ.get("CAJA_BATCH_MAX_SIZE")
    if size:
        settings["max_size"] = int(size)
    wait = os.environ.get("CAJA_BATCH_MAX_WAIT_MS")
    if wait:
        settings["max_wait"] = int(wait) / 1000
    concurrency = os.environ.get("CAJA_BATCH_CONCURRENCY")
    if concurrency:
        settings["concurrency"] = int(concurrency)
    return settings
