"""Electronic deposit accounts: holders, accounts at the bank, transfers with fees,
reverts, history, and money arriving from other banks.

Money moves through the ledger's batches like every other write: a transfer and its fee
are one order, posted together or not at all. The order's check refuses it, under the
batch's locks and seeing the batch's earlier orders, when an account is cancelled, a
monthly limit or the balance cap would be broken, or the origin lacks the funds; the
ledger answers a token already used with the stored transfer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection

from caja.config import DepositLimits, deposit_limits
from caja.core.clock import bogota_days, bogota_month, utcnow
from caja.core.errors import AccountConflict, CajaError, InvalidInput, NotFound, Unavailable
from caja.db.engine import Database
from caja.deposits.public import direction_of, history_item, transfer_json
from caja.deposits.tables import banks, deposit_accounts, deposit_holders, deposit_transfers
from caja.ledger.accounts import open_account, system_account_id
from caja.ledger.batching import Batcher, BatchView, Lookups, NewEvent, Order, run
from caja.ledger.model import NewTransfer, Result, Reverse, TransferView
from caja.ledger.queries import (
    account_by,
    accounts_by_ids,
    moved_between,
    reversed_among,
    standard_transfers_of,
    transfers_by_id,
    transfers_by_key,
)
from caja.ledger.statements import Span, balance_at, statement_span
from caja.providers.bank import BankCore, BankUnavailable, Holder, Incoming, new_bank_id

__all__ = [
    "DEPOSIT",
    "INCOMING",
    "AccountState",
    "DepositAccount",
    "DepositTransfer",
    "LimitExceeded",
    "NotRevertible",
    "TransferData",
    "account_number",
    "account_state",
    "account_state_at",
    "bank_list",
    "cancel",
    "direction_of",
    "history",
    "open_deposit_account",
    "receive",
    "revert",
    "statement",
    "transfer",
]

DEPOSIT = "deposit"  # the surface of its transfers and the kind of its accounts
# Money from other banks: its idempotency keys are the bank's ids, kept apart from the
# clients' transfer tokens.
INCOMING = "deposit_in"
ASSET = "COP"
T = TypeVar("T")
# Any body with a used token replays its transfer; the digest stored with the token is
# of these fields.
_ANY_BODY = ("deposit transfer",)

# Where money is written: the app's batcher, or (command line) a batch of its own.
Writer = Batcher | Database


class LimitExceeded(CajaError):
    """A transfer would break a monthly limit or the balance cap (409)."""


class NotRevertible(CajaError):
    """A transfer that cannot be reverted through the API (409)."""


@dataclass(frozen=True, slots=True)
class DepositAccount:
    id: int
    token: str
    number: str
    status: str
    client_id: int
    balance_minor: int
    synced_at: datetime


@dataclass(frozen=True, slots=True)
class AccountState:
    account: DepositAccount
    deposited_this_month: int
    withdrawn_this_month: int
    updated_at: datetime
    updated_from_source: bool


@dataclass(frozen=True, slots=True)
class TransferData:
    unique_transfer_token: str
    origin_account: str
    destination_account: str
    channel: str
    amount_minor: int
    description: str
    fee_minor: int = 0


@dataclass(frozen=True, slots=True)
class DepositTransfer:
    """A deposit transfer as the surface shows it."""

    transfer: TransferView
    channel: str
    coopcentral_id: str
    fee_minor: int
    reverted: bool
    origin_bank: tuple[str, str] | None  # name, slug
    sender: tuple[str | None, str | None] | None  # name, id number


def _find_account(
    connection: Connection,
    *,
    token: str | None = None,
    account_id: int | None = None,
    number: str | None = None,
    holder_id: int | None = None,
) -> DepositAccount | None:
    """The deposit account with this ledger token, ledger account id, bank number or
    holder."""
    view = None
    if token is not None:
        view = account_by(connection, token=token)
        if view is None:
            return None
        account_id = view.id
    column, value = next(
        (column, value)
        for column, value in (
            (deposit_accounts.c.account_id, account_id),
            (deposit_accounts.c.number, number),
            (deposit_accounts.c.holder_id, holder_id),
        )
        if value is not None
    )
    row = connection.execute(select(deposit_accounts).where(column == value)).first()
    if row is None:
        return None
    ledger = view or accounts_by_ids(connection, [row.account_id])[row.account_id]
    return DepositAccount(
        ledger.id, ledger.token, row.number, row.status, ledger.client_id or 0,
        ledger.balance_minor, row.synced_at,
    )  # fmt: skip


def _owned(connection: Connection, client_id: int, token: str, field: str) -> DepositAccount:
    found = _find_account(connection, token=token)
    if found is None or found.client_id != client_id:
        # Another client's account answers exactly like a missing one.
        raise InvalidInput(
            field, "The account does not exist.", code="AccountNotFound", value=token
        )
    return found


# --- accounts ------------------------------------------------------------------------------


def _same_person(row: Any, holder: Holder) -> bool:
    return bool(
        row.names.casefold() == holder.names.casefold()
        and row.first_last_name.casefold() == holder.first_last_name.casefold()
        and row.date_of_birth == holder.date_of_birth
    )


def _existing(connection: Connection, client_id: int, holder: Holder) -> DepositAccount | None:
    """The holder's account when this person already has one; 409 when their
    identification or email belongs to someone else."""
    by_id = connection.execute(
        select(deposit_holders).where(
            deposit_holders.c.client_id == client_id,
            deposit_holders.c.identification_type == holder.identification_type,
            deposit_holders.c.identification_number == holder.identification_number,
        )
    ).first()
    if by_id is None:
        email_taken = connection.execute(
            select(deposit_holders).where(
                deposit_holders.c.client_id == client_id,
                func.lower(deposit_holders.c.email) == holder.email.lower(),
            )
        ).first()
        if email_taken is None:
            return None
        if (email_taken.identification_type, email_taken.identification_number) != (
            holder.identification_type,
            holder.identification_number,
        ):
            raise AccountConflict(
                "The email is already used by another person.", code="EmailAlreadyUsed"
            )
        # Each statement sees what is committed when it starts: a racing request for this
        # same identification committed after the look above.
        by_id = email_taken
    if not _same_person(by_id, holder):
        raise AccountConflict(
            "The identification is already used by another person.",
            code="IdentificationAlreadyUsed",
        )
    return _find_account(connection, holder_id=by_id.id)


async def open_deposit_account(
    database: Database, bank: BankCore, client_id: int, holder: Holder
) -> tuple[DepositAccount, bool]:
    """The holder's account, opened at the bank unless they have one; ``True`` when new.

    The bank is asked outside any transaction; a refusal is a 409 and writes nothing.
    """
    async with database.read() as connection:
        found = await connection.run_sync(_existing, client_id, holder)
    if found is not None:
        return found, False
    try:
        opening = await bank.open_account(holder)
    except BankUnavailable as error:
        raise Unavailable(
            "The bank is not answering; nothing was created, it is safe to retry."
        ) from error
    if opening.number is None:
        raise AccountConflict(opening.error_message, code=opening.error_code or "RefusedByBank")
    number = opening.number

    def work(connection: Connection) -> tuple[DepositAccount, bool]:
        again = _existing(connection, client_id, holder)  # a racing request may have won
        if again is not None:
            return again, False
        now = utcnow()
        holder_id = connection.execute(
            insert(deposit_holders)
            .values(client_id=client_id, created_at=now, **asdict(holder))
            .returning(deposit_holders.c.id)
        ).scalar_one()
        account_id, token = open_account(
            connection,
            kind=DEPOSIT,
            asset=ASSET,
            client_id=client_id,
            overdraft_minor=0,
            token_prefix="coopacc",
        )
        connection.execute(
            insert(deposit_accounts).values(
                account_id=account_id, holder_id=holder_id, number=number, status="active",
                synced_at=now,
            )
        )  # fmt: skip
        return DepositAccount(account_id, token, number, "active", client_id, 0, now), True

    return await database.write(work)


def _month_totals(connection: Connection, account_id: int, now: datetime) -> tuple[int, int]:
    """What entered and what left the account in ``now``'s Bogotá month, in minor units."""
    return moved_between(connection, account_id, *bogota_month(now))


async def account_state(
    database: Database, bank: BankCore, client_id: int, token: str
) -> AccountState:
    """The account with its month's totals; confirmed by the bank when it answers, from the
    local copy (``updated_from_source`` False) when it is slow or down."""
    async with database.read() as connection:
        found = await connection.run_sync(_owned, client_id, token, "account_token")
        deposited, withdrawn = await connection.run_sync(_month_totals, found.id, utcnow())
    try:
        confirmed = await bank.confirm(found.number)
    except BankUnavailable:
        return AccountState(found, deposited, withdrawn, found.synced_at, False)

    def work(connection: Connection) -> None:
        connection.execute(
            update(deposit_accounts)
            .where(deposit_accounts.c.account_id == found.id)
            .values(synced_at=confirmed)
        )

    try:
        await database.write(work)
    except CajaError:
        pass  # the confirmation is still true; only the local copy missed it
    return AccountState(found, deposited, withdrawn, confirmed, True)


async def account_state_at(
    database: Database, client_id: int, token: str, moment: datetime
) -> AccountState:
    """The account as it stood at ``moment``: its balance then, and what entered and left
    it in that Bogotá month up to then. The status and the bank's last confirmation are
    today's (the bank is not asked: it cannot confirm the past)."""

    def read(connection: Connection) -> AccountState:
        found = _owned(connection, client_id, token, "account_token")
        balance = balance_at(connection, found.id, moment)
        month_start, _ = bogota_month(moment)
        deposited, withdrawn = moved_between(
            connection, found.id, month_start, moment + timedelta(microseconds=1)
        )
        then = replace(found, balance_minor=balance)
        return AccountState(then, deposited, withdrawn, found.synced_at, False)

    return await _read(database, read)


async def statement(
    database: Database, client_id: int, token: str, first: date, last: date
) -> tuple[DepositAccount, Span]:
    """The account and its statement of the Bogotá days ``first`` to ``last``, pinned
    (its entries are read with :func:`caja.ledger.statements.statement_lines`)."""

    def read(connection: Connection) -> tuple[DepositAccount, Span]:
        found = _owned(connection, client_id, token, "account_token")
        return found, statement_span(connection, found.id, first, last)

    return await _read(database, read)


async def cancel(database: Database, token: str) -> None:
    """Cancel an account: no money moves into or out of it any more."""

    def work(connection: Connection) -> None:
        found = _find_account(connection, token=token)
        if found is None:
            raise NotFound(f"No deposit account {token}.", code="AccountNotFound")
        connection.execute(
            update(deposit_accounts)
            .where(deposit_accounts.c.account_id == found.id)
            .values(status="cancelled")
        )

    await database.write(work)


# --- stored transfers ----------------------------------------------------------------------


def _stored(connection: Connection, views: list[TransferView]) -> list[DepositTransfer]:
    """The deposit transfers among ``views``, with their fees, banks and reverts."""
    if not views:
        return []
    ids = [view.id for view in views]
    extra = {
        row.transfer_id: row
        for row in connection.execute(
            select(
                deposit_transfers,
                banks.c.name.label("bank_name"),
                banks.c.slug.label("bank_slug"),
            )
            .outerjoin(banks, banks.c.id == deposit_transfers.c.origin_bank_id)
            .where(deposit_transfers.c.transfer_id.in_(ids))
        )
    }
    fee_ids = [row.fee_transfer_id for row in extra.values() if row.fee_transfer_id is not None]
    fees = {fee.id: fee.amount_minor for fee in transfers_by_id(connection, fee_ids)}
    reverted = reversed_among(connection, ids)
    return [
        DepositTransfer(
            view,
            row.channel,
            row.coopcentral_id,
            fees.get(row.fee_transfer_id, 0),
            view.id in reverted,
            (row.bank_name, row.bank_slug) if row.bank_slug is not None else None,
            (row.sender_name, row.sender_id_number) if row.bank_slug is not None else None,
        )
        for view in views
        if (row := extra.get(view.id)) is not None
    ]


def _by_key(
    connection: Connection, client_id: int, token: str, surfaces: tuple[str, ...] = (DEPOSIT,)
) -> DepositTransfer | None:
    """The transfer of ``token``: the client's own first, then (when asked) money from
    another bank whose id is that token."""
    found = _stored(connection, transfers_by_key(connection, client_id, surfaces, token))
    found.sort(key=lambda item: item.origin_bank is not None)
    return found[0] if found else None


def _by_bank_id(connection: Connection, coopcentral_id: str) -> DepositTransfer | None:
    ids = connection.execute(
        select(deposit_transfers.c.transfer_id).where(
            deposit_transfers.c.coopcentral_id == coopcentral_id
        )
    ).scalars()
    found = _stored(connection, transfers_by_id(connection, ids))
    return found[0] if found else None


async def _read(database: Database, work: Callable[[Connection], T]) -> T:
    async with database.read() as connection:
        return await connection.run_sync(work)


async def _post(writer: Writer, order: Order) -> Result:
    """Post ``order`` in the app's batches, or alone in a batch of its own."""
    if isinstance(writer, Batcher):
        return await writer.submit(order)
    [result] = await run(writer, [order])
    return result


def _database(writer: Writer) -> Database:
    return writer.database if isinstance(writer, Batcher) else writer


# --- checks under the batch's locks --------------------------------------------------------


def _refuse_cancelled(connection: Connection, *accounts: DepositAccount) -> None:
    statuses = dict(
        connection.execute(
            select(deposit_accounts.c.account_id, deposit_accounts.c.status).where(
                deposit_accounts.c.account_id.in_([account.id for account in accounts])
            )
        ).all()
    )
    for account in accounts:
        if statuses.get(account.id, "active") != "active":
            raise LimitExceeded(
                f"The account {account.token} is cancelled.", code="AccountCancelled"
            )


def _month_moved(connection: Connection, batch: BatchView, account_id: int) -> tuple[int, int]:
    """What entered and left the account this month, the batch's earlier orders included."""
    stored_in, stored_out = _month_totals(connection, account_id, batch.now)
    batch_in, batch_out = batch.moved(account_id)
    return stored_in + batch_in, stored_out + batch_out


def _check_limits(
    connection: Connection,
    batch: BatchView,
    limits: DepositLimits,
    accounts: tuple[DepositAccount | None, DepositAccount],
    amount: int,
    fee: int,
) -> None:
    origin, destination = accounts
    _refuse_cancelled(connection, *(account for account in accounts if account is not None))
    if origin is not None:
        _, withdrawn = _month_moved(connection, batch, origin.id)
        if withdrawn + amount + fee > limits.monthly_out_minor:
            raise LimitExceeded(
                "The transfer would exceed the origin account's monthly withdrawal limit.",
                code="MonthlyWithdrawalLimitExceeded",
            )
    deposited, _ = _month_moved(connection, batch, destination.id)
    if deposited + amount > limits.monthly_in_minor:
        raise LimitExceeded(
            "The transfer would exceed the destination account's monthly deposit limit.",
            code="MonthlyDepositLimitExceeded",
        )
    if batch.balance(destination.id) + amount > limits.max_balance_minor:
        raise LimitExceeded(
            "The transfer would take the destination account past its maximum balance.",
            code="BalanceLimitExceeded",
        )


# --- transfers -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Parties:
    origin: DepositAccount
    destination: DepositAccount
    fees: int  # the fees system account


def _parties(connection: Connection, client_id: int, data: TransferData) -> _Parties:
    origin = _owned(connection, client_id, data.origin_account, "origin_account")
    destination = _owned(connection, client_id, data.destination_account, "destination_account")
    if origin.id == destination.id:
        raise InvalidInput(
            "destination_account",
            "The destination must differ from the origin.",
            code="SameAccount",
            value=data.destination_account,
        )
    return _Parties(origin, destination, system_account_id(connection, ASSET, "fees"))


def _transfer_operations(
    client_id: int, data: TransferData, parties: _Parties
) -> tuple[NewTransfer, ...]:
    main = NewTransfer(
        client_id=client_id,
        surface=DEPOSIT,
        idempotency_key=data.unique_transfer_token,
        request=_ANY_BODY,
        any_body=True,
        description=data.description,
        debit_account_id=parties.origin.id,
        credit_account_id=parties.destination.id,
        amount_minor=data.amount_minor,
    )
    if not data.fee_minor:
        return (main,)
    fee = NewTransfer(
        client_id=client_id,
        surface=DEPOSIT,
        description=f"fee: {data.description}"[:255],
        debit_account_id=parties.origin.id,
        credit_account_id=parties.fees,
        amount_minor=data.fee_minor,
    )
    return main, fee


def _transfer_order(
    client_id: int, data: TransferData, parties: _Parties, stored: list[DepositTransfer]
) -> Order:
    """The transfer and its fee as one order of a batch."""
    limits = deposit_limits()
    operations = _transfer_operations(client_id, data, parties)
    amount, fee = data.amount_minor, data.fee_minor

    def check(connection: Connection, batch: BatchView) -> None:
        accounts = (parties.origin, parties.destination)
        _check_limits(connection, batch, limits, accounts, amount, fee)
        if batch.available(parties.origin.id) < amount + fee:
            raise LimitExceeded("Not enough funds in the origin account.", code="InsufficientFunds")

    def record(connection: Connection, result: Result) -> None:
        assert result.transfer is not None
        fee_transfer = result.more[0] if result.more else None
        bank_id = new_bank_id()
        connection.execute(
            insert(deposit_transfers).values(
                transfer_id=result.transfer.id,
                channel=data.channel,
                coopcentral_id=bank_id,
                fee_transfer_id=fee_transfer.id if fee_transfer is not None else None,
            )
        )
        # What was just written, as a read would find it; a transaction run again after a
        # conflict records again: keep the last.
        stored[:] = [
            DepositTransfer(
                result.transfer,
                data.channel,
                bank_id,
                fee_transfer.amount_minor if fee_transfer is not None else 0,
                reverted=False,
                origin_bank=None,
                sender=None,
            )
        ]

    def build(_lookups: Lookups) -> tuple[NewTransfer, ...]:
        return operations

    def made(result: Result) -> tuple[NewEvent]:
        assert result.transfer is not None
        return (
            NewEvent(
                "deposit.transfer.created", client_id, transfer_json(stored[0]), result.transfer.id
            ),
        )

    return Order(build, check=check, record=record, events=made)


async def transfer(
    writer: Writer, client_id: int, data: TransferData
) -> tuple[DepositTransfer, bool]:
    """Move money between two of the client's accounts, with its fee; ``True`` when the
    token was already used (the stored transfer is answered, nothing moves)."""
    database = _database(writer)
    token = data.unique_transfer_token
    try:
        parties = await _read(database, lambda c: _parties(c, client_id, data))
    except InvalidInput:
        # A used token replays whatever the body names; the batch finds the others.
        earlier = await _read(database, lambda c: _by_key(c, client_id, token))
        if earlier is not None:
            return earlier, True
        raise
    stored: list[DepositTransfer] = []
    result = await _post(writer, _transfer_order(client_id, data, parties, stored))
    if result.error is not None:
        raise result.error
    if result.replayed:  # a request with this token committed since the look above
        replayed = await _read(database, lambda c: _by_key(c, client_id, token))
        assert replayed is not None
        return replayed, True
    return stored[0], False


def _revert_order(
    client_id: int, found: DepositTransfer, fee_id: int | None, accounts: list[DepositAccount]
) -> Order:
    """The transfer's and its fee's reversals as one order of a batch."""
    operations = tuple(
        Reverse(
            client_id=client_id,
            surface=DEPOSIT,
            description=f"revert: {found.transfer.description}"[:255],
            transfer_id=target,
        )
        for target in (found.transfer.id, fee_id)
        if target is not None
    )

    def check(connection: Connection, _batch: BatchView) -> None:
        try:
            _refuse_cancelled(connection, *accounts)
        except LimitExceeded as error:
            raise NotRevertible(error.message, code=error.code) from None

    def build(_lookups: Lookups) -> tuple[Reverse, ...]:
        return operations

    def made(result: Result) -> tuple[NewEvent]:
        # The transfer as the revert answers it; its event tells of the reversal.
        assert result.transfer is not None
        shown = transfer_json(replace(found, reverted=True))
        return (NewEvent("deposit.transfer.reverted", client_id, shown, result.transfer.id),)

    return Order(build, check=check, events=made)


def _revertible(
    connection: Connection, client_id: int, token: str
) -> tuple[DepositTransfer, int | None, list[DepositAccount]]:
    """The transfer of ``token`` with its fee's id and its deposit accounts, if the API
    may revert it."""
    found = _by_key(connection, client_id, token, (DEPOSIT, INCOMING))
    if found is None:
        raise InvalidInput(
            "idempotency_token",
            "The transaction does not exist.",
            code="TransactionNotFound",
            value=token,
        )
    if found.origin_bank is not None:
        raise NotRevertible(
            "A deposit from another bank can't be reverted via API; please contact the "
            "support team.",
            code="ExternalDepositNotRevertible",
        )
    if found.reverted:
        raise NotRevertible("The transaction was already reverted.", code="AlreadyReverted")
    fee_id = connection.execute(
        select(deposit_transfers.c.fee_transfer_id).where(
            deposit_transfers.c.transfer_id == found.transfer.id
        )
    ).scalar_one()
    ends = (found.transfer.debit_account_id, found.transfer.credit_account_id)
    accounts = [_find_account(connection, account_id=account_id) for account_id in ends]
    return found, fee_id, [account for account in accounts if account is not None]


async def revert(writer: Writer, client_id: int, token: str) -> DepositTransfer:
    """Move a transfer's amount (and fee) back to its origin, at most once."""
    database = _database(writer)
    found, fee_id, accounts = await _read(database, lambda c: _revertible(c, client_id, token))
    result = await _post(writer, _revert_order(client_id, found, fee_id, accounts))
    error = result.error
    if isinstance(error, NotRevertible):
        raise error
    if error is not None and error.code == "AlreadyReverted":
        raise NotRevertible("The transaction was already reverted.", code="AlreadyReverted")
    if error is not None:
        raise NotRevertible(
            "The destination account no longer holds the amount to revert.",
            code="DestinationLacksFunds",
        )
    reverted = await _read(database, lambda c: _by_key(c, client_id, token))
    assert reverted is not None
    return reverted


async def history(
    database: Database, client_id: int, token: str, first: date, last: date
) -> tuple[DepositAccount, list[DepositTransfer]]:
    """The account's transfers (not fees, not reversals) created in the Bogotá days from
    ``first`` to ``last``, newest first."""
    start, end = bogota_days(first, last)

    def read(connection: Connection) -> tuple[DepositAccount, list[DepositTransfer]]:
        account = _owned(connection, client_id, token, "account_token")
        found = _stored(connection, standard_transfers_of(connection, account.id, start, end))
        found.sort(key=lambda item: item.transfer.id, reverse=True)
        return account, found

    async with database.read() as connection:
        return await connection.run_sync(read)


# --- money from other banks ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Arrival:
    account: DepositAccount
    bank_id: int
    clearing: int  # the clearing system account


def _arrival(connection: Connection, incoming: Incoming) -> _Arrival:
    account = _find_account(connection, number=incoming.account_number)
    if account is None:
        raise NotFound(f"No deposit account number {incoming.account_number}.")
    bank_id = connection.execute(
        select(banks.c.id).where(banks.c.slug == incoming.bank_slug)
    ).scalar_one_or_none()
    if bank_id is None:
        raise NotFound(f"No bank {incoming.bank_slug}.", code="BankNotFound")
    return _Arrival(account, bank_id, system_account_id(connection, ASSET, "clearing"))


def _receive_order(incoming: Incoming, arrival: _Arrival, stored: list[DepositTransfer]) -> Order:
    limits = deposit_limits()
    account = arrival.account
    operation = NewTransfer(
        client_id=account.client_id,
        surface=INCOMING,
        idempotency_key=incoming.coopcentral_id,
        request=_ANY_BODY,
        any_body=True,
        description=incoming.description,
        debit_account_id=arrival.clearing,
        credit_account_id=account.id,
        amount_minor=incoming.amount_minor,
    )

    def check(connection: Connection, batch: BatchView) -> None:
        _check_limits(connection, batch, limits, (None, account), incoming.amount_minor, 0)

    def record(connection: Connection, result: Result) -> None:
        assert result.transfer is not None
        connection.execute(
            insert(deposit_transfers).values(
                transfer_id=result.transfer.id,
                channel="external",
                coopcentral_id=incoming.coopcentral_id,
                origin_bank_id=arrival.bank_id,
                sender_name=incoming.sender_name,
                sender_id_number=incoming.sender_id_number,
            )
        )
        stored[:] = _stored(connection, [result.transfer])

    def build(_lookups: Lookups) -> NewTransfer:
        return operation

    def made(result: Result) -> tuple[NewEvent]:
        # The money as the account's history shows it.
        assert result.transfer is not None
        shown = history_item(stored[0], account.id)
        return (NewEvent("deposit.received", account.client_id, shown, result.transfer.id),)

    return Order(build, check=check, record=record, events=made)


async def receive(writer: Writer, incoming: Incoming) -> DepositTransfer:
    """Post money another bank sent, from the clearing account, within the account's
    limits; the bank's id makes a repeated feed item a no-op."""
    database = _database(writer)
    already = await _read(database, lambda c: _by_bank_id(c, incoming.coopcentral_id))
    if already is not None:
        return already
    arrival = await _read(database, lambda c: _arrival(c, incoming))
    stored: list[DepositTransfer] = []
    result = await _post(writer, _receive_order(incoming, arrival, stored))
    if result.error is not None:
        raise result.error
    if result.replayed:  # the same item, posted since the look above
        again = await _read(database, lambda c: _by_bank_id(c, incoming.coopcentral_id))
        assert again is not None
        return again
    return stored[0]


async def account_number(database: Database, token: str) -> str:
    """The bank's number of a deposit account."""
    async with database.read() as connection:
        found = await connection.run_sync(lambda sync: _find_account(sync, token=token))
    if found is None:
        raise NotFound(f"No deposit account {token}.", code="AccountNotFound")
    return found.number


async def bank_list(database: Database) -> list[tuple[str, str]]:
    async with database.read() as connection:
        rows = await connection.execute(select(banks.c.slug, banks.c.name).order_by(banks.c.id))
        return [(row.slug, row.name) for row in rows]
