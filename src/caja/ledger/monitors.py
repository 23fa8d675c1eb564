"""Balance monitors: a ``balance.crossed`` event when a posting takes an account's balance
across a threshold.

A monitor ``below`` T fires when an entry takes the balance from T or more to less than T;
one ``above`` T when it takes it from T or less to more than T. It fires on the crossing
only: not again while the balance stays on that side, and again once it has crossed back
and crosses anew. Crossings are found from the entries' running balances, in posting
order, in the transaction that posts them (:func:`crossings`, called by the engine), so
none is missed and none fires twice.

Adding a monitor locks its account's row, as a posting does: a batch either sees the
monitor or committed before it existed. The engine looks monitors up only for the
accounts that have one (the account rows it locks say so), so unmonitored accounts cost
nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson
from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import Connection

from caja.core.errors import InvalidInput, NotFound
from caja.core.money import format_minor
from caja.core.tokens import new_token
from caja.db.sql import among, run
from caja.ledger import store
from caja.ledger.events import NewEvent
from caja.ledger.tables import accounts, assets, balance_monitors

__all__ = [
    "MAX_PER_ACCOUNT",
    "Direction",
    "MonitorView",
    "add_monitor",
    "crossings",
    "monitors_of",
    "remove_monitor",
]

MAX_PER_ACCOUNT = 20


class Direction(StrEnum):
    BELOW = "below"
    ABOVE = "above"


@dataclass(frozen=True, slots=True)
class MonitorView:
    token: str
    client_id: int
    account_token: str
    asset: str
    scale: int
    direction: Direction
    threshold_minor: int
    created_at: datetime


def _select() -> Any:
    return (
        select(
            balance_monitors.c.token,
            balance_monitors.c.client_id,
            accounts.c.token,
            accounts.c.asset,
            assets.c.scale,
            balance_monitors.c.direction,
            balance_monitors.c.threshold_minor,
            balance_monitors.c.created_at,
        )
        .join(accounts, accounts.c.id == balance_monitors.c.account_id)
        .join(assets, assets.c.code == accounts.c.asset)
    )


def _view(row: Any) -> MonitorView:
    return MonitorView(
        token=row[0],
        client_id=int(row[1]),
        account_token=row[2],
        asset=row[3],
        scale=int(row[4]),
        direction=Direction(row[5]),
        threshold_minor=int(row[6]),
        created_at=row[7],
    )


def add_monitor(
    connection: Connection,
    client_id: int,
    account_token: str,
    direction: Direction,
    threshold_minor: int,
) -> MonitorView:
    """A new monitor on the client's account ``account_token``; another client's account
    answers as a missing one."""
    account = connection.execute(
        select(accounts.c.id)
        .where(accounts.c.token == account_token, accounts.c.client_id == client_id)
        .with_for_update()
    ).first()
    if account is None:
        raise NotFound("The account does not exist.", code="AccountNotFound")
    count = connection.execute(
        select(func.count())
        .select_from(balance_monitors)
        .where(balance_monitors.c.account_id == account.id)
    ).scalar_one()
    if count >= MAX_PER_ACCOUNT:
        raise InvalidInput(
            "account_token",
            f"An account has at most {MAX_PER_ACCOUNT} monitors.",
            code="TooManyMonitors",
        )
    token = "mon_" + new_token("mon").removeprefix("mon-")
    connection.execute(
        insert(balance_monitors).values(
            token=token,
            client_id=client_id,
            account_id=account.id,
            direction=direction.value,
            threshold_minor=threshold_minor,
            created_at=store.database_now(connection),
        )
    )
    found = monitors_of(connection, client_id, token=token)
    return found[0]


def monitors_of(
    connection: Connection,
    client_id: int | None,
    *,
    account_token: str | None = None,
    token: str | None = None,
) -> list[MonitorView]:
    """The client's monitors (every client's with ``client_id`` None, for the operator),
    oldest first; of one account, or the one ``token``."""
    query = _select()
    if client_id is not None:
        query = query.where(balance_monitors.c.client_id == client_id)
    if account_token is not None:
        query = query.where(accounts.c.token == account_token)
    if token is not None:
        query = query.where(balance_monitors.c.token == token)
    return [_view(row) for row in connection.execute(query.order_by(balance_monitors.c.id))]


def remove_monitor(connection: Connection, client_id: int | None, token: str) -> None:
    """Remove the client's monitor ``token``; another client's answers as a missing one.
    With ``client_id`` None (the operator), any client's."""
    removing = delete(balance_monitors).where(balance_monitors.c.token == token)
    if client_id is not None:
        removing = removing.where(balance_monitors.c.client_id == client_id)
    removed = connection.execute(removing).rowcount
    if not removed:
        raise NotFound("The monitor does not exist.", code="MonitorNotFound")


@dataclass(frozen=True, slots=True)
class Posted:
    """What :func:`crossings` needs of a batch: its entries in posting order (transfer
    token, account id, signed amount, balance after), the accounts' tokens and scales, and
    the new transfers' ids by token."""

    entries: Sequence[tuple[str, int, int, int]]
    accounts: Mapping[int, tuple[str, str, int]]  # id → (token, asset, scale)
    transfer_ids: Mapping[str, int]


def _crossed(direction: str, threshold: int, before: int, after: int) -> bool:
    if direction == Direction.BELOW:
        return before >= threshold > after
    return before <= threshold < after


def crossings(connection: Connection, account_ids: Iterable[int], posted: Posted) -> list[NewEvent]:
    """The ``balance.crossed`` events of the monitors of ``account_ids`` that the batch's
    entries set off, in posting order."""
    ids = sorted(set(account_ids))
    if not ids:
        return []
    matching, parameters = among(connection, "account_id", ids)
    monitors: dict[int, list[tuple[str, int, str, int]]] = {}
    for token, client_id, account_id, direction, threshold in run(
        connection,
        "SELECT token, client_id, account_id, direction, threshold_minor "
        f"FROM balance_monitors WHERE {matching} ORDER BY id",
        parameters,
    ):
        monitors.setdefault(int(account_id), []).append(
            (token, int(client_id), direction, int(threshold))
        )
    found: list[NewEvent] = []
    for transfer_token, account_id, amount, after in posted.entries:
        for token, client_id, direction, threshold in monitors.get(account_id, ()):
            if _crossed(direction, threshold, after - amount, after):
                found.append(
                    _event(
                        posted,
                        token,
                        client_id,
                        account_id,
                        direction,
                        threshold,
                        (after - amount, after),
                        transfer_token,
                    )
                )
    return found


def _event(
    posted: Posted,
    token: str,
    client_id: int,
    account_id: int,
    direction: str,
    threshold: int,
    balances: tuple[int, int],
    transfer_token: str,
) -> NewEvent:
    account_token, asset, scale = posted.accounts[account_id]

    def amount(minor: int) -> orjson.Fragment:
        return orjson.Fragment(format_minor(minor, scale).encode())

    return NewEvent(
        type="balance.crossed",
        client_id=client_id,
        transfer_id=posted.transfer_ids[transfer_token],
        data={
            "monitor_id": token,
            "account": account_token,
            "asset": asset,
            "direction": direction,
            "threshold": amount(threshold),
            "balance_before": amount(balances[0]),
            "balance_after": amount(balances[1]),
            "transfer": transfer_token,
        },
    )
