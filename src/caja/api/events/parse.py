"""What the events surface and the command line read alike: a monitor's threshold, and a
page size."""

from __future__ import annotations

from decimal import Decimal

from caja.core.errors import InvalidInput
from caja.core.money import parse_amount

__all__ = ["parse_threshold"]


def parse_threshold(value: object, scale: int, field: str) -> int:
    """A threshold in minor units at the account's ``scale``: a decimal string or an exact
    number, zero and negative ones included (an account with an overdraft can go below
    zero, and a monitor may watch it there)."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise InvalidInput(field, 'must be an amount such as "1000.00"')
    text = str(value).strip()
    if not text.startswith("-"):
        return parse_amount(text, scale, field, allow_zero=True)
    below_zero = -parse_amount(text[1:], scale, field, allow_zero=True)
    if below_zero == 0:
        raise InvalidInput(field, "a negative zero: write 0")
    return below_zero
