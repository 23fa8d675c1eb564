"""The events surface's answers: endpoints, deliveries and monitors as JSON (the command
line prints the same objects), and its errors as ``{"code", "message"}``: 401 without a
valid key, 404 for an id that names nothing of the caller's, 422 for bad input."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from caja.api.errors import code_message_body, ledger_status
from caja.api.surface import Renderer, status_table
from caja.core.clock import iso_utc
from caja.core.errors import CajaError, InvalidInput, NotFound
from caja.core.money import format_minor
from caja.ledger.events import EventRow
from caja.ledger.monitors import MonitorView
from caja.webhooks.service import AttemptView, DeliveryView, EndpointView

__all__ = [
    "ERRORS",
    "attempt_json",
    "delivery_json",
    "endpoint_json",
    "events_page",
    "monitor_json",
]

_own_status = status_table([(InvalidInput, 422), (NotFound, 404)])


def _status(error: CajaError) -> int:
    own = _own_status(error)
    return own if own != 500 else ledger_status(error)


ERRORS = Renderer(_status, code_message_body)


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else iso_utc(moment)


def endpoint_json(found: EndpointView) -> dict[str, Any]:
    """An endpoint as listed: never its secret."""
    return {
        "endpoint_id": found.token,
        "url": found.url,
        "events": None if found.event_types is None else list(found.event_types),
        "enabled": found.enabled,
        "disabled_reason": found.disabled_reason,
        "disabled_at": _time(found.disabled_at),
        "created_at": iso_utc(found.created_at),
    }


def delivery_json(found: DeliveryView) -> dict[str, Any]:
    return {
        "delivery_id": found.id,
        "endpoint_id": found.endpoint_token,
        "event_id": found.event_token,
        "event_type": found.event_type,
        "status": found.status,
        "attempts": found.attempts,
        "next_attempt_at": _time(found.next_attempt_at) if found.status == "pending" else None,
        "last_status_code": found.last_status_code,
        "last_error": found.last_error,
        "delivered_at": _time(found.delivered_at),
        "created_at": iso_utc(found.created_at),
    }


def attempt_json(found: AttemptView) -> dict[str, Any]:
    return {
        "attempted_at": iso_utc(found.attempted_at),
        "status_code": found.status_code,
        "error": found.error,
        "response": found.response,
        "duration_ms": found.duration_ms,
    }


def monitor_json(found: MonitorView) -> dict[str, Any]:
    return {
        "monitor_id": found.token,
        "account_token": found.account_token,
        "direction": found.direction.value,
        "threshold": format_minor(found.threshold_minor, found.scale),
        "created_at": iso_utc(found.created_at),
    }


def events_page(rows: Sequence[EventRow], next_after: str | None) -> bytes:
    """``{"events": [...], "next_after": ...}``, each event as it is delivered."""
    return orjson.dumps({"events": [row.as_json() for row in rows], "next_after": next_after})
