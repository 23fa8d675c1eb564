"""PostgreSQL's pooled connections, checked before use only after they sat idle.

A connection taken from the pool within a second of its last use is used as it is: it
was alive a moment ago, and the check (SQLAlchemy's pre-ping: BEGIN, an empty query and
a ROLLBACK, three round trips) made a batch of one transfer eleven round trips instead of
eight. One idle for longer is checked first; a dead one is dropped with every connection
made before it (after a failover they all point at the old primary) and a new one is
made in its place. The pool hands out the connection used last first
(``pool_use_lifo``), so under light load the same few stay busy and skip the check while
the others idle.

A connection that dies in the second after its last use fails its next statement
instead: :meth:`caja.db.engine.Database.write` runs the write once more on a new one
(nothing was written, as the transaction never committed).
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InvalidatePoolError

__all__ = ["IDLE_BEFORE_CHECK", "check_when_idle"]

# Seconds a pooled connection may sit unused and still be taken without a check.
IDLE_BEFORE_CHECK = 1.0
_RETURNED = "caja_returned"


def check_when_idle(engine: Engine, idle: float = IDLE_BEFORE_CHECK) -> None:
    """Check ``engine``'s pooled connections before use when idle over ``idle`` seconds."""

    def returned(_driver_connection: Any, record: Any) -> None:
        record.info[_RETURNED] = time.monotonic()

    def taken(driver_connection: Any, record: Any, _proxy: Any) -> None:
        last_used = record.info.get(_RETURNED)
        if last_used is None or time.monotonic() - last_used < idle:
            return  # new, or used a moment ago
        try:
            engine.dialect.do_ping(driver_connection)
        except Exception as error:
            raise InvalidatePoolError(f"a pooled connection is gone: {error}") from error

    event.listen(engine.pool, "checkin", returned)
    event.listen(engine.pool, "checkout", taken)
