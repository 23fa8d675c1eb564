"""A small run of ``python -m bench.statement``: 2,000 entries streamed as CSV and JSON,
every row there, opening balance plus the amounts equal to the closing one."""

from __future__ import annotations

from datetime import datetime

import pytest
from bench.statement import fill, measure

from caja.app import create_app, services_of
from caja.core.clock import BOGOTA
from caja.db.engine import Database

pytestmark = pytest.mark.anyio

ENTRIES = 2_000


async def test_a_statement_of_2000_entries_streams_every_row_and_adds_up(
    database: Database,
) -> None:
    filled = await fill(database, ENTRIES)
    app = create_app(database)
    try:
        today = datetime.now(BOGOTA).date()
        results = [await measure(app, filled, today, chosen) for chosen in ("csv", "json")]
    finally:
        await services_of(app).batcher.close()

    for result in results:
        assert (result.status, result.rows, result.adds_up) == (200, ENTRIES, True), result
