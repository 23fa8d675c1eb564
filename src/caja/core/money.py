"""Amounts as integers in minor units, parsed from text or JSON without floats."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation, Overflow

from caja.core.errors import InvalidInput

__all__ = ["MAX_AMOUNT_MINOR", "format_minor", "parse_amount"]

# Far below BIGINT's 9.2e18, so sums of many amounts cannot overflow a column.
MAX_AMOUNT_MINOR = 10**15
_AMOUNT_TEXT = re.compile(r"[0-9]{1,16}(\.[0-9]{1,16})?")


def _decimal(value: object, field: str) -> Decimal:
    """A client's amount as a Decimal: a decimal string, an int or a Decimal, nothing else."""
    if isinstance(value, bool) or value is None:
        raise InvalidInput(field, 'must be a positive amount such as "1000.00"')
    if isinstance(value, str):
        if not _AMOUNT_TEXT.fullmatch(value):
            raise InvalidInput(field, 'must be a positive amount such as "1000.00"')
        return Decimal(value)
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        return value
    raise InvalidInput(field, 'must be a positive amount such as "1000.00"')


def parse_amount(
    value: object, scale: int, field: str = "amount", *, allow_zero: bool = False
) -> int:
    """Turn a client's amount (a decimal string, an int or a Decimal) into minor units.

    A JSON number must reach this function as a Decimal (parse the body with
    ``parse_float=Decimal``); a float is refused so that no binary fraction ever
    stands for money.
    """
    number = _decimal(value, field)
    if not number.is_finite():
        raise InvalidInput(field, "must be a finite number")
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -scale:
        raise InvalidInput(field, f"must have at most {scale} decimals")
    if number < 0 or (number == 0 and not allow_zero):
        raise InvalidInput(
            field, "must not be negative" if allow_zero else "must be greater than zero"
        )
    try:
        minor = int(number.scaleb(scale))
    except (InvalidOperation, Overflow, OverflowError) as exc:
        raise InvalidInput(field, "is too large") from exc
    if minor > MAX_AMOUNT_MINOR:
        raise InvalidInput(field, "is too large")
    return minor


def format_minor(amount_minor: int, scale: int) -> str:
    """Render minor units as a plain decimal string: 100000 at scale 2 is "1000.00"."""
    if scale == 0:
        return str(amount_minor)
    sign = "-" if amount_minor < 0 else ""
    whole, fraction = divmod(abs(amount_minor), 10**scale)
    return f"{sign}{whole}.{fraction:0{scale}d}"
