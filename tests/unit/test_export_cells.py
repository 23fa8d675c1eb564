"""The console's CSV cells: a formula is quoted, a signed decimal is left a number."""

from __future__ import annotations

import pytest

from caja.ops.export import _cell


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=SUM(A1:A9)", "'=SUM(A1:A9)"),
        ("+57 300", "'+57 300"),
        ("@cmd", "'@cmd"),
        ("-inf", "'-inf"),
        ("-1e5", "'-1e5"),
        ("-12500.00", "-12500.00"),
        ("+3", "+3"),
        ("tx-abc", "tx-abc"),
        (7, 7),
        ({"nested": 1}, None),
    ],
)
def test_a_cell_is_written_as_a_spreadsheet_should_read_it(value: object, written: object) -> None:
    assert _cell(value) == written
