"""Reading the deposit surface's requests: each field checked by hand, so that a refusal
names the field, a code and the value, as the API document shows them."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from starlette.datastructures import QueryParams

from caja.api import statements
from caja.api.statements import Format
from caja.core.clock import BOGOTA, utcnow
from caja.core.errors import InvalidInput
from caja.core.money import parse_amount
from caja.deposits.service import TransferData
from caja.providers.bank import Holder

__all__ = [
    "account_token",
    "history_query",
    "holder",
    "moment",
    "revert_token",
    "statement_query",
    "transfer_data",
]

REQUIRED = "This field is required."


def _text(body: dict[str, Any], name: str, max_length: int, *, required: bool = True) -> str:
    value = body.get(name)
    if value is None:
        if not required:
            return ""
        raise InvalidInput(name, REQUIRED, code="required")
    if not isinstance(value, str):
        raise InvalidInput(name, "Must be a string.", code="invalid", value=_echo(value))
    value = value.strip()
    if not value and required:
        raise InvalidInput(name, "This field may not be blank.", code="blank", value=value)
    if len(value) > max_length:
        raise InvalidInput(
            name, f"Must have at most {max_length} characters.", code="max_length", value=value
        )
    return value


def _echo(value: Any) -> Any:
    return value if isinstance(value, str | int | bool) else str(value)


def _matching(body: dict[str, Any], name: str, max_length: int, pattern: str, what: str) -> str:
    value = _text(body, name, max_length)
    if not re.fullmatch(pattern, value):
        raise InvalidInput(name, f"Must be {what}.", code="invalid", value=value)
    return value


def _day(raw: Any, name: str) -> date:
    if raw is None or raw == "":
        raise InvalidInput(name, REQUIRED, code="required")
    if not isinstance(raw, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw):
        raise InvalidInput(
            name, "Must be a date as YYYY-MM-DD.", code="invalid_date", value=_echo(raw)
        )
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(
            name, "Must be a date as YYYY-MM-DD.", code="invalid_date", value=raw
        ) from None


def _amount(body: dict[str, Any], name: str, *, required: bool = True) -> int:
    value = body.get(name)
    if value is None and not required:
        return 0
    if value is None:
        raise InvalidInput(name, REQUIRED, code="required")
    if isinstance(value, Decimal) and value.is_signed():  # -0 and -0.00 included
        raise InvalidInput(name, "Must not be negative.", code="invalid_amount", value=_echo(value))
    try:
        return parse_amount(value, 2, name, allow_zero=not required)
    except InvalidInput as error:
        raise InvalidInput(
            name, error.problem[0].upper() + error.problem[1:] + ".", code="invalid_amount",
            value=_echo(value),
        ) from None  # fmt: skip


def holder(body: dict[str, Any]) -> Holder:
    today = utcnow().astimezone(BOGOTA).date()
    number = _matching(
        body, "identification_number", 20, r"[0-9A-Za-z]{3,20}", "3 to 20 letters or digits"
    )
    id_type = _text(body, "identification_type", 4)
    if id_type not in ("CC", "CE"):
        raise InvalidInput(
            "identification_type", "Must be CC or CE.", code="invalid_choice", value=id_type
        )
    issued = _day(body.get("identification_issued_at"), "identification_issued_at")
    if issued > today:
        raise InvalidInput(
            "identification_issued_at", "Must not be in the future.", code="invalid_date",
            value=issued.isoformat(),
        )  # fmt: skip
    phone = _matching(body, "mobile_phone_number", 10, r"3[0-9]{9}", "10 digits starting with 3")
    email = _matching(body, "email", 254, r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+", "a valid email address")
    names = _text(body, "names", 100)
    last = _text(body, "first_last_name", 100)
    others = _text(body, "second_last_names", 100, required=False) or None
    sex = _text(body, "sex", 1)
    if sex not in ("M", "F"):
        raise InvalidInput("sex", "Must be M or F.", code="invalid_choice", value=sex)
    born = _day(body.get("date_of_birth"), "date_of_birth")
    if born >= today:
        raise InvalidInput(
            "date_of_birth", "Must be in the past.", code="invalid_date", value=born.isoformat()
        )
    return Holder(id_type, number, issued, phone, email, names, last, others, sex, born)


def transfer_data(body: dict[str, Any]) -> TransferData:
    return TransferData(
        unique_transfer_token=_matching(
            body,
            "unique_transfer_token",
            64,
            r"[A-Za-z0-9._:~-]{1,64}",
            "1 to 64 letters, digits or ._:~-",
        ),
        origin_account=_text(body, "origin_account", 40),
        destination_account=_text(body, "destination_account", 40),
        channel=_text(body, "channel", 40),
        amount_minor=_amount(body, "amount"),
        description=_text(body, "description", 255),
        fee_minor=_amount(body, "fee_amount", required=False),
    )


def revert_token(body: dict[str, Any]) -> str:
    return _text(body, "idempotency_token", 64)


def account_token(query: QueryParams) -> str:
    token = query.get("account_token", "").strip()
    if not token:
        raise InvalidInput("account_token", REQUIRED, code="required")
    return token


def history_query(query: QueryParams) -> tuple[str, date, date]:
    """The account token and the first and last days of a history."""
    token = account_token(query)
    first = _day(query.get("initial_date"), "initial_date")
    last = _day(query.get("final_date"), "final_date")
    if first > last:
        raise InvalidInput(
            "initial_date", "Must not be after final_date.", code="invalid_range",
            value=first.isoformat(),
        )  # fmt: skip
    return token, first, last


def statement_query(query: QueryParams, accept: str | None) -> tuple[str, date, date, Format]:
    """The account token, the first and last days and the format of a statement."""
    token, first, last = history_query(query)
    for name, value in (("initial_date", first), ("final_date", last)):
        if statements.day(value.isoformat()) is None:
            raise InvalidInput(
                name, "Must be a day from 1970 to 9998.", code="invalid_date",
                value=value.isoformat(),
            )  # fmt: skip
    if (last - first).days >= statements.MAX_DAYS:
        raise InvalidInput(
            "final_date", f"Must be less than {statements.MAX_DAYS} days after initial_date.",
            code="invalid_range", value=last.isoformat(),
        )  # fmt: skip
    requested = query.get("format")
    chosen = statements.format_of(requested, accept)
    if chosen is None:
        raise InvalidInput("format", "Must be json or csv.", code="invalid_choice", value=requested)
    return token, first, last, chosen


def moment(query: QueryParams) -> datetime | None:
    """``at``: an ISO 8601 time with its offset, or None when it is not given."""
    raw = query.get("at")
    if raw is None:
        return None
    found = statements.moment(raw)
    if found is None:
        raise InvalidInput(
            "at", "Must be an ISO 8601 time with an offset, such as 2026-03-31T23:59:59-05:00.",
            code="invalid_datetime", value=raw,
        )  # fmt: skip
    return found
