"""OpenAPI documentation of the events surface: bodies, answers and their examples.

The routes read bodies and write answers themselves; the models here describe them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from caja.api.openapi import Responses, documented
from caja.ledger.events import EVENT_TYPES

__all__ = [
    "DELETED",
    "DELIVERIES",
    "DELIVERY",
    "ENDPOINT",
    "ENDPOINTS",
    "ENDPOINT_CREATED",
    "EVENT",
    "EVENTS",
    "MONITORS",
    "MONITOR_CREATED",
    "REPLAYED",
    "ROTATED",
    "EndpointIn",
    "ErrorOut",
    "MonitorIn",
    "error",
]

_AT = "2026-12-06T15:04:05.123456Z"
_ENDPOINT_ID = "we_5kq2n8x4c7v1b3m6z9a0s2d4f6g8"
_EVENT_ID = "evt_7h2k4m6n8p0q2r4s6t8v0w2x4y6z"
_ACCOUNT = "acc-sen2h7an42w2smdtpqhpscr6bwlh"
_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

_AMOUNT_SCHEMA = WithJsonSchema(
    {
        "anyOf": [
            {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"},
            {"type": "number"},
        ],
        "description": "An amount in the account's asset, at most its decimals; zero and "
        "negative amounts are allowed (an account with an overdraft goes below zero).",
        "examples": ["1000.00"],
    }
)


class ErrorOut(BaseModel):
    """The surface's error body."""

    code: str
    message: str


def error(description: str, code: str, message: str) -> dict[str, Any]:
    return documented(ErrorOut, description, {"code": code, "message": message})


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    url: str = Field(
        max_length=2048,
        description="http or https; loopback and private addresses are refused unless the "
        "server sets CAJA_WEBHOOKS_ALLOW_PRIVATE=1.",
    )
    events: list[str] | None = Field(
        default=None,
        description="The event types to send; absent or empty: every type. The types: "
        + ", ".join(EVENT_TYPES)
        + ".",
        max_length=len(EVENT_TYPES),
    )


class MonitorIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    account_token: str = Field(max_length=40, description="One of your accounts.")
    below: Annotated[Any, _AMOUNT_SCHEMA] = Field(
        default=None, description="Fire when the balance goes from this or more to less."
    )
    above: Annotated[Any, _AMOUNT_SCHEMA] = Field(
        default=None, description="Fire when the balance goes from this or less to more."
    )


class EndpointOut(BaseModel):
    endpoint_id: str
    url: str
    events: list[str] | None = Field(description="The types sent; null: every type.")
    enabled: bool
    disabled_reason: str | None = Field(
        description="Why caja stopped sending (the receiver answered 410, or failed past "
        "the retry schedule); null while enabled."
    )
    disabled_at: str | None
    created_at: str


class EndpointCreatedOut(EndpointOut):
    secret: str = Field(description="The signing secret, shown only in this answer.")


class EndpointsOut(BaseModel):
    endpoints: list[EndpointOut]


class RotatedOut(BaseModel):
    endpoint_id: str
    secret: str = Field(description="The new signing secret, shown only in this answer.")
    previous_secret_until: str | None = Field(
        description="Until when the previous secret signs too (24 hours)."
    )


class EventOut(BaseModel):
    id: str = Field(description="evt_…, the same as the webhook-id header of its deliveries.")
    type: str
    created_at: str
    data: dict[str, Any] = Field(description="The object as its surface's GET answers it.")


class EventsOut(BaseModel):
    events: list[EventOut]
    next_after: str | None = Field(
        description="Give it as `after` for the next page; null when this page is the last "
        "for now (poll again later with the last event's id)."
    )


class ReplayedOut(BaseModel):
    deliveries: int = Field(description="How many endpoints the event will be sent to again.")


class DeliveryOut(BaseModel):
    delivery_id: int
    endpoint_id: str
    event_id: str
    event_type: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: str | None = Field(
        description="When the next try is due; null unless pending."
    )
    last_status_code: int | None
    last_error: str | None
    delivered_at: str | None
    created_at: str


class AttemptOut(BaseModel):
    attempted_at: str
    status_code: int | None = Field(description="The receiver's status; null if none came.")
    error: str | None = Field(description="What went wrong: timeout, refused connection…")
    response: str | None = Field(description="The start of the receiver's answer.")
    duration_ms: int


class DeliveryDetailOut(DeliveryOut):
    attempts_made: list[AttemptOut] = Field(description="Every try, oldest first.")


class DeliveriesOut(BaseModel):
    deliveries: list[DeliveryOut]
    next_before: int | None = Field(
        description="Give it as `before` for the next (older) page; null on the last page."
    )


class MonitorOut(BaseModel):
    monitor_id: str
    account_token: str
    direction: Literal["below", "above"]
    threshold: str = Field(description="In the account's asset, as a decimal string.")
    created_at: str


class MonitorsOut(BaseModel):
    monitors: list[MonitorOut]


_ENDPOINT = {
    "endpoint_id": _ENDPOINT_ID,
    "url": "https://hooks.example.com/caja",
    "events": ["ledger.transfer.created", "balance.crossed"],
    "enabled": True,
    "disabled_reason": None,
    "disabled_at": None,
    "created_at": _AT,
}
_EVENT = {
    "id": _EVENT_ID,
    "type": "ledger.transfer.created",
    "created_at": _AT,
    "data": {
        "token": "tx-3f1c9a0e6b2d4c8f9a1b2c3d4e5f6a7b",
        "date_created": _AT,
        "origin_account": _ACCOUNT,
        "origin_account_balance": 9000.00,
        "destination_account": "acc-ttwhmsaaw9in276w37ev04t66ho5",
        "amount": "1000.00",
        "description": "test tx",
        "unique_transfer_token": "unique_transfer_token",
    },
}
_DELIVERY = {
    "delivery_id": 42,
    "endpoint_id": _ENDPOINT_ID,
    "event_id": _EVENT_ID,
    "event_type": "ledger.transfer.created",
    "status": "delivered",
    "attempts": 2,
    "next_attempt_at": None,
    "last_status_code": 200,
    "last_error": None,
    "delivered_at": _AT,
    "created_at": _AT,
}
_MONITOR = {
    "monitor_id": "mon_2b4d6f8h0j2l4n6p8r0t2v4x6z8b",
    "account_token": _ACCOUNT,
    "direction": "below",
    "threshold": "1000.00",
    "created_at": _AT,
}

_NO_ENDPOINT = error(
    "No endpoint of yours has this id", "EndpointNotFound", "The endpoint does not exist."
)
_NO_EVENT = error("No event of yours has this id", "EventNotFound", "The event does not exist.")
_INVALID = error("Invalid data", "InvalidData", "url: A URL is required.")


def _answer(status: int, model: type[BaseModel], description: str, example: Any) -> Responses:
    return {status: documented(model, description, example)}


def _empty(description: str) -> Responses:
    """A 204: no body."""
    return {204: {"description": description}}


ENDPOINT_CREATED: Responses = {
    **_answer(
        201, EndpointCreatedOut, "The endpoint, with its secret", {**_ENDPOINT, "secret": _SECRET}
    ),
    422: error(
        "A URL that is not http(s), a private or loopback address, an unknown event type",
        "PrivateUrl",
        "url: The URL's host is a loopback or private address, or does not resolve.",
    ),
}
ENDPOINTS = _answer(200, EndpointsOut, "Your endpoints, oldest first", {"endpoints": [_ENDPOINT]})
ENDPOINT = {**_answer(200, EndpointOut, "The endpoint", _ENDPOINT), 404: _NO_ENDPOINT}
DELETED = {**_empty("Removed: nothing more is sent to it"), 404: _NO_ENDPOINT}
ROTATED = {
    **_answer(
        200,
        RotatedOut,
        "The new secret",
        {"endpoint_id": _ENDPOINT_ID, "secret": _SECRET, "previous_secret_until": _AT},
    ),
    404: _NO_ENDPOINT,
}
EVENTS = {
    **_answer(
        200,
        EventsOut,
        "Your events after `after`, oldest first",
        {"events": [_EVENT], "next_after": _EVENT_ID},
    ),
    422: error(
        "`after` is not one of your events, or a bad limit or type",
        "EventNotFound",
        "after: is not one of your events",
    ),
}
EVENT = {**_answer(200, EventOut, "The event, as it is delivered", _EVENT), 404: _NO_EVENT}
REPLAYED = {
    **_answer(202, ReplayedOut, "The event will be sent again", {"deliveries": 1}),
    404: _NO_EVENT,
}
DELIVERIES = {
    **_answer(
        200,
        DeliveriesOut,
        "Your deliveries, newest first",
        {"deliveries": [_DELIVERY], "next_before": None},
    ),
    422: _INVALID,
}
DELIVERY = {
    **_answer(
        200,
        DeliveryDetailOut,
        "The delivery and its attempts",
        {
            **_DELIVERY,
            "attempts_made": [
                {
                    "attempted_at": _AT,
                    "status_code": 503,
                    "error": None,
                    "response": "busy",
                    "duration_ms": 31,
                },
                {
                    "attempted_at": _AT,
                    "status_code": 200,
                    "error": None,
                    "response": "ok",
                    "duration_ms": 12,
                },
            ],
        },
    ),
    404: error(
        "No delivery of yours has this id", "DeliveryNotFound", "The delivery does not exist."
    ),
}
MONITOR_CREATED = {
    **_answer(201, MonitorOut, "The monitor", _MONITOR),
    404: error(
        "No account of yours has this token", "AccountNotFound", "The account does not exist."
    ),
    422: error(
        "Neither or both of below and above, or a bad amount",
        "InvalidData",
        "below: give exactly one of below and above",
    ),
}
MONITORS = _answer(200, MonitorsOut, "Your monitors, oldest first", {"monitors": [_MONITOR]})
MONITOR_DELETED = {
    **_empty("Removed"),
    404: error("No monitor of yours has this id", "MonitorNotFound", "The monitor does not exist."),
}
