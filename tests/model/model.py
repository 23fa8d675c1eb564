"""The in-memory ledger the state machine holds caja to: every account's balance and held
amount in minor units, and every transfer with its kind, status and whether it was
reversed. It knows only the rules the documents state, never how caja applies them."""

from __future__ import annotations

from dataclasses import dataclass, field

from caja.ledger.model import TransferKind, TransferStatus

MOVING = (TransferKind.STANDARD, TransferKind.POST_PENDING, TransferKind.REVERSAL)
REVERSIBLE = (TransferKind.STANDARD, TransferKind.POST_PENDING)


@dataclass
class Book:
    """One ledger account. ``floor`` is how low its available balance may go (minus its
    overdraft or max loan); a system account has none."""

    id: int
    token: str
    floor: int | None
    balance: int = 0
    held: int = 0
    entries: int = 0

    @property
    def available(self) -> int:
        return self.balance - self.held

    def covers(self, amount: int) -> bool:
        return self.floor is None or self.available - amount >= self.floor


@dataclass
class Movement:
    id: int
    kind: TransferKind
    debit: int
    credit: int
    amount: int
    status: TransferStatus
    reversed: bool = False


@dataclass
class Ledger:
    books: dict[int, Book]
    movements: dict[int, Movement] = field(default_factory=dict)

    def book(self, token: str) -> Book:
        [found] = [book for book in self.books.values() if book.token == token]
        return found

    def add(self, book: Book) -> Book:
        assert book.id not in self.books
        self.books[book.id] = book
        return book

    def snapshot(self) -> dict[int, tuple[int, int]]:
        """Balance and held amount of every account, as the accounts table should hold them."""
        return {book.id: (book.balance, book.held) for book in self.books.values()}

    # --- what a request should be answered (an error code, or None when it goes through) --

    def hold_refusal(self, debit: int, credit: int, amount: int) -> str | None:
        if debit == credit:
            return "InvalidData"
        if not self.books[debit].covers(amount):
            return "NoFunds"
        return None

    def resolve_refusal(self, target: int) -> str | None:
        hold = self.movements.get(target)
        if hold is None or hold.kind is not TransferKind.PENDING:
            return "TransferNotFound"
        if hold.status is not TransferStatus.PENDING:
            return "AlreadyResolved"
        return None

    def reverse_refusal(self, target: int) -> str | None:
        original = self.movements.get(target)
        if original is None or original.kind not in REVERSIBLE:
            return "TransferNotFound"
        if original.reversed:
            return "AlreadyReverted"
        # The money goes back from whoever received it, within that account's limit.
        if not self.books[original.credit].covers(original.amount):
            return "NoFunds"
        return None

    # --- what happens when it goes through ----------------------------------------------

    def _move(self, debit: int, credit: int, amount: int) -> None:
        self.books[debit].balance -= amount
        self.books[credit].balance += amount
        self.books[debit].entries += 1
        self.books[credit].entries += 1

    def post(self, new_id: int, debit: int, credit: int, amount: int) -> Movement:
        assert amount > 0
        assert self.books[debit].covers(amount)
        self._move(debit, credit, amount)
        return self._record(
            new_id, TransferKind.STANDARD, debit, credit, amount, TransferStatus.POSTED
        )

    def hold(self, new_id: int, debit: int, credit: int, amount: int) -> Movement:
        assert self.hold_refusal(debit, credit, amount) is None
        self.books[debit].held += amount
        return self._record(
            new_id, TransferKind.PENDING, debit, credit, amount, TransferStatus.PENDING
        )

    def resolve(self, target: int, new_id: int, *, post: bool) -> Movement:
        assert self.resolve_refusal(target) is None
        hold = self.movements[target]
        self.books[hold.debit].held -= hold.amount
        hold.status = TransferStatus.POSTED if post else TransferStatus.VOIDED
        if post:
            self._move(hold.debit, hold.credit, hold.amount)
        kind = TransferKind.POST_PENDING if post else TransferKind.VOID_PENDING
        return self._record(
            new_id, kind, hold.debit, hold.credit, hold.amount, TransferStatus.POSTED
        )

    def reverse(self, target: int, new_id: int) -> Movement:
        assert self.reverse_refusal(target) is None
        original = self.movements[target]
        original.reversed = True
        self._move(original.credit, original.debit, original.amount)
        return self._record(
            new_id,
            TransferKind.REVERSAL,
            original.credit,
            original.debit,
            original.amount,
            TransferStatus.POSTED,
        )

    def _record(
        self,
        new_id: int,
        kind: TransferKind,
        debit: int,
        credit: int,
        amount: int,
        status: TransferStatus,
    ) -> Movement:
        assert new_id not in self.movements
        movement = Movement(new_id, kind, debit, credit, amount, status)
        self.movements[new_id] = movement
        return movement
