"""Rules for electronic deposits: accounts opened at the sandbox bank, money from other
banks through the bank's feed, transfers with fees and reverts through the HTTP surface,
cancellations, and the monthly limits (set low by the test so that they are reached)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import Bundle, MultipleResults, initialize, multiple, precondition, rule

from caja.clients.service import create_client
from caja.config import deposit_limits
from caja.core.errors import CajaError
from caja.core.money import format_minor
from caja.deposits import service as deposits
from caja.deposits.tables import deposit_transfers
from caja.ledger.tables import transfers
from caja.providers.bank import Incoming
from tests.helpers import SANDBOX_HOLDER
from tests.model.base import Machine, body_of, outcome, raw_json
from tests.model.ledger_rules import fresh_token

API = "/api/coopcentral/v1"
MAX_ACCOUNTS = 5
NOWHERE = "coopacc-nosuchaccount0000000000"
INVALID_AMOUNTS = ['"0"', "0", '"-1.00"', '"1.001"', "1.001", '"abc"', "true"]
INVALID_FEES = ['"-1"', "-1", '"0.001"', '"x"']
# Centavos received and sent: small ones, and ones large enough to reach the limits in a
# step or two (Hypothesis would otherwise mostly try small numbers).
RECEIVED = st.one_of(st.integers(1, 50_000), st.integers(100_000, 300_000))
SENT = st.one_of(st.integers(1, 20_000), st.integers(50_000, 150_000))


@st.composite
def amounts(draw: st.DrawFn) -> tuple[str, int | None]:
    if draw(st.booleans()):
        return draw(st.sampled_from(INVALID_AMOUNTS)), None
    minor = draw(SENT)
    text = format_minor(minor, 2)
    return (text if draw(st.booleans()) else f'"{text}"'), minor


@st.composite
def fees(draw: st.DrawFn, *, valid: bool) -> tuple[str | None, int | None]:
    """A fee as sent (None: left out) and what it is worth; (text, None) is invalid."""
    choice = draw(st.integers(0 if valid else -2, 9))
    if choice < 0:
        return draw(st.sampled_from(INVALID_FEES)), None
    if choice <= 3:
        return draw(st.sampled_from([None, "null", '"0"', "0"])), 0
    minor = draw(st.integers(1, 5_000))
    return f'"{format_minor(minor, 2)}"', minor


@dataclass(frozen=True)
class Payment:
    """A ``POST /transactions/create`` as the client sends it."""

    origin: str
    destination: str
    amount: str
    minor: int | None
    fee: str | None
    fee_minor: int | None
    token: str

    def content(self) -> bytes:
        raw = {"amount": self.amount}
        if self.fee is not None:
            raw["fee_amount"] = self.fee
        fields = {
            "unique_transfer_token": self.token,
            "origin_account": self.origin,
            "destination_account": self.destination,
            "channel": "wallet",
            "description": "Test transaction",
        }
        return raw_json(fields, raw)


@dataclass
class Pocket:
    """A deposit account: its ledger account, and the month's totals the limits watch."""

    book: int
    number: str
    holder: dict[str, Any]
    active: bool = True
    month_in: int = 0
    month_out: int = 0


@dataclass
class Made:
    """A transfer the surface made: its ledger transfers and its answer."""

    payment: Payment
    main: int
    fee: int | None
    body: dict[str, Any]
    reverted: bool = False


@dataclass
class DepositState:
    headers: dict[str, str] = field(default_factory=dict)
    pockets: dict[str, Pocket] = field(default_factory=dict)
    made: dict[str, Made] = field(default_factory=dict)
    incoming: list[Incoming] = field(default_factory=list)


class DepositRules(Machine):
    pockets = Bundle("pockets")
    payments = Bundle("payments")

    @initialize(target=pockets, received=st.lists(RECEIVED, min_size=2, max_size=2))
    def start_deposit_client(self, received: list[int]) -> MultipleResults[str]:
        """The client and two accounts with money received from another bank."""
        self.dep = DepositState()
        created = self.world.run(create_client(self.world.database, "coop", ["deposit"]))
        self.dep.headers = {
            "Authorization": f"Token {created.api_key}",
            "Content-Type": "application/json",
        }
        tokens = [self._dep_open() for _ in received]
        for token, minor in zip(tokens, received, strict=True):
            self._dep_receive(token, minor)
        return multiple(*tokens)

    def _dep_post(self, path: str, content: bytes) -> tuple[int, Any]:
        response = self.world.run(
            self.world.http.post(f"{API}/{path}", content=content, headers=self.dep.headers)
        )
        return response.status_code, body_of(response)

    # --- accounts and money from other banks ----------------------------------------------

    @precondition(lambda self: len(self.dep.pockets) < MAX_ACCOUNTS)
    @rule(target=pockets)
    def open_pocket(self) -> str:
        return self._dep_open()

    def _dep_open(self) -> str:
        serial = fresh_token("holder").removeprefix("holder-")
        holder = {
            **SANDBOX_HOLDER,
            "identification_number": f"{serial}45678",
            "email": f"holder{serial}@example.com",
        }
        status, body = self._dep_post("accounts/create", raw_json(holder, {}))
        assert status == 201, body
        assert body["balance"] == "0.00"
        self.dep.pockets[body["token"]] = Pocket(
            self.open_book(body["token"]).id, body["number"], holder
        )
        return str(body["token"])

    @rule(pocket=pockets)
    def open_pocket_again(self, pocket: str) -> None:
        """The same holder again is their account as it is now (208); nothing is opened."""
        holder = self.dep.pockets[pocket].holder
        status, body = self._dep_post("accounts/create", raw_json(holder, {}))
        assert status == 208, body
        balance = format_minor(self.ledger.book(pocket).balance, 2)
        assert (body["token"], body["balance"]) == (pocket, balance)

    def _dep_refusal(
        self, origin: Pocket | None, destination: Pocket, amount: int, fee: int
    ) -> str | None:
        """Why a movement is refused, in the order caja checks: a cancelled account, the
        limits (docs/deposit-api.md, "Limits"), the origin's funds; None when it is not."""
        limits = deposit_limits()
        if (origin is not None and not origin.active) or not destination.active:
            return "AccountCancelled"
        if origin is not None and origin.month_out + amount + fee > limits.monthly_out_minor:
            return "MonthlyWithdrawalLimitExceeded"
        if destination.month_in + amount > limits.monthly_in_minor:
            return "MonthlyDepositLimitExceeded"
        if self.ledger.books[destination.book].balance + amount > limits.max_balance_minor:
            return "BalanceLimitExceeded"
        if origin is not None and not self.ledger.books[origin.book].covers(amount + fee):
            return "InsufficientFunds"
        return None

    @rule(pocket=pockets, minor=RECEIVED)
    def receive(self, pocket: str, minor: int) -> None:
        """Money another bank sent arrives through the bank's feed (`caja deposits receive`)."""
        self._dep_receive(pocket, minor)

    def _dep_receive(self, pocket: str, minor: int) -> None:
        account = self.dep.pockets[pocket]
        incoming = self.world.bank.transfer_in(
            account.number,
            minor,
            bank_slug="bancolombia",
            sender_name="Alonso Herrera",
            sender_id_number="1089876456",
        )
        refusal = self._dep_refusal(None, account, minor, 0)
        outcome(f"deposit receive: {refusal or 'credited'}")
        try:
            stored = self.world.run(deposits.receive(self.world.database, incoming))
        except CajaError as error:
            refused: CajaError | None = error
        else:
            refused = None
        assert (refused.code if refused else None) == refusal, refused
        if refused is not None:
            return
        clearing = self.ledger.book("sys-clearing-cop").id
        self.ledger.post(stored.transfer.id, clearing, account.book, minor)
        account.month_in += minor
        self.dep.incoming.append(incoming)

    @precondition(lambda self: self.dep.incoming)
    @rule(data=st.data())
    def receive_again(self, data: st.DataObject) -> None:
        """The feed repeats an item: it was posted once, and nothing moves again."""
        incoming = data.draw(st.sampled_from(self.dep.incoming), label="incoming")
        stored = self.world.run(deposits.receive(self.world.database, incoming))
        assert stored.coopcentral_id == incoming.coopcentral_id

    @precondition(lambda self: len(self.dep.pockets) >= 3)
    @rule(pocket=pockets)
    def cancel(self, pocket: str) -> None:
        """Cancel an account (`caja deposits cancel`): no money moves into or out of it."""
        self.world.run(deposits.cancel(self.world.database, pocket))
        self.dep.pockets[pocket].active = False

    @rule(pocket=st.one_of(pockets, st.just(NOWHERE)))
    def read_pocket(self, pocket: str) -> None:
        response = self.world.run(
            self.world.http.get(
                f"{API}/accounts/balance",
                params={"account_token": pocket},
                headers=self.dep.headers,
            )
        )
        account = self.dep.pockets.get(pocket)
        if account is None:
            assert (response.status_code, response.json()["error_code"]) == (422, "AccountNotFound")
            return
        assert response.status_code == 200, response.text
        body = response.json()
        shown = (body["balance"], body["deposited_this_month"], body["withdrawn_this_month"])
        expected = (self.ledger.books[account.book].balance, account.month_in, account.month_out)
        assert shown == tuple(format_minor(value, 2) for value in expected)
        assert body["account_status"] == ("active" if account.active else "cancelled")

    # --- transfers and reverts ------------------------------------------------------------

    def _dep_expect(self, payment: Payment) -> tuple[int, str | None]:
        """Status and error code (docs/deposit-api.md, POST /transactions/create): the
        fields, then the token (any body: 208), then the accounts, the limits, the funds."""
        if payment.minor is None:
            return 422, "invalid_amount"
        if payment.fee_minor is None:
            return 422, "invalid_amount"
        if payment.token in self.dep.made:
            return 208, None
        if payment.origin not in self.dep.pockets or payment.destination not in self.dep.pockets:
            return 422, "AccountNotFound"
        if payment.origin == payment.destination:
            return 422, "SameAccount"
        origin = self.dep.pockets[payment.origin]
        destination = self.dep.pockets[payment.destination]
        refusal = self._dep_refusal(origin, destination, payment.minor, payment.fee_minor)
        return (201, None) if refusal is None else (409, refusal)

    def _dep_pay(self, payment: Payment) -> None:
        expected = self._dep_expect(payment)
        outcome(f"deposit transfer: {expected}")
        status, body = self._dep_post("transactions/create", payment.content())
        assert (status, body.get("error_code")) == expected, body
        if status == 208:
            made = self.dep.made[payment.token]
            assert body == {**made.body, "status": "reverted" if made.reverted else "approved"}
        if status != 201:
            return
        assert payment.minor is not None
        assert payment.fee_minor is not None
        origin = self.dep.pockets[payment.origin]
        destination = self.dep.pockets[payment.destination]
        [row] = self.world.rows(
            deposit_transfers.select().join(
                transfers, transfers.c.id == deposit_transfers.c.transfer_id
            ).where(transfers.c.idempotency_key == payment.token, transfers.c.surface == "deposit")
        )  # fmt: skip
        self.ledger.post(row.transfer_id, origin.book, destination.book, payment.minor)
        if payment.fee_minor:
            fees = self.ledger.book("sys-fees-cop").id
            self.ledger.post(row.fee_transfer_id, origin.book, fees, payment.fee_minor)
        origin.month_out += payment.minor + payment.fee_minor
        destination.month_in += payment.minor
        shown = (body["status"], body["amount"], body["fee_amount"], body["idempotency_token"])
        money = (format_minor(payment.minor, 2), format_minor(payment.fee_minor, 2))
        assert shown == ("approved", *money, payment.token)
        self.dep.made[payment.token] = Made(payment, row.transfer_id, row.fee_transfer_id, body)

    @precondition(lambda self: len(self.dep.pockets) >= 2)
    @rule(target=payments, data=st.data(), minor=SENT, fee=fees(valid=True))
    def pay(self, data: st.DataObject, minor: int, fee: tuple[str | None, int | None]) -> Payment:
        """A valid transfer between two of the client's accounts: made, or refused by the
        limits, a cancelled account or the funds."""
        tokens = list(self.dep.pockets)  # in the order opened: tokens are random
        pair = st.lists(st.sampled_from(tokens), min_size=2, max_size=2, unique=True)
        origin, destination = data.draw(pair, label="origin and destination")
        payment = Payment(
            origin, destination, f'"{format_minor(minor, 2)}"', minor, *fee, fresh_token("dep")
        )
        self._dep_pay(payment)
        return payment

    @rule(
        target=payments,
        origin=st.one_of(pockets, st.just(NOWHERE)),
        destination=st.one_of(pockets, st.just(NOWHERE)),
        amount=amounts(),
        fee=fees(valid=False),
    )
    def pay_anything(
        self,
        origin: str,
        destination: str,
        amount: tuple[str, int | None],
        fee: tuple[str | None, int | None],
    ) -> Payment:
        """Any accounts (none, the same twice) and any amount or fee."""
        payment = Payment(origin, destination, *amount, *fee, fresh_token("dep"))
        self._dep_pay(payment)
        return payment

    @rule(earlier=payments, swap=st.booleans())
    def pay_again(self, earlier: Payment, swap: bool) -> None:
        """A token already used answers the stored transfer (208) whatever the body."""
        payment = earlier
        if swap:
            payment = replace(earlier, origin=earlier.destination, destination=earlier.origin)
        self._dep_pay(payment)

    def _dep_revert_refusal(self, token: str) -> tuple[int, str | None]:
        if any(item.coopcentral_id == token for item in self.dep.incoming):
            return 409, "ExternalDepositNotRevertible"
        made = self.dep.made.get(token)
        if made is None:
            return 422, "TransactionNotFound"
        if made.reverted:
            return 409, "AlreadyReverted"
        origin = self.dep.pockets[made.payment.origin]
        destination = self.dep.pockets[made.payment.destination]
        if not (origin.active and destination.active):
            return 409, "AccountCancelled"
        if self.ledger.reverse_refusal(made.main) is not None:
            return 409, "DestinationLacksFunds"
        return 200, None

    def _dep_revert(self, token: str) -> None:
        expected = self._dep_revert_refusal(token)
        outcome(f"deposit revert: {expected}")
        content = raw_json({"idempotency_token": token}, {})
        status, body = self._dep_post("transactions/revert", content)
        assert (status, body.get("error_code")) == expected, body
        if status != 200:
            return
        made = self.dep.made[token]
        for original in (made.main, made.fee):
            if original is not None:
                reversal = self.world.transfer_id(transfers.c.reverses_id == original)
                self.ledger.reverse(original, reversal)
        made.reverted = True
        amount, fee = made.payment.minor, made.payment.fee_minor
        assert amount is not None
        assert fee is not None
        self.dep.pockets[made.payment.destination].month_out += amount
        self.dep.pockets[made.payment.origin].month_in += amount + fee
        assert body == {**made.body, "status": "reverted"}

    @rule(earlier=payments)
    def revert(self, earlier: Payment) -> None:
        """Move a transfer and its fee back, once, if the destination still has the money;
        a token that made nothing is not found."""
        self._dep_revert(earlier.token)

    @precondition(lambda self: self.dep.made)
    @rule(data=st.data())
    def revert_made(self, data: st.DataObject) -> None:
        """Revert one of the transfers that were made (perhaps again)."""
        self._dep_revert(data.draw(st.sampled_from(list(self.dep.made)), label="token"))

    @precondition(lambda self: self.dep.incoming)
    @rule(data=st.data())
    def revert_incoming(self, data: st.DataObject) -> None:
        """Money from another bank cannot be reverted through the surface."""
        incoming = data.draw(st.sampled_from(self.dep.incoming), label="incoming")
        self._dep_revert(incoming.coopcentral_id)
