"""The bank core behind the electronic deposit accounts, and a sandbox bank.

caja's ledger is the book of record for balances; the bank core opens accounts (it may
refuse a holder), confirms an account's state, and feeds the money that arrives from
other banks. A slow or unreachable bank never fails a read: the local copy answers, marked
as not fresh.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from caja.core.clock import BOGOTA, utcnow

__all__ = [
    "BankCore",
    "BankUnavailable",
    "Holder",
    "Incoming",
    "Opening",
    "SandboxBank",
    "new_bank_id",
]


class BankUnavailable(Exception):
    """The bank did not answer in time, or answered with an error."""


@dataclass(frozen=True, slots=True)
class Holder:
    identification_type: str
    identification_number: str
    identification_issued_at: date
    mobile_phone_number: str
    email: str
    names: str
    first_last_name: str
    second_last_names: str | None
    sex: str
    date_of_birth: date


@dataclass(frozen=True, slots=True)
class Opening:
    """The bank's answer to opening an account: its number, or why it refused."""

    number: str | None = None
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True, slots=True)
class Incoming:
    """Money another bank sent to one of our accounts, as the bank's feed reports it."""

    account_number: str
    amount_minor: int
    bank_slug: str
    sender_name: str
    sender_id_number: str
    coopcentral_id: str
    description: str


class BankCore(Protocol):
    async def open_account(self, holder: Holder) -> Opening: ...

    async def confirm(self, number: str) -> datetime:
        """The moment the bank confirmed the account; raises BankUnavailable."""
        ...


def new_bank_id() -> str:
    """A transaction id at the bank: 30 digits."""
    return f"{secrets.randbelow(10**30):030d}"


def _age(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


TEST_DATA = (
    "In the sandbox the bank accepts only its test data: an identification_number ending "
    "in 45678, a mobile_phone_number starting with 352 and a date_of_birth before 2000-01-01."
)


class SandboxBank:
    """A bank that accepts only the test data of the API document, as its staging does.

    ``down`` makes it unreachable; ``delay`` seconds make every answer slow.
    """

    def __init__(self, *, timeout: float = 2.0) -> None:
        self.timeout = timeout
        self.down = False
        self.delay = 0.0

    async def _reach(self) -> None:
        if self.down:
            raise BankUnavailable("the sandbox bank is down")
        if self.delay:
            try:
                async with asyncio.timeout(self.timeout):
                    await asyncio.sleep(self.delay)
            except TimeoutError as error:
                raise BankUnavailable("the sandbox bank did not answer in time") from error

    async def open_account(self, holder: Holder) -> Opening:
        await self._reach()
        today = utcnow().astimezone(BOGOTA).date()
        if _age(holder.date_of_birth, today) < 18:
            return Opening(
                error_code="UnderAge", error_message="The holder must be at least 18 years old."
            )
        if (
            not holder.identification_number.endswith("45678")
            or not holder.mobile_phone_number.startswith("352")
            or holder.date_of_birth >= date(2000, 1, 1)
        ):
            return Opening(error_code="RefusedByBank", error_message=TEST_DATA)
        return Opening(number=f"{secrets.randbelow(10**9):09d}")

    async def confirm(self, number: str) -> datetime:
        await self._reach()
        return utcnow()

    def transfer_in(
        self,
        account_number: str,
        amount_minor: int,
        *,
        bank_slug: str,
        sender_name: str,
        sender_id_number: str,
        description: str = "NC TRANSACCION ELECT",
    ) -> Incoming:
        """What the bank's feed reports when another bank sends money to an account."""
        return Incoming(
            account_number,
            amount_minor,
            bank_slug,
            sender_name,
            sender_id_number,
            new_bank_id(),
            description,
        )
