"""The ledger's invariants, checked against what is stored."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from caja.ledger.journal import check_chain
from caja.ledger.model import TransferKind, TransferStatus
from caja.ledger.tables import accounts, entries, journal, transfers
from caja.topups.tables import purchases

__all__ = ["Report", "verify"]

# Report at most this many violations of each kind; the count is still exact.
MAX_LISTED = 20


@dataclass(slots=True)
class Check:
    name: str
    violations: int = 0
    examples: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Report:
    checks: list[Check]
    accounts: int
    transfers: int
    entries: int
    # The journal's last hash: kept outside the database, it shows later whether the
    # history up to it was rewritten, hashes and all.
    last_hash: str = ""

    @property
    def ok(self) -> bool:
        return all(check.violations == 0 for check in self.checks)


async def _collect(connection: AsyncConnection, name: str, query: object) -> Check:
    check = Check(name)
    rows = (await connection.execute(query)).all()  # type: ignore[call-overload]
    check.violations = len(rows)
    check.examples = [", ".join(str(value) for value in row) for row in rows[:MAX_LISTED]]
    return check


async def verify(connection: AsyncConnection) -> Report:
    """Every invariant of the ledger; a report with the violations of each."""
    entry_sums = (
        select(
            entries.c.account_id, func.coalesce(func.sum(entries.c.amount_minor), 0).label("total")
        )
        .group_by(entries.c.account_id)
        .subquery()
    )
    held = (
        select(
            transfers.c.debit_account_id.label("account_id"),
            func.sum(transfers.c.amount_minor).label("total"),
        )
        .where(
            transfers.c.kind == TransferKind.PENDING.value,
            transfers.c.status == TransferStatus.PENDING.value,
        )
        .group_by(transfers.c.debit_account_id)
        .subquery()
    )
    running = select(
        entries.c.id,
        entries.c.account_id,
        entries.c.balance_after_minor,
        func.sum(entries.c.amount_minor)
        .over(partition_by=entries.c.account_id, order_by=entries.c.id)
        .label("expected"),
    ).subquery()
    latest = (
        select(entries.c.account_id, func.max(entries.c.id).label("last_id"))
        .group_by(entries.c.account_id)
        .subquery()
    )
    per_transfer = (
        select(
            entries.c.transfer_id,
            func.sum(entries.c.amount_minor).label("net"),
            func.count().label("legs"),
            func.max(entries.c.amount_minor).label("credit"),
        )
        .group_by(entries.c.transfer_id)
        .subquery()
    )
    moving_kinds = [
        TransferKind.STANDARD.value,
        TransferKind.POST_PENDING.value,
        TransferKind.REVERSAL.value,
    ]
    queries = {
        "every balance equals the sum of its entries": select(
            accounts.c.token, accounts.c.balance_minor, func.coalesce(entry_sums.c.total, 0)
        )
        .select_from(accounts.outerjoin(entry_sums, entry_sums.c.account_id == accounts.c.id))
        .where(accounts.c.balance_minor != func.coalesce(entry_sums.c.total, 0)),
        "every running balance follows from the entries before it": select(
            running.c.id, running.c.balance_after_minor, running.c.expected
        ).where(running.c.balance_after_minor != running.c.expected),
        "every balance equals its last entry's running balance": select(
            accounts.c.token, accounts.c.balance_minor, entries.c.balance_after_minor
        )
        .select_from(
            accounts.join(latest, latest.c.account_id == accounts.c.id).join(
                entries, entries.c.id == latest.c.last_id
            )
        )
        .where(accounts.c.balance_minor != entries.c.balance_after_minor),
        "every asset sums to zero": select(accounts.c.asset, func.sum(accounts.c.balance_minor))
        .group_by(accounts.c.asset)
        .having(func.sum(accounts.c.balance_minor) != 0),
        "every held amount equals its pending transfers": select(
            accounts.c.token, accounts.c.pending_out_minor, func.coalesce(held.c.total, 0)
        )
        .select_from(accounts.outerjoin(held, held.c.account_id == accounts.c.id))
        .where(accounts.c.pending_out_minor != func.coalesce(held.c.total, 0)),
        "no account is past its limit": select(
            accounts.c.token, accounts.c.balance_minor, accounts.c.pending_out_minor
        ).where(
            accounts.c.overdraft_minor.is_not(None),
            accounts.c.balance_minor - accounts.c.pending_out_minor < -accounts.c.overdraft_minor,
        ),
        "every posted transfer has two entries that cancel out": select(
            transfers.c.token, per_transfer.c.net, per_transfer.c.legs
        )
        .select_from(
            transfers.outerjoin(per_transfer, per_transfer.c.transfer_id == transfers.c.id)
        )
        .where(
            transfers.c.kind.in_(moving_kinds),
            (per_transfer.c.legs.is_(None))
            | (per_transfer.c.legs != 2)
            | (per_transfer.c.net != 0)
            | (per_transfer.c.credit != transfers.c.amount_minor),
        ),
        "no transfer without a movement has entries": select(transfers.c.token)
        .select_from(transfers.join(per_transfer, per_transfer.c.transfer_id == transfers.c.id))
        .where(transfers.c.kind.not_in(moving_kinds)),
        "every amount is positive": select(transfers.c.token, transfers.c.amount_minor).where(
            transfers.c.amount_minor <= 0
        ),
        "every idempotency key maps to one transfer": select(
            transfers.c.client_id, transfers.c.surface, transfers.c.idempotency_key
        )
        .where(transfers.c.idempotency_key.is_not(None))
        .group_by(transfers.c.client_id, transfers.c.surface, transfers.c.idempotency_key)
        .having(func.count() > 1),
        "every resolved hold has exactly one resolution": select(transfers.c.token)
        .select_from(
            transfers.outerjoin(
                resolution := transfers.alias("resolution"),
                resolution.c.pending_id == transfers.c.id,
            )
        )
        .where(
            transfers.c.kind == TransferKind.PENDING.value,
            and_(transfers.c.status != TransferStatus.PENDING.value, resolution.c.id.is_(None))
            | and_(
                transfers.c.status == TransferStatus.PENDING.value, resolution.c.id.is_not(None)
            ),
        ),
    }
    # A top-up or package purchase holds the merchant's money in one pending transfer: posted
    # once authorized, voided once rejected, pending while open; always its amount in pesos.
    hold_state = {
        "authorized": TransferStatus.POSTED.value,
        "rejected": TransferStatus.VOIDED.value,
    }
    expected_status = case(
        *((purchases.c.status == status, value) for status, value in hold_state.items()),
        else_=TransferStatus.PENDING.value,
    )
    queries["every purchase's hold matches its status and amount"] = (
        select(purchases.c.token, purchases.c.status, transfers.c.status)
        .select_from(purchases.join(transfers, transfers.c.id == purchases.c.hold_transfer_id))
        .where(
            (transfers.c.status != expected_status)
            | (transfers.c.kind != TransferKind.PENDING.value)
            | (transfers.c.amount_minor != purchases.c.amount * 100)
        )
    )
    checks = [await _collect(connection, name, query) for name, query in queries.items()]
    breaks = await check_chain(connection)
    checks.append(
        Check(
            "the journal's hash chain is unbroken",
            len(breaks),
            [str(chain_break) for chain_break in breaks[:MAX_LISTED]],
        )
    )
    counts = [
        (await connection.execute(select(func.count()).select_from(table))).scalar_one()
        for table in (accounts, transfers, entries)
    ]
    last_hash = (await connection.execute(select(journal.c.hash))).scalar_one()
    accounts_count, transfers_count, entries_count = counts
    return Report(checks, accounts_count, transfers_count, entries_count, last_hash)
