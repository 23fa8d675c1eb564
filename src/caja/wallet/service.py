"""The wallet: people's profiles, their accounts (one ledger balance per asset), contacts
and payments between them.

Passwords are hashed with Argon2; after ``MAX_FAILED_LOGINS`` failures in a row a profile
refuses log-ins for a while that doubles with each further failure. Sends post through the
batcher like every ledger write, so concurrent sends from one account never overdraw it.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection, Row

from caja.clients.service import ClientNameTaken, client_id_of, create_client, find_clients
from caja.core.clock import utcnow
from caja.core.errors import AccountConflict, CajaError, InvalidInput, NoFunds, NotFound
from caja.core.money import parse_amount
from caja.core.tokens import new_token
from caja.db.engine import Database
from caja.ledger.accounts import open_account
from caja.ledger.batching import Batcher, Lookups, NewEvent, Order
from caja.ledger.model import BatchView, NewTransfer, Result, TransferView
from caja.ledger.queries import accounts_by_ids, asset_scales, entries_page
from caja.wallet.public import payment_json
from caja.wallet.tables import wallet_accounts, wallet_balances, wallet_contacts, wallet_profiles

__all__ = [
    "MAX_FAILED_LOGINS",
    "MIN_PASSWORD",
    "Contact",
    "Guard",
    "LoginRefused",
    "Payment",
    "PaymentPage",
    "Profile",
    "TooManyAttempts",
    "add_contact",
    "balances",
    "check_assets",
    "check_phone",
    "contacts",
    "delete_contact",
    "find_by_phone",
    "find_profile",
    "log_in",
    "payments",
    "profile",
    "profile_count",
    "send",
    "sign_up",
]

WALLET = "wallet"  # the kind of its ledger accounts and the surface of its transfers
# The client that runs the wallet: wallet accounts belong to people, not to a client, so
# the wallet's events belong to the client of this name, made (with the ``ledger`` scope,
# which acts on no account of its own, and a key nobody is shown) on the first payment.
WALLET_CLIENT = "caja wallet"
MIN_PASSWORD = 10
MAX_PASSWORD = 128
MAX_FAILED_LOGINS = 5
MAX_LOCK = timedelta(minutes=15)
_MAX_DOUBLINGS = 20  # 2**20 seconds is well past MAX_LOCK
PHONE = re.compile(r"[0-9]{7,15}")
_hasher = PasswordHasher()
# Checked when the phone is unknown, so that an unknown phone takes as long as a known one.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


class LoginRefused(CajaError):
    code = "invalid_credentials"
    message = "The phone number or the password is wrong."


class TooManyAttempts(CajaError):
    code = "too_many_attempts"

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"Too many failed log-ins; try again in {retry_after} seconds.")


@dataclass(frozen=True, slots=True)
class Profile:
    id: int
    profile_id: str
    account_id: str
    phone_number: str
    first_name: str
    last_name: str


@dataclass(frozen=True, slots=True)
class Contact:
    profile_id: str
    first_name: str
    last_name: str
    phone_number: str


@dataclass(frozen=True, slots=True)
class Payment:
    id: str
    direction: str  # sent | received
    asset: str
    scale: int
    amount_minor: int
    notes: str
    counterparty: Contact | None
    created_at: datetime


def _names(first_name: str, last_name: str) -> tuple[str, str]:
    first, last = first_name.strip(), last_name.strip()
    for field, value in (("first_name", first), ("last_name", last)):
        if not 1 <= len(value) <= 100:
            raise InvalidInput(field, "must have 1 to 100 characters")
    return first, last


def check_phone(phone_number: str, field: str = "phone_number") -> str:
    if not PHONE.fullmatch(phone_number):
        raise InvalidInput(field, "must be 7 to 15 digits, without + or 00")
    if phone_number.startswith("00"):
        raise InvalidInput(field, "must not start with 00")
    return phone_number


_PROFILE = (
    wallet_profiles.c.id,
    wallet_profiles.c.token,
    wallet_accounts.c.token,
    wallet_profiles.c.phone_number,
    wallet_profiles.c.first_name,
    wallet_profiles.c.last_name,
)


def _profile(connection: Connection, *conditions: Any) -> Profile | None:
    row = connection.execute(
        select(*_PROFILE)
        .join(wallet_accounts, wallet_accounts.c.profile_id == wallet_profiles.c.id)
        .where(*conditions)
    ).first()
    return Profile(*row) if row is not None else None


async def sign_up(
    database: Database,
    assets_held: list[str],
    *,
    phone_number: str,
    first_name: str,
    last_name: str,
    password: str,
) -> Profile:
    """A new profile with one wallet account holding a zero balance of each asset."""
    check_phone(phone_number)
    first, last = _names(first_name, last_name)
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInput("password", f"must have {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    hashed = await asyncio.to_thread(_hasher.hash, password)

    def work(connection: Connection) -> Profile:
        taken = connection.execute(
            select(wallet_profiles.c.id).where(wallet_profiles.c.phone_number == phone_number)
        ).first()
        if taken is not None:
            raise AccountConflict(
                "This phone number already has a profile.", code="phone_number_taken"
            )
        now = utcnow()
        profile_id = connection.execute(
            insert(wallet_profiles)
            .values(
                token=new_token("prf"),
                phone_number=phone_number,
                first_name=first,
                last_name=last,
                password_hash=hashed,
                failed_logins=0,
                created_at=now,
            )
            .returning(wallet_profiles.c.id)
        ).scalar_one()
        wallet_id = connection.execute(
            insert(wallet_accounts)
            .values(token=new_token("wac"), profile_id=profile_id, created_at=now)
            .returning(wallet_accounts.c.id)
        ).scalar_one()
        for asset in assets_held:
            _open_balance(connection, wallet_id, asset)
        found = _profile(connection, wallet_profiles.c.id == profile_id)
        assert found is not None
        return found

    return await database.write(work)


async def check_assets(database: Database, codes: list[str]) -> None:
    """Refuse to start with a wallet asset the ledger does not know."""
    async with database.read() as connection:
        known = set(await connection.run_sync(asset_scales))
    unknown = sorted(set(codes) - known)
    if unknown:
        raise ValueError(
            f"CAJA_WALLET_ASSETS names assets the ledger does not have: {', '.join(unknown)}"
            f" (it has {', '.join(sorted(known))})"
        )


def _open_balance(connection: Connection, wallet_id: int, asset: str) -> int:
    account_id, _ = open_account(
        connection, kind=WALLET, asset=asset, client_id=None, overdraft_minor=0,
        token_prefix="wbal",
    )  # fmt: skip
    connection.execute(
        insert(wallet_balances).values(
            wallet_account_id=wallet_id, asset=asset, account_id=account_id
        )
    )
    return account_id


async def log_in(database: Database, phone_number: str, password: str) -> Profile:
    """The profile whose phone and password these are; counts failures and refuses
    log-ins for a while after too many.

    Each attempt is counted as a failure, under the profile's row lock, before its
    password is checked, and a success takes the count back to zero: guesses sent all at
    once are counted one by one, so they get no more checks than guesses in a row.
    """
    row = await database.write(lambda connection: _count_attempt(connection, phone_number))
    try:
        await asyncio.to_thread(
            _hasher.verify, row.password_hash if row is not None else _DUMMY_HASH, password
        )
    except (VerifyMismatchError, VerificationError):
        raise LoginRefused() from None
    if row is None:
        raise LoginRefused()

    await database.write(
        lambda connection: connection.execute(
            update(wallet_profiles)
            .where(wallet_profiles.c.id == row.id)
            .values(failed_logins=0, locked_until=None)
        )
    )
    async with database.read() as connection:
        found = await connection.run_sync(_profile, wallet_profiles.c.id == row.id)
    assert found is not None
    return found


def _count_attempt(connection: Connection, phone_number: str) -> Row[Any, Any, Any, Any] | None:
    """The id and password hash of the phone's profile (None when no profile has it),
    with this attempt counted as one more failure; TooManyAttempts while it is locked."""
    row = connection.execute(
        select(
            wallet_profiles.c.id,
            wallet_profiles.c.password_hash,
            wallet_profiles.c.failed_logins,
            wallet_profiles.c.locked_until,
        )
        .where(wallet_profiles.c.phone_number == phone_number)
        .with_for_update()
    ).first()
    if row is None:
        return None
    now = utcnow()
    if row.locked_until is not None and row.locked_until > now:
        # Whole seconds, rounded up: a client that waits that long finds it unlocked.
        raise TooManyAttempts(math.ceil((row.locked_until - now).total_seconds()))
    failures = row.failed_logins + 1
    changes: dict[str, Any] = {"failed_logins": failures}
    if failures >= MAX_FAILED_LOGINS:
        # The exponent is bounded so that a count grown over days of guessing still
        # makes a time the clock can hold (past about 2**46 seconds it cannot).
        doublings = min(failures - MAX_FAILED_LOGINS, _MAX_DOUBLINGS)
        changes["locked_until"] = now + min(timedelta(seconds=2**doublings), MAX_LOCK)
    connection.execute(
        update(wallet_profiles).where(wallet_profiles.c.id == row.id).values(changes)
    )
    return row


async def profile(database: Database, profile_token: str) -> Profile | None:
    async with database.read() as connection:
        return await connection.run_sync(_profile, wallet_profiles.c.token == profile_token)


async def balances(
    database: Database, who: Profile, account_token: str
) -> list[tuple[str, int, int]]:
    """(asset, scale, balance) of each asset of the caller's own account ``account_token``."""
    if account_token != who.account_id:
        raise NotFound("record not found", code="record_not_found")

    def read(connection: Connection) -> list[tuple[str, int, int]]:
        held = connection.execute(
            select(wallet_balances.c.asset, wallet_balances.c.account_id)
            .join(wallet_accounts, wallet_accounts.c.id == wallet_balances.c.wallet_account_id)
            .where(wallet_accounts.c.token == account_token)
            .order_by(wallet_balances.c.asset)
        ).all()
        found = accounts_by_ids(connection, [row.account_id for row in held])
        return [
            (row.asset, found[row.account_id].scale, found[row.account_id].balance_minor)
            for row in held
        ]

    async with database.read() as connection:
        return await connection.run_sync(read)


async def find_by_phone(database: Database, phone_number: str) -> Contact:
    async with database.read() as connection:
        found = await connection.run_sync(_profile, wallet_profiles.c.phone_number == phone_number)
    if found is None:
        raise NotFound("record not found", code="record_not_found")
    return Contact(found.profile_id, found.first_name, found.last_name, found.phone_number)


def _ledger_accounts(
    connection: Connection, wallet_tokens: list[str], asset: str
) -> dict[str, int]:
    """The ledger account of ``asset`` in each of these wallet accounts that holds it, by
    the wallet account's token."""
    rows = connection.execute(
        select(wallet_accounts.c.token, wallet_balances.c.account_id)
        .join(wallet_accounts, wallet_accounts.c.id == wallet_balances.c.wallet_account_id)
        .where(wallet_accounts.c.token.in_(wallet_tokens), wallet_balances.c.asset == asset)
    )
    return {row.token: row.account_id for row in rows}


@dataclass(frozen=True, slots=True)
class _Send:
    source: int  # the sender's and the recipient's ledger accounts of the asset
    target: int
    scale: int
    recipient: Contact
    client_id: int | None  # the wallet's client, when it exists


def _wallet_client(connection: Connection) -> int | None:
    """The id of the client that runs the wallet, if it exists."""
    found = find_clients(connection, WALLET_CLIENT)
    return next((row[0] for row in found if row[2] == WALLET_CLIENT), None)


async def _make_wallet_client(database: Database) -> int:
    """Make the client that runs the wallet (or find it, made meanwhile); its id."""
    try:
        token = (await create_client(database, WALLET_CLIENT, ["ledger"])).client_id
    except ClientNameTaken as taken:
        token = taken.client_id
    async with database.read() as connection:
        found = await connection.run_sync(client_id_of, token)
    assert found is not None
    return int(found)


def _send_accounts(connection: Connection, from_account: str, to_profile: str, asset: str) -> _Send:
    """The sender's and the recipient's ledger accounts of ``asset``, its scale, the
    recipient and the wallet's client."""
    recipient = _profile(connection, wallet_profiles.c.token == to_profile)
    wanted = [from_account] + ([recipient.account_id] if recipient is not None else [])
    found = _ledger_accounts(connection, wanted, asset)
    source = found.get(from_account)
    if source is None:
        raise NotFound("the asset is not available for the sender", code="asset_not_available")
    target = found.get(recipient.account_id) if recipient is not None else None
    if target is None or recipient is None:
        raise NotFound("record not found", code="record_not_found")
    return _Send(
        source,
        target,
        accounts_by_ids(connection, [source])[source].scale,
        Contact(
            recipient.profile_id, recipient.first_name, recipient.last_name, recipient.phone_number
        ),
        _wallet_client(connection),
    )


def _sent(parties: _Send, client_id: int) -> Callable[[Result], tuple[NewEvent]]:
    """The ``events`` of a send: the payment as the sender's payment listing shows it."""

    def made(result: Result) -> tuple[NewEvent]:
        view = result.transfer
        assert view is not None
        payment = Payment(
            view.token,
            "sent",
            view.asset,
            view.scale,
            view.amount_minor,
            view.description,
            parties.recipient,
            view.created_at,
        )
        return (NewEvent("wallet.payment.sent", client_id, payment_json(payment), view.id),)

    return made


@dataclass(frozen=True, slots=True)
class Guard:
    """What a send must still check under the batch's locks (raising refuses it), and the
    rows it writes beside its transfer, in the same transaction (given its token)."""

    checks: tuple[Callable[[Connection], None], ...] = ()
    records: tuple[Callable[[Connection, str], None], ...] = ()

    def check(self, connection: Connection, _batch: BatchView) -> None:
        for check in self.checks:
            check(connection)

    def record(self, connection: Connection, result: Result) -> None:
        assert result.transfer is not None
        for record in self.records:
            record(connection, result.transfer.token)


async def send(
    batcher: Batcher,
    who: Profile,
    *,
    from_account: str,
    to_profile: str,
    asset: str,
    amount: object,
    notes: str,
    guard: Guard | None = None,
) -> bool:
    """Send ``amount`` of ``asset``; False (nothing moved) when the balance is short. Its
    ``wallet.payment.sent`` event, of the client that runs the wallet, is written with it."""
    if from_account != who.account_id:
        raise NotFound("record not found", code="record_not_found")

    async with batcher.database.read() as connection:
        parties = await connection.run_sync(_send_accounts, from_account, to_profile, asset)
    amount_minor = parse_amount(amount, parties.scale)
    if parties.source == parties.target:
        raise InvalidInput("to_profile_id", "must be another person", code="same_profile")
    client_id = parties.client_id
    if client_id is None:
        client_id = await _make_wallet_client(batcher.database)

    def build(_lookups: Lookups) -> NewTransfer:
        return NewTransfer(
            surface=WALLET,
            description=notes,
            debit_account_id=parties.source,
            credit_account_id=parties.target,
            amount_minor=amount_minor,
        )

    guard = guard or Guard()
    order = Order(build, check=guard.check, record=guard.record, events=_sent(parties, client_id))
    result = await batcher.submit(order)
    if isinstance(result.error, NoFunds):
        return False
    if result.error is not None:
        raise result.error
    return True


def _people(connection: Connection, account_ids: list[int]) -> dict[int, Contact]:
    """The person holding each of these ledger accounts, by account."""
    rows = connection.execute(
        select(
            wallet_balances.c.account_id,
            wallet_profiles.c.token,
            wallet_profiles.c.first_name,
            wallet_profiles.c.last_name,
            wallet_profiles.c.phone_number,
        )
        .join(wallet_accounts, wallet_accounts.c.id == wallet_balances.c.wallet_account_id)
        .join(wallet_profiles, wallet_profiles.c.id == wallet_accounts.c.profile_id)
        .where(wallet_balances.c.account_id.in_(account_ids))
    )
    return {
        row.account_id: Contact(row.token, row.first_name, row.last_name, row.phone_number)
        for row in rows
    }


def _own_ledger_accounts(connection: Connection, who: Profile) -> list[int]:
    return list(
        connection.execute(
            select(wallet_balances.c.account_id)
            .join(wallet_accounts, wallet_accounts.c.id == wallet_balances.c.wallet_account_id)
            .where(wallet_accounts.c.token == who.account_id)
        ).scalars()
    )


def _payment(view: TransferView, mine: set[int], people: dict[int, Contact]) -> Payment:
    sent = view.debit_account_id in mine
    other = view.credit_account_id if sent else view.debit_account_id
    return Payment(
        view.token,
        "sent" if sent else "received",
        view.asset,
        view.scale,
        view.amount_minor,
        view.description,
        people.get(other),
        view.created_at,
    )


@dataclass(frozen=True, slots=True)
class PaymentPage:
    items: list[Payment]
    next_before: int | None  # the entry id the next page starts below; None at the end


def _payment_page(
    connection: Connection, who: Profile, limit: int, before: int | None
) -> PaymentPage:
    mine = _own_ledger_accounts(connection, who)
    # One bounded keyset read per asset the wallet holds, merged newest first.
    found = sorted(
        (
            item
            for account_id in mine
            for item in entries_page(
                connection, account_id, WALLET, limit=limit + 1, before_entry=before
            )
        ),
        key=lambda item: item[0],
        reverse=True,
    )
    page = found[:limit]
    views = [view for _, view in page]
    others = {view.credit_account_id for view in views} | {view.debit_account_id for view in views}
    people = _people(connection, sorted(others - set(mine)))
    return PaymentPage(
        [_payment(view, set(mine), people) for view in views],
        page[-1][0] if len(found) > limit else None,
    )


async def payments(
    database: Database, who: Profile, *, limit: int, before: int | None = None
) -> PaymentPage:
    """A page of the payments sent and received by the caller's account, newest first:
    at most ``limit``, those older than the entry ``before`` when given."""
    async with database.read() as connection:
        return await connection.run_sync(_payment_page, who, limit, before)


async def add_contact(
    database: Database, who: Profile, contact_profile: str, first_name: str, last_name: str
) -> None:
    first, last = _names(first_name, last_name)

    def work(connection: Connection) -> None:
        other = _profile(connection, wallet_profiles.c.token == contact_profile)
        if other is None or other.id == who.id:
            raise NotFound("record not found", code="record_not_found")
        changed = connection.execute(
            update(wallet_contacts)
            .where(wallet_contacts.c.owner_id == who.id, wallet_contacts.c.contact_id == other.id)
            .values(first_name=first, last_name=last)
        ).rowcount
        if not changed:
            connection.execute(
                insert(wallet_contacts).values(
                    owner_id=who.id, contact_id=other.id, first_name=first, last_name=last,
                    created_at=utcnow(),
                )
            )  # fmt: skip

    await database.write(work)


async def contacts(database: Database, who: Profile) -> list[Contact]:
    async with database.read() as connection:
        rows = await connection.execute(
            select(
                wallet_profiles.c.token,
                wallet_contacts.c.first_name,
                wallet_contacts.c.last_name,
                wallet_profiles.c.phone_number,
            )
            .join(wallet_profiles, wallet_profiles.c.id == wallet_contacts.c.contact_id)
            .where(wallet_contacts.c.owner_id == who.id)
            .order_by(wallet_contacts.c.id)
        )
        return [Contact(*row) for row in rows]


async def delete_contact(database: Database, who: Profile, contact_profile: str) -> None:
    def work(connection: Connection) -> None:
        gone = connection.execute(
            delete(wallet_contacts).where(
                wallet_contacts.c.owner_id == who.id,
                wallet_contacts.c.contact_id
                == select(wallet_profiles.c.id)
                .where(wallet_profiles.c.token == contact_profile)
                .scalar_subquery(),
            )
        ).rowcount
        if not gone:
            raise NotFound("record not found", code="record_not_found")

    await database.write(work)


def profile_count(connection: Connection) -> int:
    """How many people have a wallet profile (for the ops dashboard)."""
    return int(connection.execute(select(func.count()).select_from(wallet_profiles)).scalar_one())


def ledger_account_of(connection: Connection, wallet_token: str, asset: str) -> int | None:
    """The ledger account holding ``asset`` for the wallet account ``wallet_token``."""
    return connection.execute(
        select(wallet_balances.c.account_id)
        .join(wallet_accounts, wallet_accounts.c.id == wallet_balances.c.wallet_account_id)
        .where(wallet_accounts.c.token == wallet_token, wallet_balances.c.asset == asset)
    ).scalar_one_or_none()


def find_profile(connection: Connection, term: str) -> tuple[Profile, list[int]] | None:
    """The profile whose token, wallet account token or phone number is ``term`` (for the
    ops console), with its ledger accounts' ids."""
    for column in (
        wallet_profiles.c.token,
        wallet_accounts.c.token,
        wallet_profiles.c.phone_number,
    ):
        found = _profile(connection, column == term)  # each an indexed lookup
        if found is not None:
            break
    else:
        return None
    ids = connection.execute(
        select(wallet_balances.c.account_id)
        .join(wallet_accounts, wallet_accounts.c.id == wallet_balances.c.wallet_account_id)
        .where(wallet_accounts.c.profile_id == found.id)
    ).scalars()
    return found, [int(account_id) for account_id in ids]
