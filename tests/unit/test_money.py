"""Amounts from clients: exact decimals in, integers in minor units out."""

from __future__ import annotations

from decimal import Decimal

import pytest

from caja.core.errors import InvalidInput
from caja.core.money import parse_amount


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1000.00", 100_000), (Decimal("0.01"), 1), (7, 700), (Decimal("1E+2"), 10_000)],
)
def test_amounts_become_minor_units(value: object, expected: int) -> None:
    assert parse_amount(value, 2) == expected


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (Decimal("1e999999"), "is too large"),
        (Decimal("1e30"), "is too large"),
        (10**40, "is too large"),
        (Decimal("NaN"), "must be a finite number"),
        (Decimal("0.001"), "must have at most 2 decimals"),
        (Decimal("-0"), "must be greater than zero"),
        (1.5, 'must be a positive amount such as "1000.00"'),
    ],
)
def test_amounts_out_of_bounds_are_refused_by_name(value: object, problem: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_amount(value, 2)

    assert refused.value.field == "amount"
    assert problem in str(refused.value)
