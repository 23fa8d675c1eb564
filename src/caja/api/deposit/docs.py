"""OpenAPI documentation of the electronic deposit surface: bodies and examples.

The routes read and check their bodies themselves; these models only describe them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, JsonValue
from pydantic.config import JsonDict

from caja.api.openapi import Responses, documented
from caja.http.body import body_schema

__all__ = [
    "ACCOUNT",
    "COMMON",
    "CREATE_ERRORS",
    "QUERY",
    "QUERY_ERRORS",
    "REVERT",
    "REVERT_ERRORS",
    "TRANSFER",
    "TRANSFER_ERRORS",
    "DepositErrorOut",
]


def _text(limit: int | None = None, description: str = "", **options: Any) -> Any:
    """A JSON string, checked once the blanks around it are removed, so its limit is
    given in words rather than as ``maxLength``."""
    if limit is not None:
        description = f"{description} At most {limit} characters.".strip()
    return Field(description=description, **options)


def _amount(description: str, *, zero: bool) -> Any:
    """Pesos with at most two decimals, as a string or a JSON number."""
    number: JsonDict = {"type": "number", "multipleOf": 0.01}
    number["minimum" if zero else "exclusiveMinimum"] = 0
    digits: JsonDict = {"type": "string", "pattern": r"^[0-9]+(\.[0-9]{1,2})?$"}
    options: list[JsonValue] = [digits, number]
    if not zero:
        return Field(description=description, json_schema_extra={"anyOf": options})
    options.append({"type": "null"})
    return Field(default=None, description=description, json_schema_extra={"anyOf": options})


class AccountIn(BaseModel):
    identification_number: str = _text(20, "3 to 20 letters or digits.")
    identification_type: str = _text(description="CC or CE.")
    identification_issued_at: str = _text(description="YYYY-MM-DD, not in the future.")
    mobile_phone_number: str = _text(description="10 digits starting with 3.")
    email: str = _text(254, "An email address.")
    names: str = _text(100)
    first_last_name: str = _text(100)
    second_last_names: str | None = _text(100, "May be left out, null or blank.", default=None)
    sex: str = _text(description="M or F.")
    date_of_birth: str = _text(description="YYYY-MM-DD, in the past.")


class TransferIn(BaseModel):
    unique_transfer_token: str = _text(64, "Letters, digits and . _ : ~ -")
    origin_account: str = _text(40)
    destination_account: str = _text(40)
    channel: str = _text(40)
    amount: Any = _amount("Pesos, at most two decimals, greater than zero.", zero=False)
    description: str = _text(255)
    fee_amount: Any = _amount(
        "Pesos to the fee account, in the same posting; may be left out or null.", zero=True
    )


class RevertIn(BaseModel):
    idempotency_token: str = _text(64, "The transfer's unique_transfer_token.")


ACCOUNT = body_schema(
    AccountIn,
    {
        "identification_number": "99945678",
        "identification_type": "CC",
        "identification_issued_at": "2019-03-19",
        "mobile_phone_number": "3528881234",
        "email": "testrandom1@gmail.com",
        "names": "Nigerio",
        "first_last_name": "Numa",
        "sex": "M",
        "date_of_birth": "1999-01-25",
    },
)
TRANSFER = body_schema(
    TransferIn,
    {
        "origin_account": "coopacc-45114ed15621463f9b3063433f123bbf",
        "destination_account": "coopacc-c3b938a4762c440bb9c1a08ff694f976",
        "unique_transfer_token": "some-random-and-unique-token124",
        "amount": 100,
        "description": "Test transaction",
        "channel": "wallet",
    },
)
REVERT = body_schema(RevertIn, {"idempotency_token": "some-random-and-unique-token124"})


QUERY = {
    "account_token": ("The account's token (coopacc-…).", "string"),
    "initial_date": ("YYYY-MM-DD, Bogotá, included.", "string"),
    "final_date": ("YYYY-MM-DD, Bogotá, included.", "string"),
}


class DepositErrorOut(BaseModel):
    """The surface's error body; ``field`` and ``value`` only on 422 answers."""

    error_code: str
    error_message: str
    field: str | None = None
    value: str | int | bool | None = None


def _error(description: str, example: dict[str, Any] | None = None) -> dict[str, Any]:
    return documented(DepositErrorOut, description, example)


COMMON: Responses = {
    401: _error(
        "The header is missing or names no valid key",
        {
            "error_code": "Unauthorized",
            "error_message": "Invalid authorization token was provided.",
        },
    ),
    403: _error("The key's client lacks the deposit scope"),
    500: _error("Unexpected server error; it is safe to retry with the same token"),
    503: _error("Temporary failure (the bank or the database); nothing was changed"),
}
QUERY_ERRORS: Responses = {
    422: _error(
        "A query parameter is missing or invalid, or the account does not exist",
        {
            "error_code": "AccountNotFound",
            "error_message": "The account does not exist.",
            "field": "account_token",
            "value": "coopacc-unknown",
        },
    ),
}
_BODY: Responses = {
    413: _error("The body is over 64 KiB"),
    415: _error("The body is not sent as application/json"),
    422: _error(
        "The body is not a JSON object, or a field is missing or invalid",
        {
            "error_code": "required",
            "error_message": "This field is required.",
            "field": "names",
        },
    ),
}
CREATE_ERRORS: Responses = {
    **_BODY,
    409: _error("The bank refused the holder, or the identification or email is taken"),
}
TRANSFER_ERRORS: Responses = {
    **_BODY,
    409: _error("A limit, the funds or a cancelled account stops the transfer"),
}
REVERT_ERRORS: Responses = {
    **_BODY,
    409: _error("The transfer was reverted before, or cannot be reverted"),
}
