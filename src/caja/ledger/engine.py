"""The engine's one write entry point: post a batch of operations in one transaction.

Every operation gets its own outcome; one underfunded transfer does not fail the others.
Account rows are locked in ascending id order, so two batches touching the same accounts
wait for each other instead of deadlocking. Idempotency keys are checked after the locks
are held, so a racing request with the same key sees the winner's committed row.

A batch may also lock without waiting (``wait=False``): the rows another transaction
holds are skipped, and the groups that need them are answered :data:`DEFERRED`, to be
posted again in a transaction that waits, so that one row held elsewhere delays only the
groups that name it. The transfers' ``created_at`` is the database's clock when the batch
takes the journal (see :func:`caja.ledger.store.write_postings`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection

from caja.core.errors import (
    AlreadyResolved,
    AssetMismatch,
    CajaError,
    IdempotencyConflict,
    NoFunds,
    NotFound,
    SameAccount,
)
from caja.core.invariant import invariant
from caja.core.tokens import new_tokens, request_digest
from caja.ledger import events, monitors, store
from caja.ledger.journal import HASHED_COLUMNS
from caja.ledger.model import (
    BatchView,
    NewTransfer,
    Operation,
    ResolvePending,
    Result,
    Reverse,
    TransferKind,
    TransferStatus,
    TransferView,
)
from caja.ledger.queries import AccountView, transfer_views
from caja.ledger.tables import transfers

__all__ = ["DEFERRED", "MAX_BATCH", "Check", "Deferred", "Group", "apply"]

MAX_BATCH = 1000

_Key = tuple[int, str, str]


class Deferred(CajaError):
    """A group that needs a row another transaction holds: post it again, waiting."""

    code = "Deferred"
    message = "The request waits for a row another transaction holds."


DEFERRED = Result(error=Deferred())


@dataclass(slots=True)
class _Account:
    """An account's state while the batch is applied in memory."""

    id: int
    token: str
    asset: str
    scale: int
    balance: int
    pending_out: int
    overdraft: int | None
    version: int = 0
    changed: bool = False
    monitored: bool = False

    def can_hold(self, amount: int) -> bool:
        if self.overdraft is None:
            return True
        return self.balance - self.pending_out - amount >= -self.overdraft


@dataclass(slots=True)
class _Plan:
    """Rows to write, built in order, written at the end."""

    tokens: Iterator[str]
    transfer_rows: list[dict[str, Any]] = field(default_factory=list)
    entry_rows: list[dict[str, Any]] = field(default_factory=list)
    status_changes: list[dict[str, Any]] = field(default_factory=list)
    # The tokens of each result's new transfers, to fill in their views after the insert.
    new_tokens: dict[int, list[str]] = field(default_factory=dict)
    # (index of a replay, index of the earlier result in this batch it repeats)
    replays: list[tuple[int, int]] = field(default_factory=list)
    # Each operation's request digest, computed once (by the operation's id).
    digests: dict[int, str | None] = field(default_factory=dict)

    def digest(self, operation: Operation) -> str | None:
        key = id(operation)
        if key not in self.digests:
            self.digests[key] = _digest(operation)
        return self.digests[key]


Check = Callable[[Connection, BatchView], None]


@dataclass(frozen=True, slots=True)
class Group:
    """One order's operations, posted all or none; ``check`` may refuse them first.

    Only the first operation may carry an idempotency key: a replay of it answers for the
    whole group, and ``check`` runs only for a group that is not a replay.
    """

    operations: tuple[Operation, ...]
    check: Check | None = None


def apply(
    connection: Connection,
    groups: Sequence[Group],
    *,
    locked: Mapping[int, AccountView] | None = None,
    wait: bool = True,
) -> list[Result]:
    """Apply ``groups`` inside the caller's write transaction; one result per group.

    ``locked`` holds accounts the caller has already read with their rows locked in this
    transaction; the others are locked here. Without ``wait``, rows another transaction
    holds are not waited for: the groups that need them get :data:`DEFERRED`.
    """
    if not groups:
        return []
    invariant(len(groups) <= MAX_BATCH, "a batch holds at most MAX_BATCH orders")
    operations = [operation for group in groups for operation in group.operations]
    for group in groups:
        invariant(bool(group.operations), "a group holds at least one operation")
        invariant(
            all(operation.idempotency_key is None for operation in group.operations[1:]),
            "only a group's first operation carries a key",
        )
    for operation in operations:
        invariant(
            operation.idempotency_key is None or operation.client_id is not None,
            "an idempotency key needs a client",
        )
    referenced = _referenced_transfers(connection, operations, wait)
    account_ids = _account_ids(operations, referenced)
    state = _lock_accounts(connection, account_ids, locked, wait)
    batch = _Batch(
        plan=_Plan(tokens=iter(new_tokens("tx", len(operations)))),
        state=state,
        referenced=referenced,
        stored=_stored_by_key(connection, operations),
        reversed_ids=_already_reversed(connection, operations),
        clock=lambda: store.database_now(connection),
    )
    if not wait:
        batch.held = _Held(
            accounts=frozenset(account_ids - state.keys()),
            transfers=frozenset(_target_ids(operations) - referenced.keys()),
        )
    for group in groups:
        batch.add(connection, group)
    batch.check_limits()
    return _write(connection, batch.plan, batch.state, batch.results)


def _account_ids(operations: Sequence[Operation], referenced: dict[int, TransferView]) -> set[int]:
    """The accounts the operations move (of the referenced transfers that were found)."""
    account_ids: set[int] = set()
    for operation in operations:
        if isinstance(operation, NewTransfer):
            account_ids.update((operation.debit_account_id, operation.credit_account_id))
        else:
            target = referenced.get(_target_id(operation))
            if target is not None:
                account_ids.update((target.debit_account_id, target.credit_account_id))
    return account_ids


def _lock_accounts(
    connection: Connection,
    account_ids: set[int],
    locked: Mapping[int, AccountView] | None,
    wait: bool,
) -> dict[int, _Account]:
    """The state of the accounts ``account_ids``, their rows locked; without ``wait``,
    those another transaction holds are left out."""
    known = dict(locked or {})
    missing = sorted(account_ids - known.keys())
    if missing:
        known.update(
            (row[0], AccountView(*row))
            for row in store.account_rows(connection, ids=missing, lock=True, skip_locked=not wait)
        )
    return {
        view.id: _Account(
            view.id,
            view.token,
            view.asset,
            view.scale,
            view.balance_minor,
            view.pending_out_minor,
            view.overdraft_minor,
            view.version,
            monitored=bool(view.monitored),
        )
        for view in known.values()
        if view.id in account_ids
    }


def _digest(operation: Operation) -> str | None:
    """The digest stored with the operation's key: of the request's meaningful fields."""
    if operation.request is None:
        return None
    return request_digest(*operation.request)


@dataclass(frozen=True, slots=True)
class _Held:
    """What a batch that does not wait asked for and did not get: accounts and
    referenced transfers that another transaction holds, or that do not exist."""

    accounts: frozenset[int] = frozenset()
    transfers: frozenset[int] = frozenset()

    def needed_by(self, group: Group, referenced: dict[int, TransferView]) -> bool:
        if not (self.accounts or self.transfers):
            return False
        for operation in group.operations:
            if isinstance(operation, NewTransfer):
                moved = {operation.debit_account_id, operation.credit_account_id}
            elif _target_id(operation) in self.transfers:
                return True
            else:
                target = referenced.get(_target_id(operation))
                moved = (
                    set() if target is None else {target.debit_account_id, target.credit_account_id}
                )
            if moved & self.accounts:
                return True
        return False


@dataclass(slots=True)
class _Batch:
    """The batch being applied in memory: its plan, its accounts, and one result per group.

    It is also what a group's check sees (:class:`~caja.ledger.model.BatchView`).
    """

    plan: _Plan
    state: dict[int, _Account]
    referenced: dict[int, TransferView]
    stored: dict[_Key, tuple[str | None, TransferView]]
    reversed_ids: set[int]
    # The database's clock, read once when a check first asks for the batch's time.
    clock: Callable[[], datetime]
    held: _Held = field(default_factory=_Held)
    moment: datetime | None = None
    resolved_ids: set[int] = field(default_factory=set)
    seen: dict[_Key, tuple[str | None, int]] = field(default_factory=dict)
    results: list[Result] = field(default_factory=list)

    @property
    def now(self) -> datetime:
        if self.moment is None:
            self.moment = self.clock()
        return self.moment

    def balance(self, account_id: int) -> int:
        return self.state[account_id].balance

    def available(self, account_id: int) -> int:
        account = self.state[account_id]
        return account.balance - account.pending_out

    def moved(self, account_id: int) -> tuple[int, int]:
        rows = self.plan.entry_rows
        signed = [row["amount_minor"] for row in rows if row["account_id"] == account_id]
        return sum(n for n in signed if n > 0), -sum(n for n in signed if n < 0)

    def add(self, connection: Connection, group: Group) -> None:
        """Plan ``group``, or answer it as a replay or with its error."""
        first = group.operations[0]
        key = _key(first)
        if key is not None and self._replayed(key, first):
            return
        if self.held.needed_by(group, self.referenced):
            self.results.append(DEFERRED)
            return
        try:
            if group.check is not None:
                group.check(connection, self)
            tokens = self._apply_all(group.operations)
        except CajaError as error:
            self.results.append(Result(error=error))
        else:
            self.plan.new_tokens[len(self.results)] = tokens
            self.results.append(Result())
        if key is not None:
            self.seen[key] = (self.plan.digest(first), len(self.results) - 1)

    def _replayed(self, key: _Key, operation: Operation) -> bool:
        """Answer ``operation`` when its key was used, stored or earlier in the batch."""
        earlier = self.stored.get(key)
        if earlier is not None:
            self.results.append(_replay(earlier, operation))
            return True
        if key not in self.seen:
            return False
        digest, index = self.seen[key]
        prior = self.results[index]
        if not operation.any_body and digest != self.plan.digest(operation):
            self.results.append(Result(error=IdempotencyConflict()))
        elif prior.error is not None:
            self.results.append(prior)
        else:
            # The earlier transfer's view exists only after the insert.
            self.plan.replays.append((len(self.results), index))
            self.results.append(Result(replayed=True))
        return True

    def _apply_all(self, operations: tuple[Operation, ...]) -> list[str]:
        """Plan every operation, or none: a failing one undoes the group's earlier ones."""
        undo = self._undo_point() if len(operations) > 1 else None
        start = len(self.plan.transfer_rows)
        try:
            for operation in operations:
                self._apply_one(operation)
        except CajaError:
            if undo is not None:
                undo()
            raise
        return [row["token"] for row in self.plan.transfer_rows[start:]]

    def _apply_one(self, operation: Operation) -> None:
        if isinstance(operation, NewTransfer):
            _apply_new(self.plan, self.state, operation)
        elif isinstance(operation, ResolvePending):
            _apply_resolve(self.plan, self.state, self.referenced, self.resolved_ids, operation)
        else:
            _apply_reverse(self.plan, self.state, self.referenced, self.reversed_ids, operation)

    def _undo_point(self) -> Callable[[], None]:
        """A function that puts the plan and the accounts back as they are now."""
        plan = self.plan
        sizes = (len(plan.transfer_rows), len(plan.entry_rows), len(plan.status_changes))
        accounts = {account_id: replace(account) for account_id, account in self.state.items()}
        reversed_ids, resolved_ids = set(self.reversed_ids), set(self.resolved_ids)

        def undo() -> None:
            del plan.transfer_rows[sizes[0] :]
            del plan.entry_rows[sizes[1] :]
            del plan.status_changes[sizes[2] :]
            self.state.update(accounts)
            self.reversed_ids.clear()
            self.reversed_ids.update(reversed_ids)
            self.resolved_ids.clear()
            self.resolved_ids.update(resolved_ids)

        return undo

    def check_limits(self) -> None:
        for account in self.state.values():
            invariant(account.pending_out >= 0, "held amounts are never negative")
            invariant(
                account.overdraft is None
                or account.balance - account.pending_out >= -account.overdraft,
                "no account ends past its limit",
            )


def _target_id(operation: ResolvePending | Reverse) -> int:
    if isinstance(operation, ResolvePending):
        return operation.pending_transfer_id
    return operation.transfer_id


def _key(operation: Operation) -> _Key | None:
    if operation.idempotency_key is None or operation.client_id is None:
        return None
    return (operation.client_id, operation.surface, operation.idempotency_key)


def _replay(stored: tuple[str | None, TransferView], operation: Operation) -> Result:
    stored_digest, view = stored
    if not operation.any_body and stored_digest != _digest(operation):
        return Result(error=IdempotencyConflict())
    return Result(transfer=view, replayed=True)


def _target_ids(operations: Sequence[Operation]) -> set[int]:
    return {_target_id(op) for op in operations if not isinstance(op, NewTransfer)}


def _referenced_transfers(
    connection: Connection, operations: Sequence[Operation], wait: bool
) -> dict[int, TransferView]:
    """The transfers the operations resolve or reverse, their rows locked so that two
    resolutions of one hold cannot interleave; without ``wait``, those another
    transaction holds are left out."""
    ids = sorted(_target_ids(operations))
    if not ids:
        return {}
    got = connection.execute(
        select(transfers.c.id)
        .where(transfers.c.id.in_(ids))
        .order_by(transfers.c.id)
        .with_for_update(skip_locked=not wait)
    )
    ids = [row.id for row in got]
    if not ids:
        return {}
    return {view.id: view for view in transfer_views(connection, transfers.c.id.in_(ids))}


def _stored_by_key(
    connection: Connection, operations: Sequence[Operation]
) -> dict[_Key, tuple[str | None, TransferView]]:
    keys = {key for key in map(_key, operations) if key is not None}
    if not keys:
        return {}
    by_scope: dict[tuple[int, str], list[str]] = {}
    for client_id, surface, idempotency_key in keys:
        by_scope.setdefault((client_id, surface), []).append(idempotency_key)
    digests = {
        row[0]: (row[1], row[2])
        for (client_id, surface), scope_keys in by_scope.items()
        for row in store.stored_key_rows(connection, client_id, surface, sorted(scope_keys))
    }
    if not digests:
        return {}
    found: dict[_Key, tuple[str | None, TransferView]] = {}
    for view in transfer_views(connection, transfers.c.id.in_(list(digests))):
        surface, digest = digests[view.id]
        assert view.client_id is not None
        assert view.idempotency_key is not None
        found[(view.client_id, surface, view.idempotency_key)] = (digest, view)
    return found


def _already_reversed(connection: Connection, operations: Sequence[Operation]) -> set[int]:
    ids = [op.transfer_id for op in operations if isinstance(op, Reverse)]
    if not ids:
        return set()
    rows = connection.execute(
        select(transfers.c.reverses_id).where(transfers.c.reverses_id.in_(ids))
    )
    return {row.reverses_id for row in rows}


def _accounts_for(
    state: dict[int, _Account], debit_id: int, credit_id: int
) -> tuple[_Account, _Account]:
    debit = state.get(debit_id)
    credit = state.get(credit_id)
    if debit is None:
        raise NotFound("The origin account does not exist.", code="AccountNotFound")
    if credit is None:
        raise NotFound("The destination account does not exist.", code="AccountNotFound")
    if debit.id == credit.id:
        raise SameAccount()
    if debit.asset != credit.asset:
        raise AssetMismatch()
    return debit, credit


def _add_transfer(
    plan: _Plan,
    operation: Operation,
    *,
    kind: TransferKind,
    status: TransferStatus,
    debit: _Account,
    credit: _Account,
    amount: int,
    pending_id: int | None = None,
    reverses_id: int | None = None,
) -> None:
    plan.transfer_rows.append(
        {
            "token": next(plan.tokens),
            "client_id": operation.client_id,
            "surface": operation.surface,
            "idempotency_key": operation.idempotency_key,
            "request_digest": plan.digest(operation),
            "kind": kind.value,
            "status": status.value,
            "debit_account_id": debit.id,
            "credit_account_id": credit.id,
            "asset": debit.asset,
            "amount_minor": amount,
            "description": operation.description,
            "pending_id": pending_id,
            "reverses_id": reverses_id,
        }
    )


def _move(plan: _Plan, debit: _Account, credit: _Account, amount: int) -> None:
    """Post the last planned transfer's entries, carrying each account's running balance."""
    token = plan.transfer_rows[-1]["token"]
    for account, signed in ((debit, -amount), (credit, amount)):
        account.balance += signed
        account.version += 1
        account.changed = True
        plan.entry_rows.append(
            {
                "transfer_token": token,
                "account_id": account.id,
                "amount_minor": signed,
                "balance_after_minor": account.balance,
            }
        )


def _apply_new(plan: _Plan, state: dict[int, _Account], operation: NewTransfer) -> None:
    amount = operation.amount_minor
    invariant(amount > 0, "amounts are positive")
    debit, credit = _accounts_for(state, operation.debit_account_id, operation.credit_account_id)
    if not debit.can_hold(amount):
        raise NoFunds()
    if operation.pending:
        _add_transfer(
            plan,
            operation,
            kind=TransferKind.PENDING,
            status=TransferStatus.PENDING,
            debit=debit,
            credit=credit,
            amount=amount,
        )
        debit.pending_out += amount
        debit.changed = True
        return
    _add_transfer(
        plan,
        operation,
        kind=TransferKind.STANDARD,
        status=TransferStatus.POSTED,
        debit=debit,
        credit=credit,
        amount=amount,
    )
    _move(plan, debit, credit, amount)


def _apply_resolve(
    plan: _Plan,
    state: dict[int, _Account],
    referenced: dict[int, TransferView],
    resolved_in_batch: set[int],
    operation: ResolvePending,
) -> None:
    pending = referenced.get(operation.pending_transfer_id)
    if pending is None or pending.kind is not TransferKind.PENDING:
        raise NotFound("The pending transfer does not exist.", code="TransferNotFound")
    if pending.status is not TransferStatus.PENDING or pending.id in resolved_in_batch:
        raise AlreadyResolved()
    resolved_in_batch.add(pending.id)
    debit, credit = state[pending.debit_account_id], state[pending.credit_account_id]
    amount = pending.amount_minor
    debit.pending_out -= amount
    debit.changed = True
    new_status = TransferStatus.POSTED if operation.post else TransferStatus.VOIDED
    plan.status_changes.append({"row_id": pending.id, "new_status": new_status.value})
    _add_transfer(
        plan,
        operation,
        kind=TransferKind.POST_PENDING if operation.post else TransferKind.VOID_PENDING,
        status=TransferStatus.POSTED,
        debit=debit,
        credit=credit,
        amount=amount,
        pending_id=pending.id,
    )
    if operation.post:
        _move(plan, debit, credit, amount)


def _apply_reverse(
    plan: _Plan,
    state: dict[int, _Account],
    referenced: dict[int, TransferView],
    reversed_ids: set[int],
    operation: Reverse,
) -> None:
    original = referenced.get(operation.transfer_id)
    if original is None or original.kind not in (TransferKind.STANDARD, TransferKind.POST_PENDING):
        raise NotFound("The transfer does not exist.", code="TransferNotFound")
    if original.id in reversed_ids:
        raise AlreadyResolved("The transfer was already reverted.", code="AlreadyReverted")
    # The money goes back from whoever received it, within that account's limit.
    debit, credit = state[original.credit_account_id], state[original.debit_account_id]
    if not debit.can_hold(original.amount_minor):
        raise NoFunds("The destination account no longer holds the amount to revert.")
    reversed_ids.add(original.id)
    _add_transfer(
        plan,
        operation,
        kind=TransferKind.REVERSAL,
        status=TransferStatus.POSTED,
        debit=debit,
        credit=credit,
        amount=original.amount_minor,
        reverses_id=original.id,
    )
    _move(plan, debit, credit, original.amount_minor)


def _write(
    connection: Connection,
    plan: _Plan,
    state: dict[int, _Account],
    results: list[Result],
) -> list[Result]:
    if not plan.transfer_rows:
        return results
    if plan.status_changes:
        # Before the postings, which take the journal's lock last.
        connection.execute(
            update(transfers)
            .where(transfers.c.id == bindparam("row_id"))
            .values(status=bindparam("new_status")),
            plan.status_changes,
        )
    ids, moment = _write_postings(connection, plan, state)
    _write_crossings(connection, plan, state, ids, moment)
    views = _views(plan, state, ids, moment)
    for index, tokens in plan.new_tokens.items():
        first, *more = (views[token] for token in tokens)
        results[index] = Result(transfer=first, more=tuple(more))
    for index, source in plan.replays:
        results[index] = replace(results[source], replayed=True)
    return results


def _write_crossings(
    connection: Connection,
    plan: _Plan,
    state: dict[int, _Account],
    ids: dict[str, int],
    moment: datetime,
) -> None:
    """The ``balance.crossed`` events of the batch's entries on monitored accounts."""
    watched = [account.id for account in state.values() if account.monitored and account.changed]
    if not watched:
        return
    posted = monitors.Posted(
        entries=[
            (
                row["transfer_token"],
                row["account_id"],
                row["amount_minor"],
                row["balance_after_minor"],
            )
            for row in plan.entry_rows
        ],
        accounts={
            account.id: (account.token, account.asset, account.scale) for account in state.values()
        },
        transfer_ids=ids,
    )
    events.write(connection, monitors.crossings(connection, watched, posted), moment)


def _write_postings(
    connection: Connection, plan: _Plan, state: dict[int, _Account]
) -> tuple[dict[str, int], datetime]:
    return store.write_postings(
        connection,
        transfers=[
            tuple(row[column] for column in _TRANSFER_COLUMNS) for row in plan.transfer_rows
        ],
        entries=[
            (
                row["transfer_token"],
                row["account_id"],
                row["amount_minor"],
                row["balance_after_minor"],
            )
            for row in plan.entry_rows
        ],
        balances=[
            (account.id, account.balance, account.pending_out, account.version)
            for account in state.values()
            if account.changed
        ],
    )


# The planned transfer's values in the order of :func:`store.write_postings`, which is the
# journal's hashed order, before ``created_at``.
_TRANSFER_COLUMNS = HASHED_COLUMNS[: HASHED_COLUMNS.index("created_at")]


def _views(
    plan: _Plan, state: dict[int, _Account], ids: dict[str, int], moment: datetime
) -> dict[str, TransferView]:
    """The new transfers as the surfaces read them, by token."""
    balances_after: dict[tuple[str, int], int] = {
        (row["transfer_token"], row["account_id"]): row["balance_after_minor"]
        for row in plan.entry_rows
    }
    views = {}
    for row in plan.transfer_rows:
        debit, credit = state[row["debit_account_id"]], state[row["credit_account_id"]]
        token = row["token"]
        views[token] = TransferView(
            id=ids[token],
            token=token,
            kind=TransferKind(row["kind"]),
            status=TransferStatus(row["status"]),
            client_id=row["client_id"],
            debit_account_id=debit.id,
            credit_account_id=credit.id,
            debit_token=debit.token,
            credit_token=credit.token,
            asset=row["asset"],
            scale=debit.scale,
            amount_minor=row["amount_minor"],
            description=row["description"],
            idempotency_key=row["idempotency_key"],
            created_at=moment,
            debit_balance_after_minor=balances_after.get((token, debit.id)),
            credit_balance_after_minor=balances_after.get((token, credit.id)),
        )
    return views
