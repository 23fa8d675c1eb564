"""Group commit: concurrent ledger writes of one process share database transactions.

Requests hand the batcher an *order*: the keys and accounts it names, and a function that
turns what the batch looked up into one engine operation (or refuses it). The batcher
gathers the orders that arrive while earlier batches are being written, up to
``max_size`` of them (waiting at most ``max_wait`` seconds for more once one is there),
and in one transaction looks up every key and account they name with one query each,
builds their operations and posts them through the ledger engine. Each order gets its own
outcome; an account is locked once per batch however many orders touch it.

When the transaction fails as a whole (the database is unreachable, conflicts outlasted
the retries, the commit failed), every order in it gets :class:`Unavailable`: nothing was
written, and each client may retry with its idempotency key.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy.engine import Connection

from caja.clients.service import Principal, principals
from caja.core import metrics
from caja.core.errors import CajaError, Unavailable
from caja.db.engine import Database
from caja.ledger import engine, store
from caja.ledger.accounts import AccountKind
from caja.ledger.model import Operation, Result
from caja.ledger.queries import AccountView

__all__ = ["Batcher", "Lookups", "Order"]

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

    build: Callable[[Lookups], Operation]
    key_digests: tuple[str, ...] = ()
    account_tokens: tuple[str, ...] = ()
    phone_numbers: tuple[str, ...] = ()  # of customer accounts
    # Writes the order's own rows beside its new transfer, in the batch's transaction.
    record: Callable[[Connection, Result], None] | None = None
    outcome: asyncio.Future[Result] | None = field(default=None, init=False)


def _lookups(connection: Connection, orders: Iterable[Order]) -> Lookups:
    """Every key the orders carry, then every account they name or their keys act as.

    The accounts are read locked, in id order, so the engine need not lock them again.
    """
    digests: set[str] = set()
    tokens: set[str] = set()
    phones: set[str] = set()
    for order in orders:
        digests.update(order.key_digests)
        tokens.update(order.account_tokens)
        phones.update(order.phone_numbers)
    found_principals = principals(connection, digests)
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
        max_size: int = 256,
        max_wait: float = 0.0,
        concurrency: int = 1,
    ) -> None:
        if not 1 <= max_size <= engine.MAX_BATCH:
            raise ValueError(f"max_size must be between 1 and {engine.MAX_BATCH}")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.database = database
        self.max_size = max_size
        self.max_wait = max_wait
        self.concurrency = 1 if database.is_sqlite else concurrency
        self._queued: list[Order] = []
        self._scheduled = False
        self._in_flight: set[asyncio.Task[None]] = set()
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
        while self._queued or self._in_flight:
            self._run()
            if self._in_flight:
                await asyncio.wait(set(self._in_flight))

    async def _post(self) -> None:
        started = time.perf_counter()
        taken: list[Order] | None = None

        def work(connection: Connection) -> list[Result | Exception]:
            nonlocal taken
            if taken is None:  # the same orders when a conflict makes it run again
                taken = self._take()
            return _apply(connection, taken) if taken else []

        try:
            outcomes = await self.database.write(work)
        except Exception:
            _fail(taken if taken is not None else self._take())
            return
        finally:
            if taken is None:  # cancelled before it took any: they stay queued
                self._starting = False
        if taken:
            _settle_all(taken, outcomes, started)


def _fail(batch: list[Order]) -> None:
    log.exception("a batch of %d orders failed; none was written", len(batch))
    for order in batch:
        _settle(order, Unavailable())


def _settle_all(batch: list[Order], outcomes: list[Result | Exception], started: float) -> None:
    metrics.observe_batch(len(batch), time.perf_counter() - started)
    posted = 0
    for order, outcome in zip(batch, outcomes, strict=True):
        if isinstance(outcome, Result) and outcome.transfer is not None:
            posted += not outcome.replayed
        _settle(order, outcome)
    metrics.count_posted(posted)


def _settle(order: Order, outcome: Result | Exception) -> None:
    future = order.outcome
    if future is None or future.done():  # its request went away
        return
    if isinstance(outcome, Result):
        future.set_result(outcome)
    else:
        future.set_exception(outcome)


def _apply(connection: Connection, batch: list[Order]) -> list[Result | Exception]:
    lookups = _lookups(connection, batch)
    outcomes: list[Result | Exception] = []
    operations: list[Operation] = []
    places: list[int] = []
    for order in batch:
        try:
            operation = order.build(lookups)
        except CajaError as error:
            outcomes.append(Result(error=error))
        except Exception as error:  # a fault in one order's own code fails that order only
            log.exception("building an order failed")
            outcomes.append(error)
        else:
            places.append(len(outcomes))
            operations.append(operation)
            outcomes.append(Result())
    results = engine.apply(connection, operations, locked=lookups.by_id)
    for place, result in zip(places, results, strict=True):
        outcomes[place] = result
        record = batch[place].record
        if record is not None and result.transfer is not None and not result.replayed:
            record(connection, result)
    return outcomes
