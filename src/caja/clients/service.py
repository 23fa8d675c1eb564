"""API clients, their scopes and keys."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from caja.clients.tables import api_keys, clients
from caja.core.clock import utcnow
from caja.core.errors import CajaError, Forbidden, InvalidInput, NotFound, Unauthorized
from caja.core.principal import Principal
from caja.core.tokens import digest_key, new_api_key, new_token
from caja.db.engine import Database
from caja.db.sql import among, run
from caja.ledger.accounts import AccountKind, lock_account, open_account, set_overdraft

__all__ = [
    "SCOPES",
    "ClientInfo",
    "ClientNameTaken",
    "NewClient",
    "Principal",
    "authenticate",
    "authorize",
    "create_client",
    "find_clients",
    "issue_account_key",
    "key_digest",
    "list_clients",
    "max_loan",
    "principals",
    "revoke_client",
    "set_max_loan",
]

SCOPES = frozenset({"ledger", "ledger:admin", "topup", "deposit", "admin"})
# Merchant accounts hold pesos; they only ever move whole pesos.
MERCHANT_ASSET = "COP"


@dataclass(frozen=True, slots=True)
class NewClient:
    client_id: str
    name: str
    scopes: list[str]
    max_loan_minor: int
    api_key: str


@dataclass(frozen=True, slots=True)
class ClientInfo:
    client_id: str
    name: str
    scopes: list[str]
    max_loan_minor: int
    created_at: str
    revoked: bool


class ClientNameTaken(CajaError):
    """Another client has this name: each client's name is its own."""

    code = "ClientNameTaken"

    def __init__(self, name: str, client_id: str) -> None:
        super().__init__(f'a client named "{name}" already exists (client_id {client_id})')
        self.client_id = client_id


def _client_named(connection: Connection, name: str) -> str | None:
    """The token of the client called ``name``, if there is one."""
    return connection.execute(
        select(clients.c.token).where(clients.c.name == name)
    ).scalar_one_or_none()


def _free_name(connection: Connection, name: str) -> str:
    """``name``, or the first of ``name (2)``, ``name (3)``, … no client has."""
    found = connection.execute(
        select(clients.c.name).where(
            or_(clients.c.name == name, clients.c.name.like(f"{name[:94]} (%)"))
        )
    )
    taken, number, candidate = set(found.scalars()), 1, name
    while candidate in taken:
        number += 1
        suffix = f" ({number})"
        candidate = name[: 100 - len(suffix)] + suffix
    return candidate


async def create_client(
    database: Database,
    name: str,
    scopes: list[str],
    max_loan_minor: int = 0,
    *,
    numbered: bool = False,
) -> NewClient:
    """A new client and its first key. Client names are unique: a taken name raises
    :class:`ClientNameTaken`, or with ``numbered`` becomes the first free ``name (n)``."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("name", "must have 1 to 100 characters")
    unknown = sorted(set(scopes) - SCOPES)
    if unknown or not scopes:
        raise InvalidInput("scope", f"must be among {', '.join(sorted(SCOPES))}")
    if max_loan_minor < 0:
        raise InvalidInput("max_loan", "must not be negative")
    ordered = sorted(set(scopes))
    token = new_token("cli")
    api_key = new_api_key("ck")

    def work(connection: Connection) -> str:
        now = utcnow()
        chosen = _free_name(connection, name) if numbered else name
        holder = _client_named(connection, chosen)
        if holder is not None:
            raise ClientNameTaken(chosen, holder)
        client_id = (
            connection.execute(
                insert(clients)
                .values(
                    token=token,
                    name=chosen,
                    scopes=" ".join(ordered),
                    max_loan_minor=max_loan_minor,
                    created_at=now,
                )
                .returning(clients.c.id)
            )
        ).scalar_one()
        connection.execute(
            insert(api_keys).values(digest=digest_key(api_key), client_id=client_id, created_at=now)
        )
        if "topup" in ordered:
            open_account(
                connection,
                kind=AccountKind.MERCHANT,
                asset=MERCHANT_ASSET,
                client_id=client_id,
                overdraft_minor=max_loan_minor,
                token_prefix="mer",
            )
        return chosen

    # A name taken meanwhile by another process breaks the unique index: the write is
    # tried again, and then finds the name taken.
    chosen = await database.write(work)
    return NewClient(token, chosen, ordered, max_loan_minor, api_key)


async def set_max_loan(database: Database, client_token: str, max_loan_minor: int) -> None:
    """Change how far below zero a top-up client's merchant account may go.

    Refused when the merchant already uses more credit than the new limit allows.
    """
    if max_loan_minor < 0:
        raise InvalidInput("max_loan", "must not be negative")

    def work(connection: Connection) -> None:
        client_id = connection.execute(
            select(clients.c.id).where(clients.c.token == client_token)
        ).scalar_one_or_none()
        if client_id is None:
            raise NotFound(f"No client {client_token}.", code="ClientNotFound")
        merchant = lock_account(connection, client_id, AccountKind.MERCHANT)
        if merchant is None:
            raise NotFound(
                f"Client {client_token} has no merchant account (no topup scope).",
                code="MerchantNotFound",
            )
        merchant_id, available = merchant
        if available < -max_loan_minor:
            raise InvalidInput(
                "max_loan", "is below the credit the merchant already uses", code="LimitInUse"
            )
        connection.execute(
            update(clients).where(clients.c.id == client_id).values(max_loan_minor=max_loan_minor)
        )
        set_overdraft(connection, merchant_id, max_loan_minor)

    await database.write(work)


def issue_account_key(connection: Connection, client_id: int, account_id: int) -> str:
    """A key that acts as one account (legacy ledger); shown once."""
    api_key = new_api_key("ak")
    connection.execute(
        insert(api_keys).values(
            digest=digest_key(api_key),
            client_id=client_id,
            account_id=account_id,
            created_at=utcnow(),
        )
    )
    return api_key


async def list_clients(database: Database) -> list[ClientInfo]:
    async with database.read() as connection:
        rows = await connection.execute(select(clients).order_by(clients.c.id))
        return [
            ClientInfo(
                row.token,
                row.name,
                row.scopes.split(),
                row.max_loan_minor,
                row.created_at.isoformat(),
                row.revoked_at is not None,
            )
            for row in rows
        ]


async def revoke_client(database: Database, client_token: str) -> None:
    """Revoke a client and with it every key it holds, its accounts' keys included."""

    def work(connection: Connection) -> None:
        now = utcnow()
        result = connection.execute(
            update(clients)
            .where(clients.c.token == client_token, clients.c.revoked_at.is_(None))
            .values(revoked_at=now)
            .returning(clients.c.id)
        )
        client_id = result.scalar_one_or_none()
        if client_id is None:
            raise NotFound(f"No active client {client_token}.", code="ClientNotFound")
        connection.execute(
            update(api_keys)
            .where(api_keys.c.client_id == client_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )

    await database.write(work)


def key_digest(api_key: str | None) -> str | None:
    """The stored form of a presented key, or None when it cannot be a key at all."""
    if not api_key or len(api_key) > 200:
        return None
    return digest_key(api_key)


def principals(connection: Connection, digests: Iterable[str]) -> dict[str, Principal]:
    """The active principal of each known key digest, in one query."""
    wanted = sorted(set(digests))
    if not wanted:
        return {}
    return {
        digest: Principal(client_id, client_token, frozenset(scopes.split()), account_id)
        for digest, account_id, client_id, client_token, scopes in _key_rows(connection, wanted)
    }


def _key_rows(connection: Connection, digests: list[str]) -> list[Any]:
    """(digest, account_id, client id, client token, scopes) of each active key.

    Every batch runs it: plain SQL, like the ledger's statements (see :mod:`caja.db.sql`).
    """
    keys, parameters = among(connection, "k.digest", digests)
    return run(
        connection,
        "SELECT k.digest, k.account_id, c.id, c.token, c.scopes FROM api_keys k "
        f"JOIN clients c ON c.id = k.client_id WHERE {keys} "
        "AND k.revoked_at IS NULL AND c.revoked_at IS NULL",
        parameters,
    )


def authorize(principal: Principal | None, scope: str) -> Principal:
    """The client a key stands for, if it holds ``scope``: 401 without a valid key, 403
    for a key of one account (legacy ledger) or without the scope."""
    if principal is None:
        raise Unauthorized()
    if principal.account_id is not None or not principal.has(scope):
        raise Forbidden()
    return principal


async def authenticate(database: Database, api_key: str | None) -> Principal | None:
    """The principal a key stands for, or None for a missing, unknown or revoked key."""
    digest = key_digest(api_key)
    if digest is None:
        return None
    async with database.read() as connection:
        found = await connection.run_sync(principals, [digest])
    return found.get(digest)


def max_loan(connection: Connection, client_id: int) -> int:
    """How far below zero the client's merchant account may go, in minor units."""
    return int(
        connection.execute(
            select(clients.c.max_loan_minor).where(clients.c.id == client_id)
        ).scalar_one()
    )


def client_id_of(connection: Connection, client_token: str) -> int | None:
    """The id of the client ``client_token`` (``cli-…``)."""
    return connection.execute(
        select(clients.c.id).where(clients.c.token == client_token)
    ).scalar_one_or_none()


def find_clients(
    connection: Connection, term: str | None, client_ids: Iterable[int] = (), limit: int = 50
) -> list[tuple[int, str, str]]:
    """(id, token, name) of the clients whose token is ``term``, whose name contains it
    (case aside), or whose id is one of ``client_ids`` (for the ops console; there are few
    clients)."""
    matches: list[ColumnElement[bool]] = [clients.c.id.in_(sorted(set(client_ids)))]
    if term is not None:
        escaped = term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        matches.append(clients.c.token == term)
        matches.append(func.lower(clients.c.name).like(f"%{escaped}%", escape="\\"))
    query = (
        select(clients.c.id, clients.c.token, clients.c.name)
        .where(or_(*matches))
        .order_by(clients.c.id)
        .limit(limit)
    )
    return [(int(row[0]), str(row[1]), str(row[2])) for row in connection.execute(query)]
