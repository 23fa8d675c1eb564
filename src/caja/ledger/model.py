"""What the engine is asked to do, and what it answers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from caja.core.errors import CajaError

__all__ = [
    "BatchView",
    "NewTransfer",
    "Operation",
    "ResolvePending",
    "Result",
    "Reverse",
    "TransferKind",
    "TransferStatus",
    "TransferView",
]


class TransferKind(StrEnum):
    STANDARD = "standard"
    PENDING = "pending"
    POST_PENDING = "post_pending"
    VOID_PENDING = "void_pending"
    REVERSAL = "reversal"


class TransferStatus(StrEnum):
    POSTED = "posted"
    PENDING = "pending"
    VOIDED = "voided"


@dataclass(frozen=True, slots=True, kw_only=True)
class _Request:
    """Who asks, on which surface, and the client's idempotency key with the request's
    meaningful fields.

    Keys are unique per (client, surface); a key needs a client. The ledger stores a
    digest of ``request`` with the key: a later request with the key and other fields is
    refused, unless ``any_body`` (then any request with the key replays the stored one).
    """

    client_id: int | None = None
    surface: str = "ledger"
    idempotency_key: str | None = None
    request: tuple[object, ...] | None = None
    any_body: bool = False
    description: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class NewTransfer(_Request):
    """Debit one account and credit another; with ``pending`` only hold the amount."""

    debit_account_id: int
    credit_account_id: int
    amount_minor: int
    pending: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolvePending(_Request):
    """Post (move the held money) or void (release it) a pending transfer, at most once."""

    pending_transfer_id: int
    post: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Reverse(_Request):
    """A new transfer moving a posted transfer's amount back, at most once per transfer."""

    transfer_id: int


Operation = NewTransfer | ResolvePending | Reverse


@dataclass(frozen=True, slots=True)
class TransferView:
    """A stored transfer as the surfaces read it, with the running balances of its entries."""

    id: int
    token: str
    kind: TransferKind
    status: TransferStatus
    client_id: int | None
    debit_account_id: int
    credit_account_id: int
    debit_token: str
    credit_token: str
    asset: str
    scale: int
    amount_minor: int
    description: str
    idempotency_key: str | None
    created_at: datetime
    debit_balance_after_minor: int | None
    credit_balance_after_minor: int | None


@dataclass(frozen=True, slots=True)
class Result:
    """One order's outcome: a new transfer, a replayed one, or an error.

    An order of several operations (a transfer with its fee) has the first one's transfer
    in ``transfer`` and the others' in ``more``, in order.
    """

    transfer: TransferView | None = None
    replayed: bool = False
    error: CajaError | None = None
    more: tuple[TransferView, ...] = ()


class BatchView(Protocol):
    """What an order's check sees of its batch, earlier orders of the batch included."""

    @property
    def now(self) -> datetime:
        """When the batch's transfers are made."""
        ...

    def balance(self, account_id: int) -> int:
        """The account's balance, after the batch's earlier orders."""
        ...

    def available(self, account_id: int) -> int:
        """The balance less held money, after the batch's earlier orders."""
        ...

    def moved(self, account_id: int) -> tuple[int, int]:
        """What entered and what left the account in the batch's earlier orders."""
        ...
