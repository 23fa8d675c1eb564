"""OpenAPI documentation of the wallet: bodies, answers and examples.

The routes read and check their bodies themselves (to answer in the guide's words); the
models here only describe them. Text fields have their surrounding blanks removed before
they are checked, so their lengths are given in the descriptions, not as schema limits.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, Field, WithJsonSchema

from caja.api.openapi import Responses, documented, text_response
from caja.http.body import body_schema

__all__ = [
    "ACCOUNT",
    "AUTHENTICATED",
    "CANCEL_REQUEST",
    "CONTACT",
    "CONTACTS",
    "DELETE",
    "FIND",
    "LOGIN",
    "OWN_REQUESTS",
    "PAYMENT_QUERY",
    "PAY_REQUEST",
    "PROFILE",
    "REQUEST",
    "REQUEST_MONEY",
    "REQUEST_QR",
    "SEND",
    "SIGNUP",
    "WalletErrorOut",
    "body_errors",
    "invalid",
]


class WalletErrorOut(BaseModel):
    """The wallet's error body: the status again as ``code``, one message in ``msg``."""

    code: int
    msg: list[str]


class SignupIn(BaseModel):
    phone_number: str = Field(description="7 to 15 digits, not starting with 00.")
    first_name: str = Field(description="1 to 100 characters.")
    last_name: str = Field(description="1 to 100 characters.")
    password: str = Field(description="10 to 128 characters, taken as sent.")


class LoginIn(BaseModel):
    phone_number: str
    password: str


class ContactIn(BaseModel):
    profile_id: str = Field(description="Another person's profile_id.")
    first_name: str = Field(description="1 to 100 characters.")
    last_name: str = Field(description="1 to 100 characters.")


_AMOUNT = {
    "anyOf": [
        {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$"},
        {"type": "number", "exclusiveMinimum": 0},
    ],
    "description": "Greater than zero, with at most the asset's decimals.",
    "examples": ["100.50"],
}


class SendIn(BaseModel):
    from_account_id: str = Field(description="The caller's own account_id.")
    to_profile_id: str = Field(description="Another person's profile_id.")
    asset_key: str = Field(description="An asset both accounts hold, such as COP.")
    amount: Annotated[str | Decimal, WithJsonSchema(_AMOUNT)]
    meta_data: Any = Field(
        default=None,
        description="An object whose `notes` (at most 255 characters) is kept with the "
        "payment; anything but an object is ignored.",
    )


class ProfileOut(BaseModel):
    account_id: str
    profile_id: str
    first_name: str
    last_name: str
    phone_number: str


class TokenOut(BaseModel):
    token: str
    expires_in: int


class AssetOut(BaseModel):
    asset_key: str
    decimals: int


class AccountMeta(BaseModel):
    assets: list[AssetOut]


class BalanceOut(BaseModel):
    balance: str


class WalletAccountOut(BaseModel):
    account_id: str
    meta_data: AccountMeta
    balances: dict[str, BalanceOut]


class PersonOut(BaseModel):
    profile_id: str
    first_name: str
    last_name: str
    phone_number: str


class ContactsOut(BaseModel):
    data: dict[str, PersonOut]


class OkOut(BaseModel):
    """``{"code": 200, "msg": []}``, or for a send the balance cannot cover
    ``{"code": 601, "msg": ["op_underfunded"]}``."""

    code: int
    msg: list[str]


class PaymentNotes(BaseModel):
    notes: str


class PaymentOut(BaseModel):
    id: str
    type: int
    status: str
    direction: str
    asset_key: str
    amount: str
    counterparty: PersonOut | None
    meta_data: PaymentNotes
    created_at: str


class PaymentsOut(BaseModel):
    data: list[PaymentOut]
    next_cursor: str | None = Field(
        description="Pass it as `cursor` for the next page; null on the last page."
    )


class RequestIn(BaseModel):
    asset_key: str = Field(description="An asset the caller's account holds, such as COP.")
    amount: Annotated[str | Decimal, WithJsonSchema(_AMOUNT)]
    meta_data: Any = Field(
        default=None,
        description="An object whose `notes` (at most 255 characters) is shown to the payer.",
    )


class PayIn(BaseModel):
    from_account_id: str = Field(description="The payer's own account_id.")


class PaymentRequestOut(BaseModel):
    request_id: str
    status: str = Field(description="open, paid or cancelled.")
    amount: str
    asset_key: str
    notes: str
    requester: PersonOut
    created_at: str
    link: str = Field(description="The wallet app's page that pays it, to share.")
    paid_by: PersonOut | None = Field(description="Who paid it; null until paid.")
    paid_at: str | None = Field(description="When it was paid; null until paid.")


class PaymentRequestsOut(BaseModel):
    data: list[PaymentRequestOut]


def _error(description: str, status: int, message: str) -> dict[str, Any]:
    return documented(WalletErrorOut, description, {"code": status, "msg": [message]})


def _ok(model: type[BaseModel], description: str, example: Any) -> dict[str, Any]:
    return documented(model, description, example)


_ANA = {
    "profile_id": "prf-nbs3bouyts7zlhy6mhp57esyejq6s",
    "first_name": "Ana",
    "last_name": "Paz",
    "phone_number": "3001234567",
}
_LUIS = {
    "profile_id": "prf-q2v5kd7xwq3h4jyb6rfl2ztmk7mca",
    "first_name": "Luis",
    "last_name": "Gil",
    "phone_number": "3007654321",
}
_PROFILE_EXAMPLE = {"account_id": "wac-fybg7k7jud32k557ciuzc2tra5hem", **_ANA}
_OK_EXAMPLE = {"code": 200, "msg": []}
_PAYMENT_EXAMPLE = {
    "id": "tx-01jf3k2m9q8r7s6t5v4w3x2y1z",
    "type": 1,
    "status": "completed",
    "direction": "sent",
    "asset_key": "COP",
    "amount": "25000.00",
    "counterparty": _LUIS,
    "meta_data": {"notes": "almuerzo"},
    "created_at": "2026-12-06T17:55:48.120Z",
}
_REQUEST_EXAMPLE = {
    "request_id": "prq-3kq7w2zj5xv6ybn4m8rt2hc9dfl5a",
    "status": "open",
    "amount": "25000.00",
    "asset_key": "COP",
    "notes": "almuerzo",
    "requester": _ANA,
    "created_at": "2026-12-06T17:50:02.518Z",
    "link": "/app#pay=prq-3kq7w2zj5xv6ybn4m8rt2hc9dfl5a",
    "paid_by": None,
    "paid_at": None,
}
_PAID_EXAMPLE = {
    **_REQUEST_EXAMPLE,
    "status": "paid",
    "paid_by": _LUIS,
    "paid_at": "2026-12-06T17:55:48.120Z",
}


def invalid(description: str, message: str) -> Responses:
    """The 400 answer of a request the route refuses, with an example message."""
    return {400: _error(description, 400, message)}


def body_errors(description: str, message: str) -> Responses:
    """The answers of a request with a body: 400 for a bad one, 413 for a large one."""
    return {
        **invalid(description, message),
        413: _error("The body is over 64 KiB", 413, "PayloadTooLarge"),
        415: _error("The body is not sent as application/json", 415, "UnsupportedMediaType"),
    }


_SERVER: Responses = {
    500: _error("Unexpected server error", 500, "InternalError"),
    503: _error(
        "The database could not be reached or the write failed", 503, "TemporarilyUnavailable"
    ),
}
AUTHENTICATED: Responses = {
    401: _error(
        "The header is blank or missing", 401, "X-Authorization header is blank or missing"
    ),
    403: text_response("Any other bad token (plain text)", "request requires user authentication"),
    498: text_response("The token has expired (plain text)", "Token has expired"),
    **_SERVER,
}
SIGNUP: dict[str, Any] = {
    "openapi_extra": body_schema(
        SignupIn,
        {
            "phone_number": "3001234567",
            "first_name": "Ana",
            "last_name": "Paz",
            "password": "a long enough password",
        },
    ),
    "responses": {
        201: _ok(ProfileOut, "The profile was created", _PROFILE_EXAMPLE),
        **body_errors(
            "A field is missing or breaks its rule", "password: must have 10 to 128 characters"
        ),
        409: _error("The phone number already has a profile", 409, "phone_number_taken"),
        **_SERVER,
    },
}
LOGIN: dict[str, Any] = {
    "openapi_extra": body_schema(
        LoginIn, {"phone_number": "3001234567", "password": "a long enough password"}
    ),
    "responses": {
        200: _ok(
            TokenOut,
            "The token for X-Authorization",
            {
                "token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJwcmYtLi4uIn0.c2ln",
                "expires_in": 3600,
            },
        ),
        **body_errors("The body is not a JSON object", "the body must be a JSON object"),
        401: _error("Wrong phone number or password", 401, "invalid_credentials"),
        429: _error(
            "The profile is locked after failed log-ins; see Retry-After", 429, "too_many_attempts"
        ),
        **_SERVER,
    },
}
PROFILE: Responses = {
    200: _ok(ProfileOut, "The caller's profile", _PROFILE_EXAMPLE),
    **AUTHENTICATED,
}
ACCOUNT: Responses = {
    200: _ok(
        WalletAccountOut,
        "The account's assets and balances",
        {
            "account_id": "wac-fybg7k7jud32k557ciuzc2tra5hem",
            "meta_data": {
                "assets": [{"asset_key": "COP", "decimals": 2}, {"asset_key": "USD", "decimals": 2}]
            },
            "balances": {"COP": {"balance": "150000.00"}, "USD": {"balance": "0.00"}},
        },
    ),
    **invalid("Not the caller's account", "record_not_found"),
    **AUTHENTICATED,
}
FIND: dict[str, Any] = {
    "openapi_extra": {
        "parameters": [
            {
                "name": "find",
                "in": "query",
                "required": True,
                "description": "`phone:` and the phone number, digits only.",
                "schema": {"type": "string", "examples": ["phone:3007654321"]},
            }
        ]
    },
    "responses": {
        200: _ok(PersonOut, "The person with this phone number", _LUIS),
        **invalid("A bad find, or no profile has this phone number", "record_not_found"),
        **AUTHENTICATED,
        403: text_response("A bad token (plain text)", "find request requires user authentication"),
    },
}
CONTACT: dict[str, Any] = {
    "openapi_extra": body_schema(
        ContactIn,
        {
            "profile_id": "prf-nbs3bouyts7zlhy6mhp57esyejq6s",
            "first_name": "Luis",
            "last_name": "Gil",
        },
    ),
    "responses": {
        200: _ok(OkOut, "Saved", _OK_EXAMPLE),
        **body_errors("No such person, or a field is missing", "record_not_found"),
        **AUTHENTICATED,
    },
}
CONTACTS: Responses = {
    200: _ok(ContactsOut, "The saved contacts", {"data": {_LUIS["profile_id"]: _LUIS}}),
    **AUTHENTICATED,
}
_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Optional, 1 to 255 visible ASCII characters, chosen by the client (a "
    "UUID, say). The same key with the same body answers the first outcome again and moves "
    "nothing (200 or 601 alike); with another body, 400 `idempotency_key_reused`. Keys are "
    "per profile and kept at least 24 hours.",
    "schema": {"type": "string", "maxLength": 255, "examples": ["5f0c6a1e-send-1"]},
}
_SENT_EXAMPLES = {
    "sent": {"summary": "Sent", "value": _OK_EXAMPLE},
    "underfunded": {
        "summary": "The balance cannot cover it; nothing moved",
        "value": {"code": 601, "msg": ["op_underfunded"]},
    },
}


def _sent(description: str) -> dict[str, Any]:
    return {
        "model": OkOut,
        "description": description,
        "content": {"application/json": {"examples": _SENT_EXAMPLES}},
    }


_KEY_REUSED = "Idempotency-Key: was already used with another body"
SEND: dict[str, Any] = {
    "openapi_extra": {
        **body_schema(
            SendIn,
            {
                "from_account_id": "wac-fybg7k7jud32k557ciuzc2tra5hem",
                "to_profile_id": "prf-nbs3bouyts7zlhy6mhp57esyejq6s",
                "asset_key": "COP",
                "amount": "100.50",
                "meta_data": {"notes": "lunch"},
            },
        ),
        "parameters": [_IDEMPOTENCY_KEY],
    },
    "responses": {
        200: _sent("Sent (code 200), or refused for lack of funds (code 601)"),
        **body_errors(
            "A field is missing or invalid, a record is not found, or the Idempotency-Key "
            "was used with another body",
            "record_not_found",
        ),
        **AUTHENTICATED,
    },
}
PAYMENT_QUERY: dict[str, Any] = {
    "openapi_extra": {
        "parameters": [
            {
                "name": "type",
                "in": "query",
                "required": False,
                "description": "1 (payments), the only type; 1 when left out.",
                "schema": {"type": "integer", "enum": [1]},
            },
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "description": "At most this many payments, 1 to 200; 50 when left out.",
                "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
            },
            {
                "name": "cursor",
                "in": "query",
                "required": False,
                "description": "The `next_cursor` of the previous page; the first page "
                "when left out.",
                "schema": {"type": "string", "examples": ["cDEuNDI"]},
            },
        ]
    },
    "responses": {
        200: _ok(
            PaymentsOut,
            "A page of the caller's payments, newest first; `next_cursor` is null on the last",
            {"data": [_PAYMENT_EXAMPLE], "next_cursor": "cDEuNDI"},
        ),
        **invalid(
            "A type other than 1, a bad limit or cursor",
            "limit: must be a whole number from 1 to 200",
        ),
        **AUTHENTICATED,
    },
}
REQUEST_MONEY: dict[str, Any] = {
    "openapi_extra": body_schema(
        RequestIn, {"asset_key": "COP", "amount": "25000.00", "meta_data": {"notes": "almuerzo"}}
    ),
    "responses": {
        201: _ok(PaymentRequestOut, "The request, open, with its link to share", _REQUEST_EXAMPLE),
        **body_errors(
            "A field is missing or invalid, or the asset is not held", "amount: is required"
        ),
        **AUTHENTICATED,
    },
}
OWN_REQUESTS: dict[str, Any] = {
    "openapi_extra": {
        "parameters": [
            {
                "name": "status",
                "in": "query",
                "required": False,
                "description": "Only requests in this status; all when left out.",
                "schema": {"type": "string", "enum": ["open", "paid", "cancelled"]},
            }
        ]
    },
    "responses": {
        200: _ok(
            PaymentRequestsOut,
            "The caller's own requests, newest first, at most 100",
            {"data": [_REQUEST_EXAMPLE]},
        ),
        **invalid("An unknown status", "status: must be open, paid or cancelled"),
        **AUTHENTICATED,
    },
}
REQUEST: Responses = {
    200: _ok(PaymentRequestOut, "The request, for anyone logged in who has its id", _PAID_EXAMPLE),
    **invalid("No such request", "record_not_found"),
    **AUTHENTICATED,
}
PAY_REQUEST: dict[str, Any] = {
    "openapi_extra": {
        **body_schema(PayIn, {"from_account_id": "wac-fybg7k7jud32k557ciuzc2tra5hem"}),
        "parameters": [_IDEMPOTENCY_KEY],
    },
    "responses": {
        200: _sent("Paid (code 200), or refused for lack of funds (code 601, still open)"),
        **body_errors("No such request or account, or the caller's own request", "own_request"),
        409: _error("The request is already paid (or cancelled)", 409, "request_already_paid"),
        **AUTHENTICATED,
    },
}
CANCEL_REQUEST: Responses = {
    200: _ok(
        PaymentRequestOut,
        "The request, now cancelled",
        {**_REQUEST_EXAMPLE, "status": "cancelled"},
    ),
    **invalid("No such request of the caller's", "record_not_found"),
    409: _error("The request is already paid (or cancelled)", 409, "request_already_paid"),
    **AUTHENTICATED,
}
REQUEST_QR: Responses = {
    200: {
        "description": "An SVG QR code of the request's absolute link",
        "content": {
            "image/svg+xml": {
                "schema": {"type": "string"},
                "example": '<svg xmlns="http://www.w3.org/2000/svg" width="174" height="174">'
                "…</svg>",
            }
        },
    },
    **invalid("No such request", "record_not_found"),
    **AUTHENTICATED,
}
DELETE: Responses = {
    200: _ok(OkOut, "Deleted", _OK_EXAMPLE),
    **invalid("Not among the caller's contacts", "record_not_found"),
    **AUTHENTICATED,
}
