"""What the ops dashboard shows: totals per surface, the latest transfers, top-ups by
status, deposits, money moved per hour, the last `caja verify`, and the webhooks' state
(endpoints disabled, deliveries pending or failed)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import desc, insert, select
from sqlalchemy.engine import Connection

from caja.clients.service import find_clients
from caja.core.clock import iso_utc, utcnow
from caja.core.money import format_minor
from caja.db.engine import Database
from caja.deposits.stats import account_count
from caja.ledger.queries import asset_scales, latest_transfers, moved_per_surface, moved_since
from caja.ledger.verify import Report
from caja.ops.tables import verify_runs
from caja.topups.stats import purchases_by_status
from caja.wallet.service import profile_count
from caja.webhooks.stats import totals

__all__ = ["HOURS", "record_verify", "report_json", "summary"]

HOURS = 24
LATEST = 20


def _checks(report: Report) -> dict[str, Any]:
    """The report's counts and checks, as the console shows them and ``verify_runs`` keeps
    them."""
    return {
        "accounts": report.accounts,
        "entries": report.entries,
        "last_hash": report.last_hash,
        "checks": [
            {"name": check.name, "violations": check.violations, "detail": check.examples}
            for check in report.checks
        ],
    }


def report_json(report: Report, ran_at: datetime) -> dict[str, Any]:
    """A run of the checks as the ops console answers it."""
    return {
        "ran_at": iso_utc(ran_at),
        "ok": report.ok,
        "violations": sum(check.violations for check in report.checks),
        "transfers": report.transfers,
        **_checks(report),
    }


async def record_verify(database: Database, report: Report) -> datetime:
    """Record a run of the checks, with its report; when it ran."""
    violations = sum(check.violations for check in report.checks)
    ran_at = utcnow()
    kept = json.dumps(_checks(report))

    def work(connection: Connection) -> None:
        connection.execute(
            insert(verify_runs).values(
                ran_at=ran_at,
                ok=report.ok,
                violations=violations,
                transfers=report.transfers,
                report=kept,
            )
        )

    await database.write(work)
    return ran_at


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _per_surface(connection: Connection, scales: dict[str, int]) -> list[dict[str, Any]]:
    return [
        {
            "surface": total.surface,
            "asset": total.asset,
            "transfers": total.transfers,
            "amount": format_minor(total.amount_minor, scales[total.asset]),
        }
        for total in moved_per_surface(connection)
    ]


def _latest(connection: Connection, scales: dict[str, int]) -> list[dict[str, Any]]:
    return [
        {
            "token": line.token,
            "surface": line.surface,
            "kind": line.kind,
            "status": line.status,
            "asset": line.asset,
            "amount": format_minor(line.amount_minor, scales[line.asset]),
            "created_at": iso_utc(line.created_at),
        }
        for line in latest_transfers(connection, LATEST)
    ]


def _purchases(connection: Connection) -> list[dict[str, Any]]:
    return [
        {"kind": total.kind, "status": total.status, "count": total.count, "amount": total.amount}
        for total in purchases_by_status(connection)
    ]


def _moved_per_hour(
    connection: Connection, scales: dict[str, int], now: datetime
) -> list[dict[str, Any]]:
    """Money moved in each of the last HOURS hours (this one included), per asset."""
    since = _hour(now) - timedelta(hours=HOURS - 1)
    buckets: dict[tuple[datetime, str], int] = {}
    for created_at, asset, amount_minor in moved_since(connection, since):
        key = (_hour(created_at), asset)
        buckets[key] = buckets.get(key, 0) + amount_minor
    hours = [since + timedelta(hours=n) for n in range(HOURS)]
    return [
        {
            "hour": iso_utc(hour),
            "amounts": {
                asset: format_minor(total, scales[asset])
                for (at, asset), total in sorted(buckets.items())
                if at == hour
            },
        }
        for hour in hours
    ]


def _last_verify(connection: Connection) -> dict[str, Any] | None:
    last = connection.execute(select(verify_runs).order_by(desc(verify_runs.c.id)).limit(1)).first()
    if last is None:
        return None
    return {
        "ran_at": iso_utc(last.ran_at),
        "ok": last.ok,
        "violations": last.violations,
        "transfers": last.transfers,
    }


def _webhooks(connection: Connection) -> dict[str, Any]:
    """Endpoints disabled (and which, latest first), deliveries pending and failed."""
    found = totals(connection)
    wanted = {row.client_id for row in found.disabled}
    names = {
        client_id: {"id": token, "name": name}
        for client_id, token, name in find_clients(connection, None, wanted, len(wanted) or 1)
    }
    return {
        "disabled_endpoints": found.disabled_endpoints,
        "pending_deliveries": found.pending_deliveries,
        "failed_deliveries": found.failed_deliveries,
        "disabled": [
            {
                "id": row.token,
                "client": names.get(row.client_id),
                "url": row.url,
                "reason": row.reason,
                "since": None if row.since is None else iso_utc(row.since),
            }
            for row in found.disabled
        ],
    }


def _summary(connection: Connection, now: datetime) -> dict[str, Any]:
    scales = asset_scales(connection)
    return {
        "generated_at": iso_utc(now),
        "per_surface": _per_surface(connection, scales),
        "latest_transfers": _latest(connection, scales),
        "purchases_by_status": _purchases(connection),
        "deposit_accounts": account_count(connection),
        "wallet_profiles": profile_count(connection),
        "moved_per_hour": _moved_per_hour(connection, scales, now),
        "last_verify": _last_verify(connection),
        "webhooks": _webhooks(connection),
    }


async def summary(database: Database) -> dict[str, Any]:
    async with database.read() as connection:
        return await connection.run_sync(_summary, utcnow())
