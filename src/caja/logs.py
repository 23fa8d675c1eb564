"""JSON log lines: the formatter, the request id they carry, the server's logging setup.

Every line is one JSON object with at least ``ts`` (ISO 8601, UTC, milliseconds),
``level`` and ``event``. A line written while a request is being served carries that
request's ``request_id``.
"""

from __future__ import annotations

import logging
import time
from contextvars import ContextVar
from typing import Any

import orjson

__all__ = ["LOG_CONFIG", "JsonFormatter", "request_id", "timestamp"]

request_id: ContextVar[str | None] = ContextVar("caja_request_id", default=None)
"""The id of the request being served in this context, ``None`` outside a request."""

_MILLIS = tuple(f".{millis:03d}Z" for millis in range(1000))
_cached_second: tuple[int, str] = (-1, "")


def timestamp(nanoseconds: int) -> str:
    """``nanoseconds`` since the epoch as ``2024-12-05T14:20:29.123Z``."""
    global _cached_second
    second, rest = divmod(nanoseconds, 1_000_000_000)
    cached = _cached_second
    if cached[0] != second:
        cached = _cached_second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return cached[1] + _MILLIS[rest // 1_000_000]


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: ts, level, logger, event and, when set,
    request_id and the exception's traceback (``exc``)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": timestamp(int(record.created * 1_000_000_000)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        current = request_id.get()
        if current is not None:
            entry["request_id"] = current
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str).decode()


LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": JsonFormatter}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        },
    },
    "loggers": {
        "caja": {"level": "INFO"},
        "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
    },
    "root": {"handlers": ["stderr"], "level": "WARNING"},
}
"""The logging setup of ``caja serve``: every logger's lines as JSON on standard error.

uvicorn's access log is off; the request log of :mod:`caja.http.observe` replaces it.
"""
