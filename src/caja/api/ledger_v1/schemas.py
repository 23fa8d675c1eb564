"""Request and response bodies of the ledger surfaces, with the seed's examples."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
)

from caja.api.openapi import documented
from caja.core.money import parse_amount
from caja.customers.service import OwnerData

__all__ = [
    "ACCOUNT_EXAMPLE",
    "BATCH_EXAMPLE",
    "BATCH_REJECTED_EXAMPLE",
    "ERROR_EXAMPLE",
    "STATEMENT_CSV_EXAMPLE",
    "STATEMENT_EXAMPLE",
    "TRANSACTION_EXAMPLE",
    "TRANSFER_TOKEN_PATTERN",
    "AccountIn",
    "AccountOut",
    "Amount",
    "BatchRejectedOut",
    "BatchResultOut",
    "Body",
    "ErrorOut",
    "OwnerOut",
    "StatementOut",
    "TransactionBatchIn",
    "TransactionBatchOut",
    "TransactionIn",
    "TransactionOut",
    "TransactionsOut",
    "UniqueTransferToken",
    "ledger_error",
    "not_blank",
]

PHONE = re.compile(r"\+[1-9][0-9]{6,14}")
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")
_LEGAL_ID = re.compile(r"[0-9A-Za-z-]{3,20}")
TRANSFER_TOKEN_PATTERN = r"^[A-Za-z0-9._:~-]{1,64}$"


def _cop(value: object) -> int:
    return parse_amount(value, 2)


Amount = Annotated[
    int,
    BeforeValidator(_cop),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^[0-9]+(\.[0-9]{1,2})?$"},
                {"type": "number", "exclusiveMinimum": 0, "multipleOf": 0.01},
            ],
            "description": "Pesos, a string or a number with at most two decimals.",
            "examples": ["1000.00"],
        }
    ),
]
UniqueTransferToken = Annotated[
    str,
    Field(
        pattern=TRANSFER_TOKEN_PATTERN,
        description="Your unique id for this transfer: letters, digits and . _ : ~ -",
    ),
]


def not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _phone(value: str) -> str:
    if not PHONE.fullmatch(value):
        raise ValueError("must be an international number such as +573334444666")
    return value


def _legal_id(value: str) -> str:
    if not _LEGAL_ID.fullmatch(value):
        raise ValueError("must have 3 to 20 letters, digits or hyphens")
    return value


def _email(value: str) -> str:
    if not _EMAIL.fullmatch(value):
        raise ValueError("must be an email address")
    return value


Phone = Annotated[
    str,
    Field(description="E.164, e.g. +573334444666", examples=["+573334444666"]),
    AfterValidator(_phone),
]
Description = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(not_blank)]


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)


class AccountIn(Body):
    phone_number: Phone
    owner_legal_id_type: Literal["CC", "CE", "NIT", "TI", "PA", "PEP"]
    owner_legal_id_number: Annotated[str, Field(max_length=20), AfterValidator(_legal_id)]
    owner_full_name: Annotated[str, Field(min_length=1, max_length=150), AfterValidator(not_blank)]
    owner_email: Annotated[str, Field(max_length=254), AfterValidator(_email)]

    def owner_data(self) -> OwnerData:
        return OwnerData(
            self.owner_legal_id_type,
            self.owner_legal_id_number,
            self.owner_full_name,
            self.owner_email,
        )


class TransactionIn(Body):
    origin_account: str = Field(max_length=40)
    destination_account: str = Field(max_length=40)
    amount: Amount
    description: Description
    unique_transfer_token: UniqueTransferToken


class OwnerOut(BaseModel):
    token: str
    legal_id_type: str
    legal_id_number: str
    full_name: str
    email: str


class AccountOut(BaseModel):
    token: str
    phone_number: str
    balance: str = Field(description="Pesos with two decimals, as a string")
    owner: OwnerOut


class TransactionOut(BaseModel):
    token: str
    date_created: str
    origin_account: str
    origin_account_balance: Annotated[
        Decimal | None,
        WithJsonSchema(
            {
                "type": ["number", "null"],
                "description": "The origin's balance right after this transaction, an exact "
                "number with two decimals; null when the origin is a system account (funding)",
                "examples": [9000.00],
            }
        ),
    ]
    destination_account: str
    amount: str
    description: str
    unique_transfer_token: str | None = Field(
        description="Null only for money that came from a system account (funding)"
    )


class TransactionsOut(BaseModel):
    transactions: list[TransactionOut]
    next_cursor: str | None = Field(
        default=None,
        description="Pass as `cursor` to get the next (older) page; null on the last page",
    )


class StatementEntryOut(BaseModel):
    created_at: str = Field(description="When the transaction was made: UTC, ISO 8601")
    transaction_token: str = Field(description="The transaction's token (tx-…)")
    description: str
    counterparty: str = Field(description="The other account's token")
    amount: str = Field(
        description="Pesos with two decimals, as a string; negative when money left"
    )
    balance: str = Field(description="The account's balance right after this entry")


class StatementOut(BaseModel):
    account_token: str
    from_: str = Field(alias="from", description="The first Bogotá day, YYYY-MM-DD")
    to: str = Field(description="The last Bogotá day, YYYY-MM-DD")
    opening_balance: str = Field(description="The balance when the first day began")
    closing_balance: str = Field(
        description="The balance when the last day ended: opening_balance plus every amount"
    )
    entries: list[StatementEntryOut] = Field(description="Oldest first")


class ErrorOut(BaseModel):
    """The error body of both ledger surfaces."""

    code: str
    message: str


def ledger_error(description: str, example: dict[str, Any] | None = None) -> dict[str, Any]:
    """An error answer of the ledger surfaces, documented with their ``{code, message}``."""
    return documented(ErrorOut, description, example)


ACCOUNT_EXAMPLE: dict[str, Any] = {
    "token": "acc-sen2h7an42w2smdtpqhpscr6bwlh",
    "phone_number": "+573334444666",
    "balance": "0.00",
    "owner": {
        "token": "ow-5xmdi43z3b66c7l1doffwyibmdl19",
        "legal_id_type": "NIT",
        "legal_id_number": "12333215",
        "full_name": "test name",
        "email": "test2@name.com",
    },
}
TRANSACTION_EXAMPLE: dict[str, Any] = {
    "token": "tx-56o13n99xglijvcg3rvgb8tuz0ryi",
    "date_created": "2022-12-21T11:26:46.621603Z",
    "origin_account": "acc-sen2h7an42w2smdtpqhpscr6bwlh",
    "origin_account_balance": 9000.00,
    "destination_account": "acc-ttwhmsaaw9in276w37ev04t66ho5",
    "amount": "1000.00",
    "description": "test tx",
    "unique_transfer_token": "unique_transfer_token",
}
ERROR_EXAMPLE: dict[str, Any] = {
    "code": "NoFunds",
    "message": "Not enough funds in the origin_account.",
}
STATEMENT_EXAMPLE: dict[str, Any] = {
    "account_token": "acc-sen2h7an42w2smdtpqhpscr6bwlh",
    "from": "2022-12-01",
    "to": "2022-12-31",
    "opening_balance": "0.00",
    "closing_balance": "9000.00",
    "entries": [
        {
            "created_at": "2022-12-21T11:26:45.101044Z",
            "transaction_token": "tx-6pwxuy4grwmj2npjvrewfkxvcllbc",
            "description": "funding",
            "counterparty": "sys-funding-cop",
            "amount": "10000.00",
            "balance": "10000.00",
        },
        {
            "created_at": "2022-12-21T11:26:46.621603Z",
            "transaction_token": "tx-56o13n99xglijvcg3rvgb8tuz0ryi",
            "description": "test tx",
            "counterparty": "acc-ttwhmsaaw9in276w37ev04t66ho5",
            "amount": "-1000.00",
            "balance": "9000.00",
        },
    ],
}
STATEMENT_CSV_EXAMPLE = (
    "created_at,transaction_token,description,counterparty,amount,balance\r\n"
    "2022-12-21T11:26:45.101044Z,tx-6pwxuy4grwmj2npjvrewfkxvcllbc,funding,sys-funding-cop,"
    "10000.00,10000.00\r\n"
    "2022-12-21T11:26:46.621603Z,tx-56o13n99xglijvcg3rvgb8tuz0ryi,test tx,"
    "acc-ttwhmsaaw9in276w37ev04t66ho5,-1000.00,9000.00\r\n"
)


class TransactionBatchIn(Body):
    transactions: list[TransactionIn] = Field(
        min_length=1,
        max_length=1000,
        description="From 1 to 1,000 bodies of `POST /transaction`, applied in this order",
    )
    atomic: bool = Field(
        default=False,
        description="true: every transaction is written, or none is (409 when any would "
        "be refused); false (the default): each on its own",
    )


class BatchResultOut(BaseModel):
    """One transaction's answer: the status and the body its own `POST /transaction` would
    have answered, side by side."""

    status: int = Field(
        description="201 created, 208 already made with this unique_transfer_token, "
        "402, 409, 422 or 500 as for one transaction; 424 when an atomic batch was "
        "refused because of another transaction"
    )
    transaction: TransactionOut | None = Field(default=None, description="With 201 and 208")
    code: str | None = Field(default=None, description="With an error status")
    message: str | None = Field(default=None, description="With an error status")


class TransactionBatchOut(BaseModel):
    results: list[BatchResultOut] = Field(description="One per transaction, in request order")


class BatchRejectedOut(BaseModel):
    code: str
    message: str
    results: list[BatchResultOut] = Field(
        description="One per transaction, in request order: the refused ones with their "
        "error, the others 424 NotApplied"
    )


_SECOND_EXAMPLE: dict[str, Any] = {
    "token": "tx-56o13n99xglijvcg3rvgb8tuz0rz2",
    "date_created": "2022-12-21T11:26:46.621603Z",
    "origin_account": "acc-ttwhmsaaw9in276w37ev04t66ho5",
    "origin_account_balance": 500.00,
    "destination_account": "acc-sen2h7an42w2smdtpqhpscr6bwlh",
    "amount": "500.00",
    "description": "change",
    "unique_transfer_token": "unique_transfer_token_2",
}
BATCH_EXAMPLE: dict[str, Any] = {
    "results": [
        {"status": 201, "transaction": TRANSACTION_EXAMPLE},
        {"status": 201, "transaction": _SECOND_EXAMPLE},
        {"status": 402, **ERROR_EXAMPLE},
    ]
}
BATCH_REJECTED_EXAMPLE: dict[str, Any] = {
    "code": "BatchRejected",
    "message": "No transaction was applied: at least one of this atomic batch was refused.",
    "results": [
        {
            "status": 424,
            "code": "NotApplied",
            "message": "Not applied: another transaction of this atomic batch was refused.",
        },
        {"status": 402, **ERROR_EXAMPLE},
    ],
}
