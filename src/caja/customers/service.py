"""The ledger product: customer accounts with their owners, transfers and history.

Both ledger surfaces (v1 and legacy) stand on these use cases. Every lookup is scoped to
the calling client, so another client's account answers exactly like a missing one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import orjson
from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from caja.clients.service import Principal, issue_account_key
from caja.core.clock import utcnow
from caja.core.errors import AccountConflict, NotFound
from caja.core.tokens import new_token
from caja.customers.public import transaction_json
from caja.customers.tables import owners
from caja.db.engine import Database
from caja.ledger.accounts import AccountKind, open_account
from caja.ledger.batching import Batcher, Lookups, NewEvent, Order
from caja.ledger.model import NewTransfer, Result, TransferView
from caja.ledger.queries import (
    AccountView,
    account_by,
    account_history,
    transfer_by_key,
    transfer_in_account,
)

__all__ = [
    "ASSET",
    "AccountRef",
    "Authorize",
    "CustomerAccount",
    "Opened",
    "OwnerData",
    "Rendered",
    "Transferred",
    "account_for_key",
    "get_account",
    "get_transfer",
    "history",
    "open_customer_account",
    "transfer",
    "transfer_order",
    "transferred",
]

ASSET = "COP"


@dataclass(frozen=True, slots=True)
class OwnerData:
    legal_id_type: str
    legal_id_number: str
    full_name: str
    email: str


@dataclass(frozen=True, slots=True)
class CustomerAccount:
    account: AccountView
    owner_token: str
    owner: OwnerData


@dataclass(frozen=True, slots=True)
class Opened:
    customer: CustomerAccount
    created: bool
    api_key: str | None = None


def _customer(
    connection: Connection,
    *,
    account_id: int | None = None,
    client_id: int | None = None,
    token: str | None = None,
    owner_id: int | None = None,
) -> CustomerAccount | None:
    account = account_by(
        connection,
        kind=AccountKind.CUSTOMER,
        account_id=account_id,
        client_id=client_id,
        token=token,
        owner_id=owner_id,
    )
    if account is None or account.owner_id is None:
        return None
    owner = connection.execute(select(owners).where(owners.c.id == account.owner_id)).one()
    data = OwnerData(owner.legal_id_type, owner.legal_id_number, owner.full_name, owner.email)
    return CustomerAccount(account, owner.token, data)


def _owner_id(connection: Connection, client_id: int, owner: OwnerData) -> int | None:
    """The client's owner with this legal id, if there is one."""
    found = connection.execute(
        select(owners.c.id).where(
            owners.c.client_id == client_id,
            owners.c.legal_id_type == owner.legal_id_type,
            owners.c.legal_id_number == owner.legal_id_number,
        )
    ).scalar_one_or_none()
    return None if found is None else int(found)


def _already_open(connection: Connection, owner_id: int, phone_number: str) -> Opened:
    """The owner's account again when it has this phone; a conflict otherwise."""
    current = _customer(connection, owner_id=owner_id)
    if current is not None and current.account.phone_number == phone_number:
        return Opened(current, created=False)
    raise AccountConflict(
        "Account not created; the owner already has an account with a different phone number.",
        code="OwnerHasAnotherAccount",
    )


def _insert_owner(connection: Connection, client_id: int, owner: OwnerData) -> int:
    return int(
        connection.execute(
            insert(owners)
            .values(
                token=new_token("ow"),
                client_id=client_id,
                legal_id_type=owner.legal_id_type,
                legal_id_number=owner.legal_id_number,
                full_name=owner.full_name,
                email=owner.email,
                created_at=utcnow(),
            )
            .returning(owners.c.id)
        ).scalar_one()
    )


def _open(
    connection: Connection, client_id: int, phone_number: str, owner: OwnerData, issue_key: bool
) -> Opened:
    existing_owner = _owner_id(connection, client_id, owner)
    if existing_owner is not None:
        return _already_open(connection, existing_owner, phone_number)
    phone_taken = account_by(
        connection, client_id=client_id, kind=AccountKind.CUSTOMER, phone_number=phone_number
    )
    if phone_taken is not None:
        raise AccountConflict(
            "Account not created; the phone number belongs to another owner's account.",
            code="PhoneNumberTaken",
        )
    owner_id = _insert_owner(connection, client_id, owner)
    account_id, _ = open_account(
        connection,
        kind=AccountKind.CUSTOMER,
        asset=ASSET,
        client_id=client_id,
        owner_id=owner_id,
        phone_number=phone_number,
        overdraft_minor=0,
    )
    api_key = issue_account_key(connection, client_id, account_id) if issue_key else None
    created = _customer(connection, account_id=account_id)
    assert created is not None
    return Opened(created, created=True, api_key=api_key)


async def open_customer_account(
    database: Database,
    client_id: int,
    phone_number: str,
    owner: OwnerData,
    *,
    issue_key: bool = False,
) -> Opened:
    """Open an account with its owner, or return it when this owner already has this phone.

    One owner (by legal id) has one account; one phone number belongs to one owner.
    """
    return await database.write(
        partial(
            _open, client_id=client_id, phone_number=phone_number, owner=owner, issue_key=issue_key
        )
    )


async def get_account(database: Database, client_id: int, token: str) -> CustomerAccount:
    async with database.read() as connection:
        found = await connection.run_sync(_customer, client_id=client_id, token=token)
    if found is None:
        raise NotFound("The account does not exist.", code="AccountNotFound")
    return found


async def account_for_key(database: Database, account_id: int) -> CustomerAccount:
    """The account a legacy account key acts as."""
    async with database.read() as connection:
        found = await connection.run_sync(_customer, account_id=account_id)
    if found is None:
        raise NotFound("The account does not exist.", code="AccountNotFound")
    return found


Authorize = Callable[[Principal | None], Principal]


@dataclass(frozen=True, slots=True)
class AccountRef:
    """An account named in a request: by token, by phone number, or (neither) the account
    the caller's key acts as."""

    field: str
    token: str | None = None
    phone_number: str | None = None


def _customer_account(
    lookups: Lookups, principal: Principal, ref: AccountRef
) -> AccountView | None:
    if ref.token is not None:
        found = lookups.account(ref.token)
    elif ref.phone_number is not None:
        found = lookups.account_by_phone(
            principal.client_id, AccountKind.CUSTOMER, ref.phone_number
        )
    elif principal.account_id is not None:
        found = lookups.account_by_id(principal.account_id)
    else:
        return None
    if found is None or found.client_id != principal.client_id:
        return None
    return found if found.kind == AccountKind.CUSTOMER else None


TRANSFER_CREATED = "ledger.transfer.created"


@dataclass(frozen=True, slots=True)
class Transferred(Result):
    """A transfer's outcome with, for a new transfer, its JSON as the surfaces answer it:
    rendered once, in the batch, for its event and for the answer."""

    body: bytes | None = None


class Rendered:
    """The ``events`` of a transfer's order: its ``ledger.transfer.created`` event, whose
    data is the transaction's JSON, kept for the answer."""

    __slots__ = ("body",)

    def __init__(self) -> None:
        self.body: bytes | None = None

    def __call__(self, result: Result) -> tuple[NewEvent]:
        transfer = result.transfer
        assert transfer is not None
        assert transfer.client_id is not None
        self.body = orjson.dumps(transaction_json(transfer))
        return (
            NewEvent(TRANSFER_CREATED, transfer.client_id, orjson.Fragment(self.body), transfer.id),
        )


def transfer_order(
    *,
    key_digest: str,
    authorize: Authorize,
    surface: str | Callable[[Principal], str],
    origin: AccountRef,
    destination: AccountRef,
    amount_minor: int,
    description: str,
    idempotency_key: str,
) -> tuple[Order, Rendered]:
    """The order of one transfer between two of the caller's accounts, and what keeps its
    answer's JSON (see :func:`transfer`, :func:`transferred`)."""

    def build(lookups: Lookups) -> NewTransfer:
        principal = authorize(lookups.principal(key_digest))
        debit = _customer_account(lookups, principal, origin)
        credit = _customer_account(lookups, principal, destination)
        for account, ref in ((debit, origin), (credit, destination)):
            if account is None:
                raise NotFound(f"The {ref.field} does not exist.", code="AccountNotFound")
        assert debit is not None
        assert credit is not None
        return NewTransfer(
            client_id=principal.client_id,
            surface=surface if isinstance(surface, str) else surface(principal),
            idempotency_key=idempotency_key,
            request=(debit.id, credit.id, amount_minor, description),
            description=description,
            debit_account_id=debit.id,
            credit_account_id=credit.id,
            amount_minor=amount_minor,
        )

    refs = (origin, destination)
    rendered = Rendered()
    order = Order(
        build,
        key_digests=(key_digest,),
        account_tokens=tuple(ref.token for ref in refs if ref.token is not None),
        phone_numbers=tuple(ref.phone_number for ref in refs if ref.phone_number),
        events=rendered,
    )
    return order, rendered


def transferred(result: Result, rendered: Rendered) -> Transferred:
    """A posted transfer's outcome with, when it is new, its JSON as its event has it."""
    return Transferred(
        result.transfer,
        result.replayed,
        result.error,
        result.more,
        None if result.replayed else rendered.body,
    )


async def transfer(
    batcher: Batcher,
    *,
    key_digest: str,
    authorize: Authorize,
    surface: str | Callable[[Principal], str],
    origin: AccountRef,
    destination: AccountRef,
    amount_minor: int,
    description: str,
    idempotency_key: str,
) -> Transferred:
    """Move money between two of the caller's accounts; raises the outcome's error.

    The caller's key is checked, and the accounts found, inside the batch that posts the
    transfer: ``authorize`` turns the key's principal (None for an unknown or revoked key)
    into the caller or raises. A new transfer's ``ledger.transfer.created`` event is
    written in the batch's transaction; its data is the answer's JSON.
    """
    order, rendered = transfer_order(
        key_digest=key_digest,
        authorize=authorize,
        surface=surface,
        origin=origin,
        destination=destination,
        amount_minor=amount_minor,
        description=description,
        idempotency_key=idempotency_key,
    )
    result = await batcher.submit(order)
    if result.error is not None:
        raise result.error
    return transferred(result, rendered)


async def get_transfer(
    database: Database, client_id: int, surface: str, idempotency_key: str
) -> TransferView:
    async with database.read() as connection:
        found = await connection.run_sync(transfer_by_key, client_id, surface, idempotency_key)
    if found is None:
        raise NotFound("The transaction does not exist.", code="TransactionNotFound")
    return found


async def history(
    database: Database,
    client_id: int,
    account_token: str,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[TransferView], str | None]:
    """A page of an account's movements, newest first, and the cursor of the next page."""
    async with database.read() as connection:
        account = await connection.run_sync(
            account_by, client_id=client_id, kind=AccountKind.CUSTOMER, token=account_token
        )
        if account is None:
            raise NotFound("The account does not exist.", code="AccountNotFound")
        before: int | None = None
        if cursor is not None:
            before = await connection.run_sync(transfer_in_account, cursor, account.id)
            if before is None:
                raise NotFound(
                    "The cursor is not a transaction of this account.", code="InvalidCursor"
                )
        page = await connection.run_sync(
            lambda sync: account_history(
                sync, account.id, limit=limit + 1, before_transfer_id=before
            )
        )
    next_cursor = page[limit - 1].token if len(page) > limit else None
    return page[:limit], next_cursor
