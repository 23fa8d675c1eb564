"""Three `caja reconcile` processes at once on one database, against the sandbox operator
as a process of its own that counts the questions: each open purchase is asked about once
and settled once."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from caja.db.engine import Database
from caja.ledger.tables import transfers
from caja.topups.service import OPEN
from caja.topups.tables import purchases
from tests.conftest import run_async
from tests.gateway import GATEWAY, Merchant, merchant, topup_body
from tests.helpers import wait_until_healthy
from tests.postgres import free_port
from tests.test_operator_process import CAJA, serve, wait_for_port

pytestmark = pytest.mark.slow

PURCHASES = 30  # three claim groups
RECONCILERS = 3
ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def counting_operator(log: Path) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as output:
        started = subprocess.Popen(
            [sys.executable, "-m", "tests.counting_operator", str(port)],
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port(started, f"{url}/purchases/none", log)
            yield url
        finally:
            started.terminate()
            started.wait(timeout=10)


def new_merchant(database_url: str) -> Merchant:
    async def make() -> Merchant:
        database = Database(database_url)
        try:
            return await merchant(database, funds=PURCHASES * 1000)
        finally:
            await database.dispose()

    return run_async(make)


async def _buy_all(base: str, who: Merchant) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=base, timeout=20, headers=who.headers) as http:
        return await asyncio.gather(
            *(http.post(f"{GATEWAY}/topup_account", json=topup_body()) for _ in range(PURCHASES))
        )


async def _settled(database_url: str) -> tuple[int, dict[int, int]]:
    """Open purchases left, and the resolutions of each purchase's hold."""
    database = Database(database_url)
    try:
        async with database.read() as connection:
            still_open = (
                await connection.execute(
                    select(func.count())
                    .select_from(purchases)
                    .where(purchases.c.status.in_([status.value for status in OPEN]))
                )
            ).scalar_one()
            holds = select(purchases.c.hold_transfer_id).scalar_subquery()
            rows = await connection.execute(
                select(transfers.c.pending_id, func.count())
                .where(transfers.c.pending_id.in_(holds))
                .group_by(transfers.c.pending_id)
            )
            return still_open, {row[0]: row[1] for row in rows}
    finally:
        await database.dispose()


def _open_purchases(database_url: str, operator_url: str, tmp_path: Path) -> list[str]:
    """``PURCHASES`` top-ups the operator performed but answered after the server's
    timeout (left open); every third it then rejects. Their operator references."""
    who = new_merchant(database_url)
    port, server = serve(database_url, operator_url, tmp_path / "server.log")
    base = f"http://127.0.0.1:{port}"
    with server as started:
        wait_until_healthy(started, base, tmp_path / "server.log", timeout=30)
        httpx.put(f"{operator_url}/control/faults", json={"delay_ms": 1000})
        answers = run_async(lambda: _buy_all(base, who))
        httpx.put(f"{operator_url}/control/faults", json={"delay_ms": 0})
    assert [answer.status_code for answer in answers] == [502] * PURCHASES
    references = [answer.json()["token"] for answer in answers]
    for reference in references[::3]:
        rejected = httpx.put(
            f"{operator_url}/control/purchases/{reference}", json={"status": "rejected"}
        )
        assert rejected.status_code == 200
    return references


def test_three_processes_reconciling_at_once_settle_each_purchase_once(
    database_url: str, tmp_path: Path
) -> None:
    with counting_operator(tmp_path / "operator.log") as operator_url:
        references = _open_purchases(database_url, operator_url, tmp_path)
        before = httpx.get(f"{operator_url}/_counts").json()["asked"]
        env = {**os.environ, "CAJA_DATABASE_URL": database_url}
        command = [CAJA, "reconcile", "--operator-url", operator_url, "--json"]
        runs = [
            subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(RECONCILERS)
        ]
        outputs = [run.communicate(timeout=60) for run in runs]
        counts = httpx.get(f"{operator_url}/_counts").json()

    assert [run.returncode for run in runs] == [0] * RECONCILERS, outputs
    done = [json.loads(stdout) for stdout, _ in outputs]
    assert sum(each["checked"] for each in done) == PURCHASES
    assert sum(each["rejected"] for each in done) == len(references[::3])
    assert sum(each["authorized"] for each in done) == PURCHASES - len(references[::3])
    # Each asked about exactly once in this round, never twice at once.
    asked = {ref: counts["asked"].get(ref, 0) - before.get(ref, 0) for ref in references}
    assert asked == dict.fromkeys(references, 1)
    assert counts["overlaps"] == []
    # Each settled once: no purchase left open, each hold resolved by one transfer.
    still_open, resolutions = run_async(lambda: _settled(database_url))
    assert still_open == 0
    assert sorted(resolutions.values()) == [1] * PURCHASES
    verified = subprocess.run(
        [CAJA, "verify"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
