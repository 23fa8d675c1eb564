"""The ledger's invariants, checked against what is stored, and the report of a run.

Each invariant is a name and a way to find what breaks it. The ledger's own are
:data:`CHECKS` and :data:`JOURNAL`; a product above the ledger adds its own, and the list
that ``caja verify`` runs is put together above the products (``caja.ops.checks``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Executable, Select, Subquery, and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from caja.ledger.journal import check_chain
from caja.ledger.model import TransferKind, TransferStatus
from caja.ledger.queries import MOVING
from caja.ledger.tables import accounts, entries, journal, transfers

__all__ = [
    "CHECKS",
    "JOURNAL",
    "MAX_LISTED",
    "Check",
    "Invariant",
    "Report",
    "by_query",
    "verify",
]

# Report at most this many violations of each kind; the count is still exact.
MAX_LISTED = 20

# How many violations there are, and the first MAX_LISTED of them described.
Found = tuple[int, list[str]]


@dataclass(frozen=True, slots=True)
class Invariant:
    """A check ``caja verify`` runs: its name, and how to find what breaks it."""

    name: str
    find: Callable[[AsyncConnection], Awaitable[Found]]


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


def by_query(name: str, query: Callable[[], Executable]) -> Invariant:
    """An invariant that each row ``query`` returns breaks (shown as its values)."""

    async def find(connection: AsyncConnection) -> Found:
        rows = (await connection.execute(query())).all()
        return len(rows), [", ".join(str(value) for value in row) for row in rows[:MAX_LISTED]]

    return Invariant(name, find)


async def verify(connection: AsyncConnection, invariants: Sequence[Invariant]) -> Report:
    """Check each invariant, in order; a report with the violations of each."""
    checks = []
    for invariant in invariants:
        violations, examples = await invariant.find(connection)
        checks.append(Check(invariant.name, violations, examples))
    counts = [
        (await connection.execute(select(func.count()).select_from(table))).scalar_one()
        for table in (accounts, transfers, entries)
    ]
    last_hash = (await connection.execute(select(journal.c.hash))).scalar_one()
    accounts_count, transfers_count, entries_count = counts
    return Report(checks, accounts_count, transfers_count, entries_count, last_hash)


# --- the ledger's own invariants ---------------------------------------------------------


def _balances_sum_entries() -> Select[Any]:
    entry_sums = (
        select(
            entries.c.account_id, func.coalesce(func.sum(entries.c.amount_minor), 0).label("total")
        )
        .group_by(entries.c.account_id)
        .subquery()
    )
    return (
        select(accounts.c.token, accounts.c.balance_minor, func.coalesce(entry_sums.c.total, 0))
        .select_from(accounts.outerjoin(entry_sums, entry_sums.c.account_id == accounts.c.id))
        .where(accounts.c.balance_minor != func.coalesce(entry_sums.c.total, 0))
    )


def _running_balances_follow() -> Select[Any]:
    running = select(
        entries.c.id,
        entries.c.account_id,
        entries.c.balance_after_minor,
        func.sum(entries.c.amount_minor)
        .over(partition_by=entries.c.account_id, order_by=entries.c.id)
        .label("expected"),
    ).subquery()
    return select(running.c.id, running.c.balance_after_minor, running.c.expected).where(
        running.c.balance_after_minor != running.c.expected
    )


def _balances_match_last_entry() -> Select[Any]:
    latest = (
        select(entries.c.account_id, func.max(entries.c.id).label("last_id"))
        .group_by(entries.c.account_id)
        .subquery()
    )
    return (
        select(accounts.c.token, accounts.c.balance_minor, entries.c.balance_after_minor)
        .select_from(
            accounts.join(latest, latest.c.account_id == accounts.c.id).join(
                entries, entries.c.id == latest.c.last_id
            )
        )
        .where(accounts.c.balance_minor != entries.c.balance_after_minor)
    )


def _assets_sum_to_zero() -> Select[Any]:
    return (
        select(accounts.c.asset, func.sum(accounts.c.balance_minor))
        .group_by(accounts.c.asset)
        .having(func.sum(accounts.c.balance_minor) != 0)
    )


def _held_equals_pending() -> Select[Any]:
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
    return (
        select(accounts.c.token, accounts.c.pending_out_minor, func.coalesce(held.c.total, 0))
        .select_from(accounts.outerjoin(held, held.c.account_id == accounts.c.id))
        .where(accounts.c.pending_out_minor != func.coalesce(held.c.total, 0))
    )


def _within_limits() -> Select[Any]:
    return select(accounts.c.token, accounts.c.balance_minor, accounts.c.pending_out_minor).where(
        accounts.c.overdraft_minor.is_not(None),
        accounts.c.balance_minor - accounts.c.pending_out_minor < -accounts.c.overdraft_minor,
    )


def _per_transfer() -> Subquery:
    return (
        select(
            entries.c.transfer_id,
            func.sum(entries.c.amount_minor).label("net"),
            func.count().label("legs"),
            func.max(entries.c.amount_minor).label("credit"),
        )
        .group_by(entries.c.transfer_id)
        .subquery()
    )


def _posted_have_two_entries() -> Select[Any]:
    per_transfer = _per_transfer()
    return (
        select(transfers.c.token, per_transfer.c.net, per_transfer.c.legs)
        .select_from(
            transfers.outerjoin(per_transfer, per_transfer.c.transfer_id == transfers.c.id)
        )
        .where(
            transfers.c.kind.in_(MOVING),
            (per_transfer.c.legs.is_(None))
            | (per_transfer.c.legs != 2)
            | (per_transfer.c.net != 0)
            | (per_transfer.c.credit != transfers.c.amount_minor),
        )
    )


def _still_have_no_entries() -> Select[Any]:
    per_transfer = _per_transfer()
    return (
        select(transfers.c.token)
        .select_from(transfers.join(per_transfer, per_transfer.c.transfer_id == transfers.c.id))
        .where(transfers.c.kind.not_in(MOVING))
    )


def _amounts_positive() -> Select[Any]:
    return select(transfers.c.token, transfers.c.amount_minor).where(transfers.c.amount_minor <= 0)


def _keys_unique() -> Select[Any]:
    return (
        select(transfers.c.client_id, transfers.c.surface, transfers.c.idempotency_key)
        .where(transfers.c.idempotency_key.is_not(None))
        .group_by(transfers.c.client_id, transfers.c.surface, transfers.c.idempotency_key)
        .having(func.count() > 1)
    )


def _holds_resolved_once() -> Select[Any]:
    resolution = transfers.alias("resolution")
    pending = TransferStatus.PENDING.value
    return (
        select(transfers.c.token)
        .select_from(transfers.outerjoin(resolution, resolution.c.pending_id == transfers.c.id))
        .where(
            transfers.c.kind == TransferKind.PENDING.value,
            and_(transfers.c.status != pending, resolution.c.id.is_(None))
            | and_(transfers.c.status == pending, resolution.c.id.is_not(None)),
        )
    )


async def _chain_breaks(connection: AsyncConnection) -> Found:
    breaks = await check_chain(connection)
    return len(breaks), [str(chain_break) for chain_break in breaks[:MAX_LISTED]]


# The ledger's checks of its rows, in the order the report lists them.
CHECKS = (
    by_query("every balance equals the sum of its entries", _balances_sum_entries),
    by_query("every running balance follows from the entries before it", _running_balances_follow),
    by_query("every balance equals its last entry's running balance", _balances_match_last_entry),
    by_query("every asset sums to zero", _assets_sum_to_zero),
    by_query("every held amount equals its pending transfers", _held_equals_pending),
    by_query("no account is past its limit", _within_limits),
    by_query("every posted transfer has two entries that cancel out", _posted_have_two_entries),
    by_query("no transfer without a movement has entries", _still_have_no_entries),
    by_query("every amount is positive", _amounts_positive),
    by_query("every idempotency key maps to one transfer", _keys_unique),
    by_query("every resolved hold has exactly one resolution", _holds_resolved_once),
)
# The journal's chain, walked whole: the report lists it last, after every product's checks.
JOURNAL = Invariant("the journal's hash chain is unbroken", _chain_breaks)
