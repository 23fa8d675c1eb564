"""Group commit: concurrent ledger writes of one process share database transactions.

This is the one way to write money. Requests hand the batcher an *order*: the keys and
accounts it names, a function that turns what the batch looked up into its operations
(or refuses it), a check that may still refuse them under the batch's locks, seeing the
batch's earlier orders, and a function that writes the order's own rows beside its new
transfers. An order's operations are posted all or none. Callers without a running
batcher (the command line) post their orders as one batch with :func:`run`. The batcher
gathers the orders that arrive while earlier batches are being written, up to
``max_size`` of them (waiting at most ``max_wait`` seconds for more once one is there),
and in one transaction looks up every key and account they name with one query each,
builds their operations and posts them through the ledger engine. Each order gets its own
outcome; an account is locked once per batch however many orders touch it.

On PostgreSQL a batch does not wait for rows another transaction holds (an account
locked by another batch, another process or by hand): it skips them and posts the orders
that need none of them; the others are *deferred* to a transaction of their own, after
it, that waits for them with the database's bounded lock wait. One row held elsewhere
delays only the orders that name it. (SQLite has one writer: nothing to skip there.)

When the transaction fails as a whole (the database is unreachable, conflicts outlasted
the retries, the commit failed), every order in it gets :class:`Unavailable`: nothing was
written, and each client may retry with its idempotency key.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.engine import Connection

from caja.core import metrics
from caja.core.errors import CajaError, Unavailable
from caja.core.principal import Principal
from caja.db.engine import Database
from caja.ledger import engine, events, store
from caja.ledger.accounts import AccountKind
from caja.ledger.engine import MAX_BATCH
from caja.ledger.events import NewEvent
from caja.ledger.model import BatchView, Operation, Result
from caja.ledger.queries import AccountView
from caja.ledger.tables import transfers

__all__ = [
    "MAX_BATCH",
    "BatchView",
    "Batcher",
    "KeyResolver",
    "Lookups",
    "NewEvent",
    "Order",
    "post",
    "run",
    "run_in_order",
]

# The principal of each active key among the digests asked for (the clients' own lookup).
KeyResolver = Callable[[Connection, Iterable[str]], Mapping[str, Principal]]


def _no_keys(_connection: Connection, _digests: Iterable[str]) -> Mapping[str, Principal]:
    return {}


log = logging.getLogger("caja.batching")


@dataclass(frozen=True, slots=True)
class Lookups:
    """What one batch found for the keys and accounts its orders name."""

    principals: dict[str, Principal]
    by_id: dict[int, AccountView]
    by_token: dict[str, AccountView]
    by_phone: dict[tuple[int | None, str, str], AccountView]

    def principal(self, digest: str) -> Principal | None:
        return self.principals.get(digest)

    def account_by_id(self, account_id: int) -> AccountView | None:
        return self.by_id.get(account_id)

    def account(self, token: str) -> AccountView | None:
        return self.by_token.get(token)

    def account_by_phone(self, client_id: int, kind: str, phone_number: str) -> AccountView | None:
        return self.by_phone.get((client_id, kind, phone_number))


@dataclass(slots=True, eq=False)
class Order:
    """One request's part of a batch."""

    # The order's operations, posted all or none (a transfer and its fee).
    build: Callable[[Lookups], Operation | tuple[Operation, ...]]
    key_digests: tuple[str, ...] = ()
    account_tokens: tuple[str, ...] = ()
    phone_numbers: tuple[str, ...] = ()  # of customer accounts
    # Refuses the operations (raises) under the batch's locks, unless they replay: it sees
    # the accounts as the batch's earlier orders left them.
    check: Callable[[Connection, BatchView], None] | None = None
    # Writes the order's own rows beside its new transfers, in the batch's transaction.
    record: Callable[[Connection, Result], None] | None = None
    # The events its new transfers make (after ``record``), written in the batch's
    # transaction with the batch's other events.
    events: Callable[[Result], Iterable[NewEvent]] | None = None
    outcome: asyncio.Future[Result] | None = field(default=None, init=False)


def _lookups(
    connection: Connection, orders: Iterable[Order], resolver: KeyResolver, *, wait: bool = True
) -> Lookups:
    """Every key the orders carry, then every account they name or their keys act as.

    The accounts are read locked, in id order, so the engine need not lock them again;
    without ``wait``, those another transaction holds are left out.
    """
    digests: set[str] = set()
    tokens: set[str] = set()
    phones: set[str] = set()
    for order in orders:
        digests.update(order.key_digests)
        tokens.update(order.account_tokens)
        phones.update(order.phone_numbers)
    found_principals = dict(resolver(connection, digests)) if digests else {}
    ids = {p.account_id for p in found_principals.values() if p.account_id is not None}
    client_ids = {p.client_id for p in found_principals.values()}
    found = [
        AccountView(*row)
        for row in store.account_rows(
            connection,
            ids=sorted(ids),
            tokens=sorted(tokens),
            phones=(sorted(client_ids), AccountKind.CUSTOMER, sorted(phones)),
            # Only accounts of the clients whose keys are valid: a request with a bad key,
            # or naming another client's account, locks nothing.
            of_clients=sorted(client_ids),
            lock=True,
            skip_locked=not wait,
        )
    ]
    return Lookups(
        principals=found_principals,
        by_id={account.id: account for account in found},
        by_token={account.token: account for account in found},
        by_phone={
            (account.client_id, account.kind, account.phone_number): account
            for account in found
            if account.phone_number is not None
        },
    )


@dataclass(slots=True)
class _Written:
    """A new transfer of a batch's last run: whether it is in the database tells whether
    the batch's commit is, when its answer was lost (one transaction, so one row answers
    for all). A batch that wrote no transfer wrote nothing, and counts as not committed."""

    token: str | None = None

    def note(self, outcomes: list[Result | Exception]) -> list[Result | Exception]:
        self.token = next(
            (
                outcome.transfer.token
                for outcome in outcomes
                if isinstance(outcome, Result) and outcome.transfer and not outcome.replayed
            ),
            None,
        )
        return outcomes

    def committed(self, connection: Connection) -> bool:
        if self.token is None:
            return False
        found = select(transfers.c.id).where(transfers.c.token == self.token)
        return connection.execute(found).first() is not None


def _found_all(order: Order, lookups: Lookups) -> bool:
    """Whether every account ``order`` names, or its key acts as, was found (and locked).

    An order whose key is unknown is answered by its own build, which refuses it."""
    principals = [lookups.principals.get(digest) for digest in order.key_digests]
    if order.key_digests and all(principal is None for principal in principals):
        return True
    phones = {key[2] for key in lookups.by_phone}
    return (
        all(token in lookups.by_token for token in order.account_tokens)
        and all(number in phones for number in order.phone_numbers)
        and all(
            principal.account_id in lookups.by_id
            for principal in principals
            if principal is not None and principal.account_id is not None
        )
    )


class Batcher:
    """Posts the orders of one process's event loop in shared transactions.

    The first order to arrive starts a batch on the loop (after the callbacks already
    due, or ``max_wait`` seconds later). The batch takes its orders when its transaction
    has begun, so every order queued while it waited for a connection or for SQLite's
    writer joins it, up to ``max_size``. Orders that arrive while a batch is being
    written make the next one.

    A batch is one :meth:`Database.write`. On PostgreSQL up to ``concurrency`` batches
    are in flight at once, each awaiting its round trips; on SQLite, which has one writer,
    one batch at a time: its statements run at once on the loop and only its commit is
    awaited, while the loop reads the requests that will make the next batch.
    """

    def __init__(
        self,
        database: Database,
        *,
        principals: KeyResolver = _no_keys,
        max_size: int = 256,
        max_wait: float = 0.0,
        concurrency: int = 1,
    ) -> None:
        if not 1 <= max_size <= MAX_BATCH:
            raise ValueError(f"max_size must be between 1 and {MAX_BATCH}")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.database = database
        self.principals = principals
        self.max_size = max_size
        self.max_wait = max_wait
        self.concurrency = 1 if database.is_sqlite else concurrency
        self._queued: list[Order] = []
        self._scheduled = False
        self._in_flight: set[asyncio.Task[None]] = set()
        # Deferred orders, and the transactions that post them waiting for the rows they
        # name: at most ``concurrency`` at once, beside the batches. Each takes every
        # deferred order queued when its transaction begins, up to ``max_size``.
        self._deferred: list[Order] = []
        self._waiting: set[asyncio.Task[None]] = set()
        # A batch started that has not taken its orders yet: it will take the new ones.
        self._starting = False

    async def submit(self, order: Order) -> Result:
        """Queue ``order`` and wait for its outcome; raises when its batch failed."""
        order.outcome = asyncio.get_running_loop().create_future()
        self._queued.append(order)
        self._schedule()
        return await order.outcome

    def _schedule(self) -> None:
        if (
            self._scheduled
            or self._starting
            or not self._queued
            or len(self._in_flight) >= self.concurrency
        ):
            return
        self._scheduled = True
        loop = asyncio.get_running_loop()
        if self.max_wait > 0 and len(self._queued) < self.max_size:
            loop.call_later(self.max_wait, self._run)
        else:
            loop.call_soon(self._run)

    def _take(self) -> list[Order]:
        """The next batch's orders, taken from the queue; starts another batch for the
        orders beyond ``max_size``."""
        self._starting = False
        batch = [
            order
            for order in self._queued[: self.max_size]
            if order.outcome is not None and not order.outcome.done()
        ]
        del self._queued[: self.max_size]
        self._schedule()
        return batch

    def _run(self) -> None:
        self._scheduled = False
        if self._starting or not self._queued or len(self._in_flight) >= self.concurrency:
            return
        self._starting = True
        task = asyncio.get_running_loop().create_task(self._post())
        self._in_flight.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._schedule()

    async def close(self) -> None:
        """Post what is still queued and wait for the batches in flight."""
        while self._queued or self._in_flight or self._deferred or self._waiting:
            self._run()
            self._wait_for_rows()
            if self._in_flight or self._waiting:
                await asyncio.wait(self._in_flight | self._waiting)

    async def _post(self) -> None:
        started = time.perf_counter()
        taken: list[Order] | None = None
        written = _Written()

        # SQLite has one writer, which holds every row: nothing to skip.
        wait = self.database.is_sqlite

        def work(connection: Connection) -> list[Result | Exception]:
            nonlocal taken
            if taken is None:  # the same orders when a conflict makes it run again
                taken = self._take()
            outcomes = _apply(connection, taken, self.principals, wait) if taken else []
            if not wait and all(_unwritten(outcome) for outcome in outcomes):
                raise _NothingWritten(outcomes)
            return written.note(outcomes)

        try:
            outcomes = await self.database.write(work, committed=written.committed)
        except _NothingWritten as unwritten:
            outcomes = unwritten.outcomes
        except Exception:
            _fail(taken if taken is not None else self._take())
            return
        finally:
            if taken is None:  # cancelled before it took any: they stay queued
                self._starting = False
        if taken:
            self._defer(_settle_all(taken, outcomes, started))

    def _defer(self, orders: list[Order]) -> None:
        """Post ``orders`` after their batch, in a transaction that waits for their rows."""
        self._deferred.extend(orders)
        self._wait_for_rows()

    def _wait_for_rows(self) -> None:
        if not self._deferred or len(self._waiting) >= self.concurrency:
            return
        task = asyncio.get_running_loop().create_task(self._post_waiting())
        self._waiting.add(task)
        task.add_done_callback(self._waited)

    def _take_deferred(self) -> list[Order]:
        """The next deferred orders whose requests still wait, up to ``max_size``."""
        taken = [
            order
            for order in self._deferred[: self.max_size]
            if order.outcome is not None and not order.outcome.done()
        ]
        del self._deferred[: self.max_size]
        return taken

    def _waited(self, task: asyncio.Task[None]) -> None:
        self._waiting.discard(task)
        self._wait_for_rows()

    async def _post_waiting(self) -> None:
        started = time.perf_counter()
        taken: list[Order] | None = None
        written = _Written()

        def work(connection: Connection) -> list[Result | Exception]:
            nonlocal taken
            if taken is None:  # the same orders when a conflict makes it run again
                taken = self._take_deferred()
            return written.note(_apply(connection, taken, self.principals) if taken else [])

        try:
            outcomes = await self.database.write(work, committed=written.committed)
        except Exception:
            _fail(taken if taken is not None else self._take_deferred())
            return
        if taken:
            _settle_all(taken, outcomes, started)


class _NothingWritten(Exception):
    """A batch that posted nothing (its orders deferred or refused): its transaction is
    rolled back rather than committed, which would cost a flush to disk for the row
    locks it took."""

    def __init__(self, outcomes: list[Result | Exception]) -> None:
        super().__init__("nothing written")
        self.outcomes = outcomes


def _unwritten(outcome: Result | Exception) -> bool:
    """Whether the outcome wrote nothing: deferred, or refused."""
    return not isinstance(outcome, Result) or outcome.error is not None


def _fail(batch: list[Order]) -> None:
    log.exception("a batch of %d orders failed; none was written", len(batch))
    for order in batch:
        _settle(order, Unavailable())


def _settle_all(
    batch: list[Order], outcomes: list[Result | Exception], started: float
) -> list[Order]:
    """Answer each order its outcome; returns the deferred orders, left unanswered."""
    metrics.observe_batch(len(batch), time.perf_counter() - started)
    posted = 0
    deferred = []
    for order, outcome in zip(batch, outcomes, strict=True):
        if outcome is engine.DEFERRED:
            deferred.append(order)
            continue
        if isinstance(outcome, Result) and outcome.transfer is not None:
            posted += not outcome.replayed
        _settle(order, outcome)
    metrics.count_posted(posted)
    return deferred


def _settle(order: Order, outcome: Result | Exception) -> None:
    future = order.outcome
    if future is None or future.done():  # its request went away
        return
    if isinstance(outcome, Result):
        future.set_result(outcome)
    else:
        future.set_exception(outcome)


def _apply(
    connection: Connection,
    batch: list[Order],
    resolver: KeyResolver = _no_keys,
    wait: bool = True,
) -> list[Result | Exception]:
    """Post the orders of ``batch``, one outcome each; without ``wait``, the orders that
    name a row another transaction holds get :data:`engine.DEFERRED` instead."""
    lookups = _lookups(connection, batch, resolver, wait=wait)
    outcomes: list[Result | Exception] = []
    groups: list[engine.Group] = []
    places: list[int] = []
    for order in batch:
        if not wait and not _found_all(order, lookups):
            outcomes.append(engine.DEFERRED)
            continue
        try:
            built = order.build(lookups)
        except CajaError as error:
            outcomes.append(Result(error=error))
        except Exception as error:  # a fault in one order's own code fails that order only
            log.exception("building an order failed")
            outcomes.append(error)
        else:
            places.append(len(outcomes))
            operations = built if isinstance(built, tuple) else (built,)
            groups.append(engine.Group(operations, order.check))
            outcomes.append(Result())
    results = engine.apply(connection, groups, locked=lookups.by_id, wait=wait)
    for place, result in zip(places, results, strict=True):
        outcomes[place] = result
    _record(
        connection, [(batch[place], result) for place, result in zip(places, results, strict=True)]
    )
    return outcomes


def _record(connection: Connection, posted: list[tuple[Order, Result]]) -> None:
    """Write each order's own rows beside its new transfers, then the batch's events."""
    made: list[NewEvent] = []
    for order, result in posted:
        if result.transfer is None or result.replayed:
            continue
        if order.record is not None:
            order.record(connection, result)
        if order.events is not None:
            made.extend(order.events(result))
            moment = result.transfer.created_at
    if made:
        events.write(connection, made, moment)


async def run(
    database: Database, orders: Sequence[Order], *, principals: KeyResolver = _no_keys
) -> list[Result]:
    """Post ``orders`` as one batch, for callers with no running :class:`Batcher`.

    Raises :class:`Unavailable` when the batch failed as a whole (nothing was written).
    """
    if not orders:
        return []
    batch = list(orders)
    written = _Written()
    try:
        outcomes = await database.write(
            lambda connection: written.note(_apply(connection, batch, principals)),
            committed=written.committed,
        )
    except CajaError:
        raise
    except Exception as error:
        log.exception("a batch of %d orders failed; none was written", len(batch))
        raise Unavailable() from error
    results = []
    for outcome in outcomes:
        if isinstance(outcome, Exception):
            raise outcome
        results.append(outcome)
    return results


async def post(database: Database, operations: Sequence[Operation]) -> list[Result]:
    """Post ``operations`` as one batch, one order each; a result for each, in order."""
    return await run(database, [Order(_fixed(operation)) for operation in operations])


def _fixed(operation: Operation) -> Callable[[Lookups], Operation]:
    return lambda _lookups: operation


class _Refused(Exception):
    """A transaction rolled back because it wrote nothing, or because one of its orders
    was refused and they were to be posted all or none."""

    def __init__(self, outcomes: list[Result | Exception]) -> None:
        super().__init__("rolled back")
        self.outcomes = outcomes


async def run_in_order(
    database: Database,
    orders: Sequence[Order],
    *,
    principals: KeyResolver = _no_keys,
    all_or_none: bool = False,
) -> list[Result | Exception]:
    """Post ``orders`` in one transaction of their own, in order, each seeing the earlier
    ones' movements: an order is never deferred (the transaction waits for the rows it
    needs, within the database's bounded lock wait). One outcome each: its ``Result``
    (refused ones with their error), or the exception of an order whose own code failed.

    With ``all_or_none``, when any order is refused nothing is written (the outcomes say
    which were refused). Raises :class:`Unavailable` (or the ``CajaError`` of the write,
    such as :class:`Contended`) when the transaction failed as a whole: nothing was written.
    """
    if not orders:
        return []
    started = time.perf_counter()
    batch = list(orders)
    written = _Written()

    def work(connection: Connection) -> list[Result | Exception]:
        outcomes = written.note(_apply(connection, batch, principals))
        if written.token is None or (all_or_none and any(map(_unwritten, outcomes))):
            raise _Refused(outcomes)
        return outcomes

    try:
        outcomes = await database.write(work, committed=written.committed)
    except _Refused as refused:
        return refused.outcomes
    except CajaError:
        raise
    except Exception as error:
        log.exception("a batch of %d orders failed; none was written", len(batch))
        raise Unavailable() from error
    metrics.observe_batch(len(batch), time.perf_counter() - started)
    metrics.count_posted(
        sum(isinstance(o, Result) and o.transfer is not None and not o.replayed for o in outcomes)
    )
    return outcomes
