"""Electronic deposit accounts: holders, accounts at the bank, transfers with fees,
reverts, history, and money arriving from other banks.

Every transfer runs in one transaction of its own: the accounts are locked, the month's
totals read, the limits checked, and the transfer and its fee posted together, or
nothing is.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, insert, select, update
from sqlalchemy.engine import Connection

from caja.config import DepositLimits, deposit_limits
from caja.core.clock import bogota_days, bogota_month, utcnow
from caja.core.errors import AccountConflict, CajaError, InvalidInput, NotFound, Unavailable
from caja.core.tokens import request_digest
from caja.db.engine import Database
from caja.deposits.tables import banks, deposit_accounts, deposit_holders, deposit_transfers
from caja.ledger import engine, store
from caja.ledger.accounts import open_account, system_account_id
from caja.ledger.model import NewTransfer, Reverse, TransferKind, TransferView
from caja.ledger.queries import AccountView, transfer_views
from caja.ledger.tables import accounts, entries, transfers
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
    "bank_list",
    "cancel",
    "direction_of",
    "history",
    "open_deposit_account",
    "receive",
    "revert",
    "transfer",
]

DEPOSIT = "deposit"  # the surface of its transfers and the kind of its accounts
# Money from other banks: its idempotency keys are the bank's ids, kept apart from the
# clients' transfer tokens.
INCOMING = "deposit_in"
ASSET = "COP"
_ANY_BODY = request_digest("deposit transfer")


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


_ACCOUNT = (
    accounts.c.id,
    accounts.c.token,
    deposit_accounts.c.number,
    deposit_accounts.c.status,
    accounts.c.client_id,
    accounts.c.balance_minor,
    deposit_accounts.c.synced_at,
)


def _find_account(
    connection: Connection, *conditions: ColumnElement[bool]
) -> DepositAccount | None:
    row = connection.execute(
        select(*_ACCOUNT)
        .join(deposit_accounts, deposit_accounts.c.account_id == accounts.c.id)
        .where(accounts.c.kind == DEPOSIT, *conditions)
    ).first()
    return DepositAccount(*row) if row is not None else None


def _owned(connection: Connection, client_id: int, token: str, field: str) -> DepositAccount:
    found = _find_account(connection, accounts.c.token == token, accounts.c.client_id == client_id)
    if found is None:
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
    return _find_account(connection, deposit_accounts.c.holder_id == by_id.id)


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
    start, end = bogota_month(now)
    row = connection.execute(
        select(
            func.coalesce(func.sum(case((entries.c.amount_minor > 0, entries.c.amount_minor))), 0),
            func.coalesce(func.sum(case((entries.c.amount_minor < 0, -entries.c.amount_minor))), 0),
        )
        .join(transfers, transfers.c.id == entries.c.transfer_id)
        .where(
            entries.c.account_id == account_id,
            transfers.c.created_at >= start,
            transfers.c.created_at < end,
        )
    ).one()
    return int(row[0]), int(row[1])


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


async def cancel(database: Database, token: str) -> None:
    """Cancel an account: no money moves into or out of it any more."""

    def work(connection: Connection) -> None:
        found = _find_account(connection, accounts.c.token == token)
        if found is None:
            raise NotFound(f"No deposit account {token}.", code="AccountNotFound")
        connection.execute(
            update(deposit_accounts)
            .where(deposit_accounts.c.account_id == found.id)
            .values(status="cancelled")
        )

    await database.write(work)


# --- transfers -----------------------------------------------------------------------------


def _check_limits(
    connection: Connection,
    limits: DepositLimits,
    origin: DepositAccount | None,
    destination: DepositAccount,
    amount: int,
    fee: int,
    now: datetime,
) -> None:
    for account in (origin, destination):
        if account is not None and account.status != "active":
            raise LimitExceeded(
                f"The account {account.token} is cancelled.", code="AccountCancelled"
            )
    if origin is not None:
        _, withdrawn = _month_totals(connection, origin.id, now)
        if withdrawn + amount + fee > limits.monthly_out_minor:
            raise LimitExceeded(
                "The transfer would exceed the origin account's monthly withdrawal limit.",
                code="MonthlyWithdrawalLimitExceeded",
            )
    deposited, _ = _month_totals(connection, destination.id, now)
    if deposited + amount > limits.monthly_in_minor:
        raise LimitExceeded(
            "The transfer would exceed the destination account's monthly deposit limit.",
            code="MonthlyDepositLimitExceeded",
        )
    if destination.balance_minor + amount > limits.max_balance_minor:
        raise LimitExceeded(
            "The transfer would take the destination account past its maximum balance.",
            code="BalanceLimitExceeded",
        )


def _stored(connection: Connection, *conditions: ColumnElement[bool]) -> list[DepositTransfer]:
    views = transfer_views(connection, *conditions)
    if not views:
        return []
    extra = {
        row.transfer_id: row
        for row in connection.execute(
            select(
                deposit_transfers,
                banks.c.name.label("bank_name"),
                banks.c.slug.label("bank_slug"),
                transfers.c.amount_minor.label("fee_minor"),
            )
            .outerjoin(banks, banks.c.id == deposit_transfers.c.origin_bank_id)
            .outerjoin(transfers, transfers.c.id == deposit_transfers.c.fee_transfer_id)
            .where(deposit_transfers.c.transfer_id.in_([view.id for view in views]))
        )
    }
    reverted = {
        row.reverses_id
        for row in connection.execute(
            select(transfers.c.reverses_id).where(
                transfers.c.reverses_id.in_([view.id for view in views])
            )
        )
    }
    found = []
    for view in views:
        row = extra.get(view.id)
        if row is None:
            continue
        found.append(
            DepositTransfer(
                view,
                row.channel,
                row.coopcentral_id,
                row.fee_minor or 0,
                view.id in reverted,
                (row.bank_name, row.bank_slug) if row.bank_slug is not None else None,
                (row.sender_name, row.sender_id_number) if row.bank_slug is not None else None,
            )
        )
    return found


def _by_key(
    connection: Connection, client_id: int, token: str, surfaces: tuple[str, ...] = (DEPOSIT,)
) -> DepositTransfer | None:
    """The transfer of ``token``: the client's own first, then (when asked) money from
    another bank whose id is that token."""
    found = _stored(
        connection,
        transfers.c.client_id == client_id,
        transfers.c.surface.in_(surfaces),
        transfers.c.idempotency_key == token,
    )
    found.sort(key=lambda item: item.origin_bank is not None)
    return found[0] if found else None


def _raise_first(results: list[Any]) -> None:
    for result in results:
        if result.error is not None:
            raise result.error


async def transfer(
    database: Database, client_id: int, data: TransferData
) -> tuple[DepositTransfer, bool]:
    """Move money between two of the client's accounts, with its fee; ``True`` when the
    token was already used (the stored transfer is answered, nothing moves)."""
    limits = deposit_limits()

    def work(connection: Connection) -> tuple[DepositTransfer, bool]:
        earlier = _by_key(connection, client_id, data.unique_transfer_token)
        if earlier is not None:
            return earlier, True
        origin = _owned(connection, client_id, data.origin_account, "origin_account")
        destination = _owned(connection, client_id, data.destination_account, "destination_account")
        if origin.id == destination.id:
            raise InvalidInput(
                "destination_account",
                "The destination must differ from the origin.",
                code="SameAccount",
                value=data.destination_account,
            )
        fees = system_account_id(connection, ASSET, "fees")
        locked = {
            row[0]: AccountView(*row)
            for row in store.account_rows(
                connection, ids=sorted({origin.id, destination.id, fees}), lock=True
            )
        }
        # Under the locks: a racing request with this token that locked first has committed.
        earlier = _by_key(connection, client_id, data.unique_transfer_token)
        if earlier is not None:
            return earlier, True
        # The balances as locked, not as read before the lock.
        origin = replace(origin, balance_minor=locked[origin.id].balance_minor)
        destination = replace(destination, balance_minor=locked[destination.id].balance_minor)
        now = utcnow()
        _check_limits(
            connection, limits, origin, destination, data.amount_minor, data.fee_minor, now
        )
        if locked[origin.id].available_minor < data.amount_minor + data.fee_minor:
            raise LimitExceeded("Not enough funds in the origin account.", code="InsufficientFunds")
        operations: list[NewTransfer] = [
            NewTransfer(
                client_id=client_id,
                surface=DEPOSIT,
                idempotency_key=data.unique_transfer_token,
                request_digest=_ANY_BODY,
                description=data.description,
                debit_account_id=origin.id,
                credit_account_id=destination.id,
                amount_minor=data.amount_minor,
            )
        ]
        if data.fee_minor:
            operations.append(
                NewTransfer(
                    client_id=client_id,
                    surface=DEPOSIT,
                    description=f"fee: {data.description}"[:255],
                    debit_account_id=origin.id,
                    credit_account_id=fees,
                    amount_minor=data.fee_minor,
                )
            )
        results = engine.apply(connection, operations, locked=locked)
        _raise_first(results)
        main = results[0].transfer
        if results[0].replayed:
            # Committed by a request with other accounts since the look above: undo the fee.
            raise _Replayed()
        assert main is not None
        fee = results[1].transfer if data.fee_minor else None
        connection.execute(
            insert(deposit_transfers).values(
                transfer_id=main.id,
                channel=data.channel,
                coopcentral_id=new_bank_id(),
                fee_transfer_id=fee.id if fee is not None else None,
            )
        )
        stored = _by_key(connection, client_id, data.unique_transfer_token)
        assert stored is not None
        return stored, False

    try:
        return await database.write(work)
    except _Replayed:
        async with database.read() as connection:
            found = await connection.run_sync(_by_key, client_id, data.unique_transfer_token)
        assert found is not None
        return found, True


class _Replayed(Exception):
    """The transfer's token was used meanwhile: roll back, answer the stored transfer."""


async def revert(database: Database, client_id: int, token: str) -> DepositTransfer:
    """Move a transfer's amount (and fee) back to its origin, at most once."""

    def work(connection: Connection) -> DepositTransfer:
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
        for account_id in (found.transfer.debit_account_id, found.transfer.credit_account_id):
            account = _find_account(connection, accounts.c.id == account_id)
            if account is not None and account.status != "active":
                raise NotRevertible(
                    f"The account {account.token} is cancelled.", code="AccountCancelled"
                )
        fee_id = connection.execute(
            select(deposit_transfers.c.fee_transfer_id).where(
                deposit_transfers.c.transfer_id == found.transfer.id
            )
        ).scalar_one()
        operations = [
            Reverse(
                client_id=client_id,
                surface=DEPOSIT,
                description=f"revert: {found.transfer.description}"[:255],
                transfer_id=target,
            )
            for target in (found.transfer.id, fee_id)
            if target is not None
        ]
        results = engine.apply(connection, operations)
        for result in results:
            if result.error is not None and result.error.code == "AlreadyReverted":
                raise NotRevertible("The transaction was already reverted.", code="AlreadyReverted")
            if result.error is not None:
                raise NotRevertible(
                    "The destination account no longer holds the amount to revert.",
                    code="DestinationLacksFunds",
                )
        reverted = _by_key(connection, client_id, token)
        assert reverted is not None
        return reverted

    return await database.write(work)


async def history(
    database: Database, client_id: int, token: str, first: date, last: date
) -> tuple[DepositAccount, list[DepositTransfer]]:
    """The account's transfers (not fees, not reversals) created in the Bogotá days from
    ``first`` to ``last``, newest first."""
    start, end = bogota_days(first, last)

    def read(connection: Connection) -> tuple[DepositAccount, list[DepositTransfer]]:
        account = _owned(connection, client_id, token, "account_token")
        touching = select(entries.c.transfer_id).where(entries.c.account_id == account.id)
        found = _stored(
            connection,
            transfers.c.id.in_(touching),
            transfers.c.kind == TransferKind.STANDARD.value,
            transfers.c.created_at >= start,
            transfers.c.created_at < end,
        )
        found.sort(key=lambda item: item.transfer.id, reverse=True)
        return account, found

    async with database.read() as connection:
        return await connection.run_sync(read)


async def receive(database: Database, incoming: Incoming) -> DepositTransfer:
    """Post money another bank sent, from the clearing account, within the account's
    limits; the bank's id makes a repeated feed item a no-op."""
    limits = deposit_limits()

    def work(connection: Connection) -> DepositTransfer:
        already = _stored(
            connection,
            transfers.c.id.in_(
                select(deposit_transfers.c.transfer_id).where(
                    deposit_transfers.c.coopcentral_id == incoming.coopcentral_id
                )
            ),
        )
        if already:
            return already[0]
        account = _find_account(connection, deposit_accounts.c.number == incoming.account_number)
        if account is None:
            raise NotFound(f"No deposit account number {incoming.account_number}.")
        bank_id = connection.execute(
            select(banks.c.id).where(banks.c.slug == incoming.bank_slug)
        ).scalar_one_or_none()
        if bank_id is None:
            raise NotFound(f"No bank {incoming.bank_slug}.", code="BankNotFound")
        clearing = system_account_id(connection, ASSET, "clearing")
        locked = {
            row[0]: AccountView(*row)
            for row in store.account_rows(connection, ids=sorted({account.id, clearing}), lock=True)
        }
        account = replace(account, balance_minor=locked[account.id].balance_minor)
        _check_limits(connection, limits, None, account, incoming.amount_minor, 0, utcnow())
        [result] = engine.apply(
            connection,
            [
                NewTransfer(
                    client_id=account.client_id,
                    surface=INCOMING,
                    idempotency_key=incoming.coopcentral_id,
                    request_digest=_ANY_BODY,
                    description=incoming.description,
                    debit_account_id=clearing,
                    credit_account_id=account.id,
                    amount_minor=incoming.amount_minor,
                )
            ],
            locked=locked,
        )
        _raise_first([result])
        assert result.transfer is not None
        connection.execute(
            insert(deposit_transfers).values(
                transfer_id=result.transfer.id,
                channel="external",
                coopcentral_id=incoming.coopcentral_id,
                origin_bank_id=bank_id,
                sender_name=incoming.sender_name,
                sender_id_number=incoming.sender_id_number,
            )
        )
        [stored] = _stored(connection, transfers.c.id == result.transfer.id)
        return stored

    return await database.write(work)


async def account_number(database: Database, token: str) -> str:
    """The bank's number of a deposit account."""
    async with database.read() as connection:
        found = await connection.run_sync(_find_account, accounts.c.token == token)
    if found is None:
        raise NotFound(f"No deposit account {token}.", code="AccountNotFound")
    return found.number


async def bank_list(database: Database) -> list[tuple[str, str]]:
    async with database.read() as connection:
        rows = await connection.execute(select(banks.c.slug, banks.c.name).order_by(banks.c.id))
        return [(row.slug, row.name) for row in rows]


def direction_of(item: DepositTransfer, account_id: int) -> str:
    return "deposit" if item.transfer.credit_account_id == account_id else "withdrawal"
