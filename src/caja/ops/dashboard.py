"""What the ops dashboard shows: totals per surface, the latest transfers, top-ups by
status, deposits, money moved per hour, and the last `caja verify`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import desc, func, insert, select
from sqlalchemy.engine import Connection

from caja.core.clock import iso_utc, utcnow
from caja.core.money import format_minor
from caja.db.engine import Database
from caja.deposits.tables import deposit_accounts
from caja.ledger.model import TransferKind
from caja.ledger.tables import assets, transfers
from caja.ledger.verify import Report
from caja.ops.tables import verify_runs
from caja.topups.tables import purchases
from caja.wallet.tables import wallet_profiles

__all__ = ["HOURS", "record_verify", "summary"]

HOURS = 24
# Transfers that move money (holds and voids move none).
MOVING = [TransferKind.STANDARD.value, TransferKind.POST_PENDING.value, TransferKind.REVERSAL.value]


async def record_verify(database: Database, report: Report) -> None:
    violations = sum(check.violations for check in report.checks)

    def work(connection: Connection) -> None:
        connection.execute(
            insert(verify_runs).values(
                ran_at=utcnow(), ok=report.ok, violations=violations, transfers=report.transfers
            )
        )

    await database.write(work)


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _summary(connection: Connection, now: datetime) -> dict[str, Any]:
    scales = dict(connection.execute(select(assets.c.code, assets.c.scale)).all())
    per_surface = [
        {
            "surface": row.surface,
            "asset": row.asset,
            "transfers": row.count,
            "amount": format_minor(int(row.total), scales[row.asset]),
        }
        for row in connection.execute(
            select(
                transfers.c.surface,
                transfers.c.asset,
                func.count().label("count"),
                func.sum(transfers.c.amount_minor).label("total"),
            )
            .where(transfers.c.kind.in_(MOVING))
            .group_by(transfers.c.surface, transfers.c.asset)
            .order_by(transfers.c.surface, transfers.c.asset)
        )
    ]
    latest = [
        {
            "token": row.token,
            "surface": row.surface,
            "kind": row.kind,
            "status": row.status,
            "asset": row.asset,
            "amount": format_minor(row.amount_minor, scales[row.asset]),
            "created_at": iso_utc(row.created_at),
        }
        for row in connection.execute(select(transfers).order_by(desc(transfers.c.id)).limit(20))
    ]
    topups = [
        {"kind": row.kind, "status": row.status, "count": row.count, "amount": int(row.total)}
        for row in connection.execute(
            select(
                purchases.c.kind,
                purchases.c.status,
                func.count().label("count"),
                func.sum(purchases.c.amount).label("total"),
            )
            .group_by(purchases.c.kind, purchases.c.status)
            .order_by(purchases.c.kind, purchases.c.status)
        )
    ]
    deposit_count = connection.execute(select(func.count()).select_from(deposit_accounts))
    wallet_count = connection.execute(select(func.count()).select_from(wallet_profiles))
    since = _hour(now) - timedelta(hours=HOURS - 1)
    buckets: dict[tuple[datetime, str], int] = {}
    for row in connection.execute(
        select(transfers.c.created_at, transfers.c.asset, transfers.c.amount_minor).where(
            transfers.c.kind.in_(MOVING), transfers.c.created_at >= since
        )
    ):
        key = (_hour(row.created_at), row.asset)
        buckets[key] = buckets.get(key, 0) + row.amount_minor
    hours = [since + timedelta(hours=n) for n in range(HOURS)]
    moved = [
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
    last = connection.execute(select(verify_runs).order_by(desc(verify_runs.c.id)).limit(1)).first()
    return {
        "generated_at": iso_utc(now),
        "per_surface": per_surface,
        "latest_transfers": latest,
        "purchases_by_status": topups,
        "deposit_accounts": deposit_count.scalar_one(),
        "wallet_profiles": wallet_count.scalar_one(),
        "moved_per_hour": moved,
        "last_verify": None
        if last is None
        else {
            "ran_at": iso_utc(last.ran_at),
            "ok": last.ok,
            "violations": last.violations,
            "transfers": last.transfers,
        },
    }


async def summary(database: Database) -> dict[str, Any]:
    async with database.read() as connection:
        return await connection.run_sync(_summary, utcnow())
