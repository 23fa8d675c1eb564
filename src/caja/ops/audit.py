"""What the ops console runs or exports, recorded: reconcile now, run verify, a CSV
export. Each action writes one ``admin_audit`` row (the client, the action, its
parameters, the time), read back newest first."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from sqlalchemy import desc, insert, select
from sqlalchemy.engine import Connection

from caja.clients.service import find_clients
from caja.core.clock import iso_utc, utcnow
from caja.core.invariant import invariant
from caja.core.principal import Principal
from caja.db.engine import Database
from caja.ledger.batching import Batcher
from caja.ledger.queries import MAX_PAGE
from caja.ops.checks import verify
from caja.ops.console import Page, read
from caja.ops.dashboard import record_verify, report_json
from caja.ops.tables import admin_audit, verify_runs
from caja.providers.operator import OperatorGateway
from caja.topups.service import reconcile

__all__ = ["audit_page", "last_report", "reconcile_now", "record", "run_verify"]


async def record(database: Database, who: Principal, action: str, parameters: Any) -> None:
    """One row of the audit trail."""
    text = json.dumps(parameters, sort_keys=True, default=str)

    def work(connection: Connection) -> None:
        connection.execute(
            insert(admin_audit).values(
                client_id=who.client_id, action=action, parameters=text, at=utcnow()
            )
        )

    await database.write(work)


def _audit_page(connection: Connection, cursor: int | None, limit: int) -> Page:
    invariant(1 <= limit <= MAX_PAGE, "a page is bounded")
    query = select(admin_audit).order_by(desc(admin_audit.c.id)).limit(limit + 1)
    if cursor is not None:
        query = query.where(admin_audit.c.id < cursor)
    rows = connection.execute(query).all()
    shown = rows[:limit]
    names = {
        client_id: (token, name)
        for client_id, token, name in find_clients(
            connection, None, {row.client_id for row in shown}, limit
        )
    }
    data = [
        {
            "id": row.id,
            "at": iso_utc(row.at),
            "client": names.get(row.client_id, ("", ""))[0],
            "client_name": names.get(row.client_id, ("", ""))[1],
            "action": row.action,
            "parameters": json.loads(row.parameters),
        }
        for row in shown
    ]
    return Page(data, str(shown[-1].id) if len(rows) > limit else None)


async def audit_page(database: Database, cursor: int | None, limit: int) -> Page:
    """The recorded actions, newest first."""
    return await read(database, _audit_page, cursor, limit)


async def run_verify(database: Database, who: Principal) -> dict[str, Any]:
    """``caja verify``'s checks now, recorded as the command records them, and in the
    audit trail; the report."""
    async with database.read() as connection:
        report = await verify(connection)
    ran_at = await record_verify(database, report)
    await record(database, who, "verify", {"ok": report.ok})
    return report_json(report, ran_at)


def _last_report(connection: Connection) -> dict[str, Any] | None:
    last = connection.execute(select(verify_runs).order_by(desc(verify_runs.c.id)).limit(1)).first()
    if last is None:
        return None
    found: dict[str, Any] = {
        "ran_at": iso_utc(last.ran_at),
        "ok": last.ok,
        "violations": last.violations,
        "transfers": last.transfers,
    }
    if last.report is not None:
        found.update(json.loads(last.report))
    return found


async def last_report(database: Database) -> dict[str, Any] | None:
    """The last recorded run of the checks (by the CLI or the console); its checks are
    listed for runs recorded since they are kept."""
    return await read(database, _last_report)


async def reconcile_now(
    database: Database, gateway: OperatorGateway, batcher: Batcher, who: Principal
) -> dict[str, int]:
    """``caja reconcile`` now, with its defaults (every open purchase; one the operator
    never received is rejected once two minutes old); its counts, recorded."""
    done = await reconcile(database, gateway, batcher=batcher, not_found_after=timedelta(minutes=2))
    counts = asdict(done)
    await record(database, who, "reconcile", counts)
    return counts
