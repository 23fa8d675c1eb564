"""The state machine's common part: a fresh world per example, the model's books seeded
from what the migrations made, and the invariants: the cheap ones after every step,
all of ``verify`` every few steps and after the last."""

from __future__ import annotations

import json
import sys
from collections import Counter
from decimal import Decimal
from typing import Any, ClassVar

import httpx
from hypothesis import event
from hypothesis.stateful import RuleBasedStateMachine, invariant
from sqlalchemy import select

from caja.ledger.tables import accounts
from tests.conftest import Backend
from tests.model.model import Book, Ledger
from tests.model.world import World

# How often each kind of answer was expected in this process: the test prints it, so a run
# shows which outcomes its sequences reached.
OUTCOMES: Counter[str] = Counter()


def outcome(what: str) -> None:
    OUTCOMES[what] += 1
    event(what)


def body_of(response: httpx.Response) -> Any:
    """A response's JSON with every number exact, as a client that cares about money reads it."""
    return json.loads(response.content, parse_float=Decimal)


def raw_json(fields: dict[str, Any], raw: dict[str, str]) -> bytes:
    """``fields`` as a JSON object, with the members of ``raw`` written as given: the model
    sends amounts exactly as a client would type them (``"12.50"``, ``12.5``, ``-3``)."""
    members = [f"{json.dumps(name)}: {json.dumps(value)}" for name, value in fields.items()]
    members += [f"{json.dumps(name)}: {text}" for name, text in raw.items()]
    return ("{" + ", ".join(members) + "}").encode()


VERIFY_EVERY = 5


def floor(overdraft_minor: int | None) -> int | None:
    """How low an account's available balance may go; a system account has no limit."""
    return None if overdraft_minor is None else -overdraft_minor


class Machine(RuleBasedStateMachine):
    """Holds the world and the model; the surfaces' rules live in the subclasses.

    ``backend`` (set by the test) makes each example's fresh database.
    """

    backend: ClassVar[Backend]

    def __init__(self) -> None:
        super().__init__()
        OUTCOMES["sequences"] += 1
        self.steps = 0
        self.world = World(self.backend)
        try:
            self.ledger = Ledger({book.id: book for book in self._stored_books()})
        except BaseException:
            self.world.close()
            raise

    def teardown(self) -> None:
        try:
            # Unless a step already failed: its own error is the one worth reading.
            if sys.exc_info()[1] is None:
                self.check_the_ledger()
        finally:
            self.world.close()

    # --- reading what is stored ---------------------------------------------------------

    def _stored_books(self) -> list[Book]:
        rows = self.world.rows(
            select(
                accounts.c.id,
                accounts.c.token,
                accounts.c.overdraft_minor,
                accounts.c.balance_minor,
                accounts.c.pending_out_minor,
            )
        )
        return [
            Book(row.id, row.token, floor(row.overdraft_minor), row.balance_minor,
                 row.pending_out_minor)
            for row in rows
        ]  # fmt: skip

    def open_book(self, token: str) -> Book:
        """Add the account a surface just opened as ``token`` to the model, empty."""
        [row] = self.world.rows(
            select(accounts.c.id, accounts.c.overdraft_minor).where(accounts.c.token == token)
        )
        return self.ledger.add(Book(row.id, token, floor(row.overdraft_minor)))

    # --- invariants ---------------------------------------------------------------------

    @invariant()
    def every_account_holds_what_the_model_says(self) -> None:
        OUTCOMES["states checked"] += 1
        stored = {
            row.id: (row.balance_minor, row.pending_out_minor)
            for row in self.world.rows(
                select(accounts.c.id, accounts.c.balance_minor, accounts.c.pending_out_minor)
            )
        }
        expected = self.ledger.snapshot()
        differing = {
            key: (stored.get(key), expected.get(key))
            for key in stored.keys() | expected.keys()
            if stored.get(key) != expected.get(key)
        }
        assert not differing, f"(stored, model) balance and held per account: {differing}"

    @invariant()
    def the_ledger_verifies_every_few_steps(self) -> None:
        """All of ``verify`` reads the whole ledger, so it runs every few steps and after
        the last one; the cheap checks above run after every step."""
        self.steps += 1
        if self.steps % VERIFY_EVERY == 0:
            self.check_the_ledger()

    def check_the_ledger(self) -> None:
        report = self.world.report()
        OUTCOMES["ledger verified"] += 1
        assert report.ok, [(c.name, c.examples) for c in report.checks if c.violations]
