"""OpenAPI documentation of the electronic deposit surface: bodies and examples.

The routes read and check their bodies themselves; these models only describe them.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from caja.api.body import body_schema

__all__ = ["ACCOUNT", "QUERY", "REVERT", "TRANSFER"]


class AccountIn(BaseModel):
    identification_number: str = Field(max_length=20)
    identification_type: str = Field(description="CC or CE.")
    identification_issued_at: str = Field(description="YYYY-MM-DD.")
    mobile_phone_number: str = Field(description="10 digits, without country code.")
    email: str = Field(max_length=254)
    names: str = Field(max_length=100)
    first_last_name: str = Field(max_length=100)
    second_last_names: str | None = Field(default=None, max_length=100)
    sex: str = Field(description="M or F.")
    date_of_birth: str = Field(description="YYYY-MM-DD.")


class TransferIn(BaseModel):
    unique_transfer_token: str = Field(max_length=64)
    origin_account: str
    destination_account: str
    channel: str = Field(max_length=40)
    amount: str | int = Field(description="Pesos, at most two decimals.")
    description: str = Field(max_length=255)
    fee_amount: str | int | None = Field(
        default=None, description="Pesos to the fee account, in the same posting."
    )


class RevertIn(BaseModel):
    idempotency_token: str = Field(description="The transfer's unique_transfer_token.")


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
