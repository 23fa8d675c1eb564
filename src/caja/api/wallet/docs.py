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
    "CONTACT",
    "CONTACTS",
    "DELETE",
    "FIND",
    "LOGIN",
    "PAYMENT_QUERY",
    "PROFILE",
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


class SendIn(BaseModel):
    from_account_id: str = Field(description="The caller's own account_id.")
    to_profile_id: str = Field(description="Another person's profile_id.")
    asset_key: str = Field(description="An asset both accounts hold, such as COP.")
    amount: Annotated[
        str | Decimal,
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$"},
                    {"type": "number", "exclusiveMinimum": 0},
                ],
                "description": "Greater than zero, with at most the asset's decimals.",
                "examples": ["100.50"],
            }
        ),
    ]
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


def _error(description: str, status: int, message: str) -> dict[str, Any]:
    return documented(WalletErrorOut, description, {"code": status, "msg": [message]})


def _ok(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"model": model, "description": description}


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
        201: _ok(ProfileOut, "The profile was created"),
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
        200: _ok(TokenOut, "The token for X-Authorization"),
        **body_errors("The body is not a JSON object", "the body must be a JSON object"),
        401: _error("Wrong phone number or password", 401, "invalid_credentials"),
        429: _error(
            "The profile is locked after failed log-ins; see Retry-After", 429, "too_many_attempts"
        ),
        **_SERVER,
    },
}
PROFILE: Responses = {200: _ok(ProfileOut, "The caller's profile"), **AUTHENTICATED}
ACCOUNT: Responses = {
    200: _ok(WalletAccountOut, "The account's assets and balances"),
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
        200: _ok(PersonOut, "The person with this phone number"),
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
        200: _ok(OkOut, "Saved"),
        **body_errors("No such person, or a field is missing", "record_not_found"),
        **AUTHENTICATED,
    },
}
CONTACTS: Responses = {200: _ok(ContactsOut, "The saved contacts"), **AUTHENTICATED}
SEND: dict[str, Any] = {
    "openapi_extra": body_schema(
        SendIn,
        {
            "from_account_id": "wac-fybg7k7jud32k557ciuzc2tra5hem",
            "to_profile_id": "prf-nbs3bouyts7zlhy6mhp57esyejq6s",
            "asset_key": "COP",
            "amount": "100.50",
            "meta_data": {"notes": "lunch"},
        },
    ),
    "responses": {
        200: _ok(OkOut, "Sent (code 200), or refused for lack of funds (code 601)"),
        **body_errors(
            "A field is missing or invalid, or a record is not found", "record_not_found"
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
            }
        ]
    },
    "responses": {
        200: _ok(PaymentsOut, "The caller's payments, newest first"),
        **invalid("A type other than 1", "type: must be 1 (payments)"),
        **AUTHENTICATED,
    },
}
DELETE: Responses = {
    200: _ok(OkOut, "Deleted"),
    **invalid("Not among the caller's contacts", "record_not_found"),
    **AUTHENTICATED,
}
