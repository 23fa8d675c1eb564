"""Rules for the ledger: accounts and transfers through ledger v1, money in through
funding, and holds, posts, voids and reversals through the engine (no surface offers
them, so they are driven as the services drive them)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import Bundle, MultipleResults, initialize, multiple, precondition, rule

from caja.clients.service import create_client
from caja.core.money import format_minor
from caja.ledger import batching as engine
from caja.ledger.model import NewTransfer, Operation, ResolvePending, Reverse, TransferView
from caja.ledger.tables import transfers
from caja.ops.funding import fund
from tests.helpers import V1, account_body
from tests.model.base import Machine, body_of, outcome, raw_json

MAX_CUSTOMERS = 6
# Stand-ins the rules turn into an account of another client and a token nobody has.
ELSEWHERE = "elsewhere"
NOWHERE = "acc-nosuchaccount00000000000000"
MISSING_TRANSFER = 10**12


@dataclass(frozen=True)
class V1Request:
    """A ``POST /transaction`` as a client sends it; ``minor`` is what ``amount`` is worth
    in centavos, None when the amount is invalid."""

    origin: str
    destination: str
    amount: str  # JSON text, written as the client wrote it
    minor: int | None
    description: str
    token: str

    def content(self) -> bytes:
        return raw_json(
            {
                "origin_account": self.origin,
                "destination_account": self.destination,
                "description": self.description,
                "unique_transfer_token": self.token,
            },
            {"amount": self.amount},
        )

    def same_transfer_as(self, other: V1Request) -> bool:
        mine = (self.origin, self.destination, self.minor, self.description)
        return mine == (other.origin, other.destination, other.minor, other.description)


@dataclass
class Answered:
    request: V1Request
    body: dict[str, Any]


def _written(minor: int, form: str) -> str:
    """``minor`` centavos as a client may write them: a string or a JSON number, with two
    decimals or as few as the value needs."""
    text = format_minor(minor, 2)
    if form == "short":
        text = text.rstrip("0").removesuffix(".")
    return text if form == "number" else f'"{text}"'


# Zero, negative, more decimals than the scale, past the maximum, not an amount at all.
INVALID_AMOUNTS = [
    '"0"', '"0.00"', "0", '"-5.00"', "-5", '"1.234"', "1.234", '"abc"', '""', "true",
    "null", '"10000000000000.01"', '"1e3"', '" 5"', "[]",
]  # fmt: skip


@st.composite
def v1_amounts(draw: st.DrawFn) -> tuple[str, int | None]:
    if draw(st.booleans()):
        return draw(st.sampled_from(INVALID_AMOUNTS)), None
    minor = draw(SMALL_OR_LARGE)
    return _written(minor, draw(st.sampled_from(["text", "number", "short"]))), minor


DESCRIPTIONS = st.sampled_from(["lunch", "rent", "test tx"])
# Centavos: mostly within what accounts hold, sometimes past it.
SMALL_OR_LARGE = st.one_of(st.integers(1, 200_000), st.integers(1, 5_000_000))
# What the first two accounts are funded with (open_customer makes empty ones).
FUNDS = st.integers(100_000, 5_000_000)
_tokens = iter(range(10**9))


def fresh_token(prefix: str) -> str:
    return f"{prefix}-{next(_tokens)}"


@dataclass
class LedgerState:
    key: str = ""
    foreign: str = ""  # an account of another ledger client
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)  # token -> its body
    answered: dict[str, Answered] = field(default_factory=dict)
    movements: list[int] = field(default_factory=list)  # between this client's accounts
    holds: list[int] = field(default_factory=list)


class LedgerRules(Machine):
    customers = Bundle("customers")
    v1_requests = Bundle("v1_requests")

    @initialize(target=customers, funds=st.lists(FUNDS, min_size=2, max_size=2))
    def start_ledger_clients(self, funds: list[int]) -> MultipleResults[str]:
        """The client, an account of another client, and two accounts with ``funds``."""
        self.v1 = LedgerState()
        database = self.world.database
        self.v1.key = self.world.run(create_client(database, "ledger", ["ledger:admin"])).api_key
        other = self.world.run(create_client(database, "other", ["ledger:admin"])).api_key
        response = self.world.run(
            self.world.http.post(
                f"{V1}/account", json=account_body(), headers={"X-Account-api-key": other}
            )
        )
        assert response.status_code == 201, response.text
        self.v1.foreign = response.json()["token"]
        self.open_book(self.v1.foreign)
        tokens = [self._v1_open() for _ in funds]
        for token, minor in zip(tokens, funds, strict=True):
            self._v1_fund(token, minor)
        return multiple(*tokens)

    @property
    def v1_headers(self) -> dict[str, str]:
        return {"X-Account-api-key": self.v1.key, "Content-Type": "application/json"}

    def _v1_account(self, token: str) -> str:
        return self.v1.foreign if token == ELSEWHERE else token

    # --- accounts -------------------------------------------------------------------------

    @precondition(lambda self: len(self.v1.customers) < MAX_CUSTOMERS)
    @rule(target=customers)
    def open_customer(self) -> str:
        return self._v1_open()

    def _v1_open(self) -> str:
        body = account_body()
        response = self.world.run(
            self.world.http.post(f"{V1}/account", json=body, headers=self.v1_headers)
        )
        assert response.status_code == 201, response.text
        created = response.json()
        assert (created["balance"], created["phone_number"]) == ("0.00", body["phone_number"])
        self.v1.customers[created["token"]] = body
        self.open_book(created["token"])
        return str(created["token"])

    @rule(customer=customers, change=st.sampled_from(["nothing", "phone", "owner"]))
    def open_customer_again(self, customer: str, change: str) -> None:
        """The same owner and phone is the same account (200); the same owner with another
        phone, or another owner with this phone, is refused (409) and opens nothing."""
        body = dict(self.v1.customers[customer])
        expected: tuple[int, str | None] = (200, None)
        if change == "phone":
            body["phone_number"] = account_body()["phone_number"]
            expected = (409, "OwnerHasAnotherAccount")
        elif change == "owner":
            body = account_body(phone_number=body["phone_number"])
            expected = (409, "PhoneNumberTaken")
        response = self.world.run(
            self.world.http.post(f"{V1}/account", json=body, headers=self.v1_headers)
        )
        answer = response.json()
        assert (response.status_code, answer.get("code")) == expected, response.text
        if change == "nothing":
            balance = format_minor(self.ledger.book(customer).balance, 2)
            assert (answer["token"], answer["balance"]) == (customer, balance)

    @rule(customer=customers, minor=st.integers(1, 2_000_000))
    def fund_customer(self, customer: str, minor: int) -> None:
        self._v1_fund(customer, minor)

    def _v1_fund(self, customer: str, minor: int) -> None:
        funded = self.world.run(fund(self.world.database, customer, format_minor(minor, 2)))
        new_id = self.world.transfer_id(transfers.c.token == funded.transfer)
        funding = self.ledger.book("sys-funding-cop")
        self.ledger.post(new_id, funding.id, self.ledger.book(customer).id, minor)
        self.v1.movements.append(new_id)
        assert funded.balance_minor == self.ledger.book(customer).balance

    @rule(customer=st.one_of(customers, st.sampled_from([ELSEWHERE, NOWHERE])))
    def read_customer(self, customer: str) -> None:
        token = self._v1_account(customer)
        response = self.world.run(
            self.world.http.get(f"{V1}/account/{token}", headers=self.v1_headers)
        )
        if token not in self.v1.customers:
            assert (response.status_code, response.json()["code"]) == (422, "AccountNotFound")
            return
        assert response.status_code == 200, response.text
        assert response.json()["balance"] == format_minor(self.ledger.book(token).balance, 2)

    @rule(customer=customers)
    def read_history(self, customer: str) -> None:
        """Every posted movement of the account is listed once, and they add up to its
        balance."""
        response = self.world.run(
            self.world.http.get(
                f"{V1}/account/{customer}/transactions",
                params={"limit": 500},
                headers=self.v1_headers,
            )
        )
        assert response.status_code == 200, response.text
        items = body_of(response)["transactions"]
        book = self.ledger.book(customer)
        assert len(items) == book.entries
        signed = [
            (1 if item["destination_account"] == customer else -1)
            * int(Decimal(item["amount"]) * 100)
            for item in items
        ]
        assert sum(signed) == book.balance

    # --- transfers through ledger v1 ------------------------------------------------------

    def _v1_expect(self, request: V1Request) -> tuple[int, str | None]:
        """The status and error code the ledger v1 document gives for ``request``: the body
        is checked, then the accounts, then the token, then the funds."""
        if request.minor is None:
            return 422, "InvalidData"
        if {request.origin, request.destination} - self.v1.customers.keys():
            return 422, "AccountNotFound"
        earlier = self.v1.answered.get(request.token)
        if earlier is not None:
            if earlier.request.same_transfer_as(request):
                return 208, None
            return 422, "UniqueTransferTokenReused"
        if request.origin == request.destination:
            return 422, "InvalidData"
        if not self.ledger.book(request.origin).covers(request.minor):
            return 402, "NoFunds"
        return 201, None

    def _v1_send(self, request: V1Request) -> None:
        status, code = self._v1_expect(request)
        outcome(f"v1 transfer: {status} {code or ''}")
        response = self.world.run(
            self.world.http.post(
                f"{V1}/transaction", content=request.content(), headers=self.v1_headers
            )
        )
        answer = body_of(response)
        assert response.status_code == status, (response.status_code, answer)
        if code is not None:
            assert answer["code"] == code, answer
            return
        if status == 208:
            assert answer == self.v1.answered[request.token].body
            return
        assert request.minor is not None
        origin = self.ledger.book(request.origin)
        destination = self.ledger.book(request.destination)
        new_id = self.world.transfer_id(transfers.c.token == answer["token"])
        self.ledger.post(new_id, origin.id, destination.id, request.minor)
        self.v1.movements.append(new_id)
        self.v1.answered[request.token] = Answered(request, answer)
        assert answer["origin_account_balance"] == Decimal(format_minor(origin.balance, 2))
        shown = (answer["origin_account"], answer["destination_account"], answer["amount"])
        assert shown == (request.origin, request.destination, format_minor(request.minor, 2))
        assert (answer["description"], answer["unique_transfer_token"]) == (
            request.description,
            request.token,
        )

    def _two_customers(self, data: st.DataObject) -> tuple[str, str]:
        tokens = list(self.v1.customers)  # in the order opened: tokens are random
        pair = st.lists(st.sampled_from(tokens), min_size=2, max_size=2, unique=True)
        origin, destination = data.draw(pair, label="origin and destination")
        return origin, destination

    @precondition(lambda self: len(self.v1.customers) >= 2)
    @rule(target=v1_requests, data=st.data(), minor=SMALL_OR_LARGE, description=DESCRIPTIONS)
    def transfer(self, data: st.DataObject, minor: int, description: str) -> V1Request:
        """A valid request between two of the client's accounts: made, or 402."""
        origin, destination = self._two_customers(data)
        form = data.draw(st.sampled_from(["text", "number", "short"]), label="written as")
        request = V1Request(
            origin, destination, _written(minor, form), minor, description, fresh_token("utt")
        )
        self._v1_send(request)
        return request

    @rule(
        target=v1_requests,
        origin=st.one_of(customers, st.sampled_from([ELSEWHERE, NOWHERE])),
        destination=st.one_of(customers, st.sampled_from([ELSEWHERE, NOWHERE])),
        amount=v1_amounts(),
        description=DESCRIPTIONS,
    )
    def transfer_anything(
        self, origin: str, destination: str, amount: tuple[str, int | None], description: str
    ) -> V1Request:
        """Any accounts (another client's, none, the same twice) and any amount (zero,
        negative, too many decimals, too large, not a number)."""
        request = V1Request(
            self._v1_account(origin),
            self._v1_account(destination),
            *amount,
            description,
            fresh_token("utt"),
        )
        self._v1_send(request)
        return request

    @rule(
        earlier=v1_requests,
        change=st.sampled_from(["nothing", "nothing", "amount", "description", "direction"]),
    )
    def transfer_again(self, earlier: V1Request, change: str) -> None:
        """A request sent again with its token: unchanged it is answered as stored (208) and
        moves nothing; changed it is refused (422), unless the first was never stored."""
        request = earlier
        if change == "amount":
            minor = (earlier.minor or 0) + 1
            request = replace(earlier, amount=_written(minor, "text"), minor=minor)
        elif change == "description":
            request = replace(earlier, description=earlier.description + " again")
        elif change == "direction":
            request = replace(earlier, origin=earlier.destination, destination=earlier.origin)
        self._v1_send(request)

    @rule(earlier=v1_requests)
    def read_transfer(self, earlier: V1Request) -> None:
        response = self.world.run(
            self.world.http.get(f"{V1}/transaction/{earlier.token}", headers=self.v1_headers)
        )
        answered = self.v1.answered.get(earlier.token)
        if answered is None:
            assert (response.status_code, response.json()["code"]) == (422, "TransactionNotFound")
            return
        assert response.status_code == 200, response.text
        assert body_of(response) == answered.body

    # --- holds, posts, voids and reversals through the engine -----------------------------

    def _engine_post(self, operation: Operation, refusal: str | None) -> TransferView | None:
        """Post one operation; check it was refused for ``refusal``, or went through."""
        [result] = self.world.run(engine.post(self.world.database, [operation]))
        if refusal is not None:
            assert result.error is not None, result
            assert result.error.code == refusal, result
            return None
        assert result.error is None, result
        assert result.transfer is not None
        return result.transfer

    @precondition(lambda self: len(self.v1.customers) >= 2)
    @rule(
        data=st.data(),
        minor=st.one_of(st.integers(1, 100_000), SMALL_OR_LARGE),
        itself=st.sampled_from([False] * 5 + [True]),
    )
    def hold(self, data: st.DataObject, minor: int, itself: bool) -> None:
        """Hold money on one account for another (or, refused, for itself)."""
        origin, destination = self._two_customers(data)
        debit = self.ledger.book(origin)
        credit = debit if itself else self.ledger.book(destination)
        refusal = self.ledger.hold_refusal(debit.id, credit.id, minor)
        outcome(f"hold: {refusal or 'held'}")
        held = self._engine_post(
            NewTransfer(
                debit_account_id=debit.id,
                credit_account_id=credit.id,
                amount_minor=minor,
                pending=True,
                description="hold",
            ),
            refusal,
        )
        if held is not None:
            self.ledger.hold(held.id, debit.id, credit.id, minor)
            self.v1.holds.append(held.id)
            self.v1.movements.append(held.id)

    def _engine_resolve(self, target: int, post: bool) -> None:
        refusal = self.ledger.resolve_refusal(target)
        outcome(f"resolve: {refusal or ('posted' if post else 'voided')}")
        resolution = self._engine_post(
            ResolvePending(pending_transfer_id=target, post=post), refusal
        )
        if resolution is not None:
            done = self.ledger.resolve(target, resolution.id, post=post)
            assert resolution.kind is done.kind
            self.v1.movements.append(resolution.id)

    @precondition(lambda self: self.v1.movements)
    @rule(data=st.data(), post=st.booleans())
    def resolve(self, data: st.DataObject, post: bool) -> None:
        """Post or void a hold, at most once; anything but a hold is not found. Holds are
        the likelier targets, so that some are resolved twice."""
        choices = [*self.v1.holds * 4, *self.v1.movements, MISSING_TRANSFER]
        self._engine_resolve(data.draw(st.sampled_from(choices), label="transfer"), post)

    @precondition(lambda self: self.v1.movements)
    @rule(data=st.data())
    def reverse(self, data: st.DataObject) -> None:
        """Move a posted transfer's amount back, once, if its receiver still has it."""
        target = data.draw(st.sampled_from([*self.v1.movements, MISSING_TRANSFER]), "transfer")
        refusal = self.ledger.reverse_refusal(target)
        outcome(f"reverse: {refusal or 'reversed'}")
        reversal = self._engine_post(Reverse(transfer_id=target, description="reversal"), refusal)
        if reversal is not None:
            self.ledger.reverse(target, reversal.id)
            self.v1.movements.append(reversal.id)
