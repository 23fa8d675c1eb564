"""OpenAPI documentation of the electronic deposit surface: bodies and examples.

The routes read and check their bodies themselves; these models only describe them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, JsonValue
from pydantic.config import JsonDict

from caja.api.openapi import Responses, documented, query_parameters
from caja.http.body import body_schema

__all__ = [
    "ACCOUNT",
    "BALANCE",
    "COMMON",
    "CREATED",
    "CREATE_ERRORS",
    "HISTORY",
    "QUERY",
    "QUERY_ERRORS",
    "REVERT",
    "REVERTED",
    "REVERT_ERRORS",
    "STATEMENT",
    "STATEMENT_QUERY",
    "TRANSFER",
    "TRANSFERRED",
    "TRANSFER_ERRORS",
    "DepositErrorOut",
    "with_at",
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
    "at": (
        "ISO 8601 with an offset (2026-03-31T23:59:59.999999-05:00, or Z): the account as "
        "it stood then. Optional.",
        "string",
    ),
    "format": ("json (the default) or csv; without it, Accept: text/csv asks for CSV.", "string"),
}


def with_at(extra: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` of the balance, with its optional ``at``."""
    return {"parameters": [*extra["parameters"], *query_parameters(QUERY, "at")["parameters"]]}


STATEMENT_QUERY = {
    "parameters": [
        *query_parameters(QUERY, "account_token", "initial_date", "final_date", required=True)[
            "parameters"
        ],
        *query_parameters(QUERY, "format")["parameters"],
    ]
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


# --- answers -------------------------------------------------------------------------------

_MONEY = "Pesos with two decimals, as a string."


class DepositAccountOut(BaseModel):
    """An account just opened, or found again."""

    token: str = Field(description="The account's identifier (coopacc-…).")
    account_type: str = Field(description="Always deposito_electronico.")
    number: str = Field(description="The account's number at the bank, nine digits.")
    balance: str = Field(description=_MONEY)
    expected_balance: str = Field(description=_MONEY)
    awaited_amount: str | None
    overdraft_amount: str
    deposited_this_month: str | None
    withdrawn_this_month: str | None


class AccountStateOut(DepositAccountOut):
    account_status: str = Field(description="active or cancelled.")
    updated_at: str = Field(description="When the bank last confirmed the account, ISO 8601.")
    updated_from_source: bool = Field(description="Whether the bank confirmed it now.")


class DepositTransferOut(BaseModel):
    token: str = Field(description="caja's identifier of the transaction (cooptx-…).")
    status: str = Field(description="approved, or reverted.")
    idempotency_token: str
    origin_account: str
    destination_account: str
    amount: str = Field(description=_MONEY)
    fee_amount: str = Field(description=_MONEY)
    description: str
    created_at: str = Field(description="ISO 8601, Bogotá.")
    result_message: str
    error_code: str | None
    channel: str


class BankOut(BaseModel):
    name: str
    slug: str


class SenderOut(BaseModel):
    customer_name: str
    customer_id_number: str


class HistoryItemOut(BaseModel):
    token: str
    status: str
    direction: str = Field(description="deposit or withdrawal, seen from the account.")
    idempotency_token: str
    channel: str
    coopcentral_id: str | None
    amount: str = Field(description=_MONEY)
    description: str
    created_at: str
    origin_bank: BankOut | None = Field(description="For money from another bank.")
    sender_data: SenderOut | None = Field(default=None, description="Likewise.")


class HistoryOut(BaseModel):
    transactions: list[HistoryItemOut]


NEW_ACCOUNT_EXAMPLE: dict[str, Any] = {
    "token": "coopacc-4of76azuoglhbjcwe54edeaxazu3y",
    "account_type": "deposito_electronico",
    "number": "403344513",
    "balance": "0.00",
    "expected_balance": "0.00",
    "awaited_amount": None,
    "overdraft_amount": "0.00",
    "deposited_this_month": None,
    "withdrawn_this_month": None,
}
STATE_EXAMPLE: dict[str, Any] = {
    **NEW_ACCOUNT_EXAMPLE,
    "balance": "204898.50",
    "expected_balance": "204898.50",
    "awaited_amount": "0.00",
    "deposited_this_month": "205000.00",
    "withdrawn_this_month": "101.50",
    "account_status": "active",
    "updated_at": "2026-11-21T04:33:26.819152-05:00",
    "updated_from_source": True,
}
TRANSFER_EXAMPLE: dict[str, Any] = {
    "token": "cooptx-agq725azpi2yduk2hsyhjd5fpc5l2",
    "status": "approved",
    "idempotency_token": "order-124",
    "origin_account": "coopacc-4of76azuoglhbjcwe54edeaxazu3y",
    "destination_account": "coopacc-taxia2t2jr2ruoysagtcqx6il244g",
    "amount": "100.00",
    "fee_amount": "1.50",
    "description": "Test transaction",
    "created_at": "2026-11-21T04:33:26.778138-05:00",
    "result_message": "Proceso Exitoso",
    "error_code": None,
    "channel": "wallet",
}
HISTORY_EXAMPLE: dict[str, Any] = {
    "transactions": [
        {
            "token": "cooptx-agq725azpi2yduk2hsyhjd5fpc5l2",
            "status": "reverted",
            "direction": "withdrawal",
            "idempotency_token": "order-124",
            "channel": "wallet",
            "coopcentral_id": "720440158046402241760613760289",
            "amount": "100.00",
            "description": "Test transaction",
            "created_at": "2026-11-21T04:33:26.778138-05:00",
            "origin_bank": None,
        },
        {
            "token": "cooptx-agq725au7e5mkintw462jrc3hti6o",
            "status": "approved",
            "direction": "deposit",
            "idempotency_token": "452164937918812213392207812810",
            "channel": "external",
            "coopcentral_id": "452164937918812213392207812810",
            "amount": "200000.00",
            "description": "NC TRANSACCION ELECT",
            "created_at": "2026-11-21T04:33:25.625043-05:00",
            "origin_bank": {"name": "SCOTIABANK COLPATRIA", "slug": "scotiabank-colpatria"},
            "sender_data": {"customer_name": "ACME SAS", "customer_id_number": "900123456"},
        },
    ]
}
CREATED: Responses = {
    201: documented(DepositAccountOut, "The account was opened", NEW_ACCOUNT_EXAMPLE),
    208: documented(
        DepositAccountOut, "The holder already has an account: it is returned", NEW_ACCOUNT_EXAMPLE
    ),
    **CREATE_ERRORS,
}
BALANCE: Responses = {
    200: documented(AccountStateOut, "The account and its balance", STATE_EXAMPLE),
    **QUERY_ERRORS,
}
TRANSFERRED: Responses = {
    201: documented(DepositTransferOut, "The transfer was made", TRANSFER_EXAMPLE),
    208: documented(
        DepositTransferOut,
        "The token was used: the stored transfer, nothing moved",
        TRANSFER_EXAMPLE,
    ),
    **TRANSFER_ERRORS,
}
REVERTED: Responses = {
    200: documented(
        DepositTransferOut,
        "Reverted: the transfer, now reverted",
        {**TRANSFER_EXAMPLE, "status": "reverted"},
    ),
    **REVERT_ERRORS,
}
HISTORY: Responses = {
    200: documented(HistoryOut, "The account's transactions, newest first", HISTORY_EXAMPLE),
    **QUERY_ERRORS,
}


class DepositStatementEntryOut(BaseModel):
    created_at: str = Field(description="ISO 8601, Bogotá.")
    transaction_token: str = Field(description="The transaction's token (cooptx-…).")
    description: str
    counterparty: str = Field(description="The other account's token.")
    amount: str = Field(description=_MONEY + " Negative when money left the account.")
    balance: str = Field(description="The account's balance right after this entry.")


class DepositStatementOut(BaseModel):
    account_token: str
    initial_date: str = Field(description="YYYY-MM-DD, Bogotá.")
    final_date: str = Field(description="YYYY-MM-DD, Bogotá.")
    opening_balance: str = Field(description="The balance when initial_date began.")
    closing_balance: str = Field(
        description="The balance when final_date ended: opening_balance plus every amount."
    )
    entries: list[DepositStatementEntryOut] = Field(description="Oldest first.")


STATEMENT_EXAMPLE: dict[str, Any] = {
    "account_token": "coopacc-4of76azuoglhbjcwe54edeaxazu3y",
    "initial_date": "2026-11-01",
    "final_date": "2026-11-30",
    "opening_balance": "0.00",
    "closing_balance": "199898.50",
    "entries": [
        {
            "created_at": "2026-11-21T04:33:25.625043-05:00",
            "transaction_token": "cooptx-agq725au7e5mkintw462jrc3hti6o",
            "description": "NC TRANSACCION ELECT",
            "counterparty": "sys-clearing-cop",
            "amount": "200000.00",
            "balance": "200000.00",
        },
        {
            "created_at": "2026-11-21T04:33:26.778138-05:00",
            "transaction_token": "cooptx-agq725azpi2yduk2hsyhjd5fpc5l2",
            "description": "Test transaction",
            "counterparty": "coopacc-taxia2t2jr2ruoysagtcqx6il244g",
            "amount": "-100.00",
            "balance": "199900.00",
        },
        {
            "created_at": "2026-11-21T04:33:26.778138-05:00",
            "transaction_token": "cooptx-agq725azpi2yduk2hsyhjd5fpc5l3",
            "description": "fee: Test transaction",
            "counterparty": "sys-fees-cop",
            "amount": "-1.50",
            "balance": "199898.50",
        },
    ],
}
STATEMENT_CSV_EXAMPLE = (
    "created_at,transaction_token,description,counterparty,amount,balance\r\n"
    "2026-11-21T04:33:25.625043-05:00,cooptx-agq725au7e5mkintw462jrc3hti6o,"
    "NC TRANSACCION ELECT,sys-clearing-cop,200000.00,200000.00\r\n"
    "2026-11-21T04:33:26.778138-05:00,cooptx-agq725azpi2yduk2hsyhjd5fpc5l2,Test transaction,"
    "coopacc-taxia2t2jr2ruoysagtcqx6il244g,-100.00,199900.00\r\n"
)
STATEMENT: Responses = {
    200: {
        **documented(DepositStatementOut, "The statement, oldest first", STATEMENT_EXAMPLE),
        "content": {
            "application/json": {"example": STATEMENT_EXAMPLE},
            "text/csv": {"schema": {"type": "string"}, "example": STATEMENT_CSV_EXAMPLE},
        },
    },
    **QUERY_ERRORS,
}
