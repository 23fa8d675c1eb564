"""Rules for the top-up and package gateway: a merchant buys through the HTTP surface, the
in-process sandbox operator answers by test number (docs/topup-api.md, "Test numbers"),
and reconciliation settles what was left open."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, NamedTuple

from hypothesis import strategies as st
from hypothesis.stateful import Bundle, initialize, invariant, precondition, rule
from sqlalchemy import select

from caja.app import services_of
from caja.clients.service import create_client
from caja.clients.tables import clients
from caja.ledger.tables import accounts, transfers
from caja.ops.funding import fund
from caja.topups.service import reconcile
from caja.topups.tables import purchases
from tests.gateway import GATEWAY, basic
from tests.model.base import Machine, body_of, outcome, raw_json
from tests.model.ledger_rules import fresh_token

PESO = 100
OPEN = ("created", "in_progress", "unknown")
# The operator's answer to a status query, as the model writes a purchase's fate.
SETTLED = {"approved": "authorized", "rejected": "rejected"}


def fate(final: str | None) -> str | None:
    """What reconciliation makes of an open purchase the operator answers ``final`` about:
    one it never received is rejected; one it still processes stays open (None)."""
    if final is None:
        return "rejected"
    return SETTLED.get(final)


class FirstAnswer(NamedTuple):
    http_status: int
    status: str  # the purchase's status then
    final: str | None  # what a later status query answers; None: the operator never got it


TOPUP_ANSWERS = {
    "3110002222": FirstAnswer(502, "unknown", "approved"),
    "3110003333": FirstAnswer(500, "in_progress", "rejected"),
    "3110004444": FirstAnswer(409, "in_progress", "approved"),
    "3110005555": FirstAnswer(503, "rejected", "rejected"),
}
PACKAGE_ANSWERS = {
    "3110007777": FirstAnswer(200, "in_progress", "approved"),
    "3110006666": FirstAnswer(502, "unknown", "rejected"),
    "3110000000": FirstAnswer(503, "rejected", "rejected"),
}
AUTHORIZED = FirstAnswer(200, "authorized", "approved")
# The operator down: it answers an error and records nothing.
OPERATOR_DOWN = FirstAnswer(500, "in_progress", None)
NUMBERS = sorted({*TOPUP_ANSWERS, *PACKAGE_ANSWERS, "3110001111", "3201234567"})

PACKAGE = {"provider_code": 58, "package_code": 767}
PACKAGE_PESOS = 7500
# (JSON text, whole pesos or None when the gateway must refuse it)
TOPUP_AMOUNTS = [
    ("1000", 1000), ("2500", 2500), ("5000", 5000), ("20000", 20000), ("100000", 100000),
    ('"3000"', 3000), ("4000.0", 4000),
    ("999", None), ("1050", None), ("100100", None), ("1000.5", None), ('"abc"', None),
    ("0", None), ("-1000", None),
]  # fmt: skip
PACKAGE_AMOUNTS = [
    ("7500", 7500), ("7500", 7500), ("7500", 7500), ('"7500"', 7500), ("7000", None),
    ("999", None), ("7500.5", None),
]  # fmt: skip


@dataclass(frozen=True)
class Order:
    """A purchase request as the merchant sends it."""

    kind: str  # topup | package
    number: str
    amount: str  # JSON text
    pesos: int | None
    token: str

    @property
    def path(self) -> str:
        return "topup_account" if self.kind == "topup" else "package_buy"

    def content(self) -> bytes:
        fields: dict[str, Any] = {
            "idempotency_token": self.token,
            "destination_number": self.number,
            "payment_token": "wallet-1",
        }
        if self.kind == "topup":
            fields.update(service_provider="etb", payment_origin="shop")
        else:
            fields.update(PACKAGE)
        return raw_json(fields, {"amount": self.amount})

    def valid(self) -> bool:
        if self.pesos is None:
            return False
        return self.kind == "topup" or self.pesos == PACKAGE_PESOS


@dataclass
class Purchase:
    kind: str
    token: str
    reference: str  # caja's token (topup-…, pkg-…), by which the operator knows it
    pesos: int
    status: str
    final: str | None
    hold: int


@dataclass
class GatewayState:
    client: str = ""  # cli-…
    headers: dict[str, str] = field(default_factory=dict)
    max_loan: int = 0
    merchant: int = 0  # its ledger account
    purchases: dict[tuple[str, str], Purchase] = field(default_factory=dict)


class TopupRules(Machine):
    orders = Bundle("orders")

    @initialize(max_loan=st.sampled_from([0, 3000, 20000]), funds=st.sampled_from([0, 5000, 30000]))
    def start_merchant(self, max_loan: int, funds: int) -> None:
        """A merchant with ``funds`` pesos and a max loan of ``max_loan``."""
        self.gw = GatewayState(max_loan=max_loan)
        created = self.world.run(
            create_client(self.world.database, "shop", ["topup"], max_loan * PESO)
        )
        self.gw.client = created.client_id
        self.gw.headers = {**basic(created.api_key), "Content-Type": "application/json"}
        [row] = self.world.rows(
            select(accounts.c.token)
            .join(clients, clients.c.id == accounts.c.client_id)
            .where(clients.c.token == created.client_id, accounts.c.kind == "merchant")
        )
        self.gw.merchant = self.open_book(row.token).id
        if funds:
            self.fund_merchant(funds)

    @rule(pesos=st.sampled_from([1000, 5000, 30000]))
    def fund_merchant(self, pesos: int) -> None:
        funded = self.world.run(fund(self.world.database, self.gw.client, str(pesos)))
        new_id = self.world.transfer_id(transfers.c.token == funded.transfer)
        funding = self.ledger.book("sys-funding-cop").id
        self.ledger.post(new_id, funding, self.gw.merchant, pesos * PESO)

    # --- buying ---------------------------------------------------------------------------

    def _gw_first_answer(self, order: Order, down: bool) -> FirstAnswer:
        if down:
            return OPERATOR_DOWN
        table = TOPUP_ANSWERS if order.kind == "topup" else PACKAGE_ANSWERS
        return table.get(order.number, AUTHORIZED)

    def _gw_expect(self, order: Order, down: bool) -> tuple[int, str | None]:
        """Status and the field an error names: the fields first, then the token, then
        the funds, then whatever the operator answers."""
        if not order.valid():
            return 422, "amount"
        if (order.kind, order.token) in self.gw.purchases:
            return 422, "idempotency_token"
        assert order.pesos is not None
        if not self.ledger.books[self.gw.merchant].covers(order.pesos * PESO):
            return 402, None
        return self._gw_first_answer(order, down).http_status, None

    def _gw_buy(self, order: Order, down: bool) -> None:
        status, field_name = self._gw_expect(order, down)
        outcome(f"{order.kind}: {status} {field_name or ''}")
        self.world.sandbox.fail_status = 503 if down else None
        try:
            response = self.world.run(
                self.world.http.post(
                    f"{GATEWAY}/{order.path}", content=order.content(), headers=self.gw.headers
                )
            )
        finally:
            self.world.sandbox.fail_status = None
        answer = body_of(response)
        assert response.status_code == status, (response.status_code, answer)
        if field_name is not None or status == 402:
            assert answer.get("field") == field_name, answer
            assert "token" not in answer
            return
        assert order.pesos is not None
        first = self._gw_first_answer(order, down)
        shown = first.status if order.kind == "topup" else first.status.upper()
        assert (answer["status"], answer["amount"]) == (shown, order.pesos), answer
        assert answer["idempotency_token"] == order.token
        [row] = self.world.rows(
            select(purchases.c.hold_transfer_id).where(purchases.c.token == answer["token"])
        )
        amount = order.pesos * PESO
        self.ledger.hold(row.hold_transfer_id, self.gw.merchant, self._gw_operators, amount)
        purchase = Purchase(
            order.kind, order.token, answer["token"], order.pesos, "created", first.final,
            row.hold_transfer_id,
        )  # fmt: skip
        self.gw.purchases[(order.kind, order.token)] = purchase
        self._gw_settle(purchase, first.status)

    @property
    def _gw_operators(self) -> int:
        return self.ledger.book("sys-operators-cop").id

    def _gw_settle(self, purchase: Purchase, status: str) -> None:
        """Record ``status`` for an open purchase; a final one posts or voids its hold."""
        purchase.status = status
        if status in ("authorized", "rejected"):
            resolution = self.world.transfer_id(transfers.c.pending_id == purchase.hold)
            self.ledger.resolve(purchase.hold, resolution, post=status == "authorized")

    @rule(
        target=orders,
        number=st.sampled_from(NUMBERS),
        amount=st.sampled_from(TOPUP_AMOUNTS),
        down=st.sampled_from([False] * 5 + [True]),
    )
    def buy_topup(self, number: str, amount: tuple[str, int | None], down: bool) -> Order:
        order = Order("topup", number, *amount, fresh_token("order"))
        self._gw_buy(order, down)
        return order

    @rule(
        target=orders,
        number=st.sampled_from(NUMBERS),
        amount=st.sampled_from(PACKAGE_AMOUNTS),
        down=st.sampled_from([False] * 5 + [True]),
    )
    def buy_package(self, number: str, amount: tuple[str, int | None], down: bool) -> Order:
        order = Order("package", number, *amount, fresh_token("pkg"))
        self._gw_buy(order, down)
        return order

    @rule(earlier=orders, number=st.sampled_from([None, *NUMBERS]))
    def buy_again(self, earlier: Order, number: str | None) -> None:
        """The same token again, with any body: once a purchase is recorded it is 422 and
        buys nothing; a token refused before (402, 422) is still free."""
        order = earlier if number is None else Order(
            earlier.kind, number, earlier.amount, earlier.pesos, earlier.token
        )  # fmt: skip
        self._gw_buy(order, down=False)

    # --- the operator, reconciliation, and reading back -----------------------------------

    def _gw_open(self) -> list[Purchase]:
        return [p for p in self.gw.purchases.values() if p.status in OPEN]

    @precondition(lambda self: any(p.final is not None for p in self._gw_open()))
    @rule(data=st.data(), final=st.sampled_from(["approved", "rejected", "pending"]))
    def operator_decides(self, data: st.DataObject, final: str) -> None:
        """The operator settles (or keeps processing) a purchase it received."""
        received = [p for p in self._gw_open() if p.final is not None]
        purchase = data.draw(st.sampled_from(received), label="purchase")
        self.world.sandbox.records[purchase.reference].status = final
        purchase.final = final

    @precondition(lambda self: self._gw_open())
    @rule()
    def reconcile(self) -> None:
        """Ask the operator about every open purchase: approved posts the hold, rejected
        (or never received) voids it, pending leaves it held."""
        open_now = self._gw_open()
        done = self.world.run(
            reconcile(
                self.world.database,
                services_of(self.world.app).operator,
                batcher=services_of(self.world.app).batcher,
                not_found_after=timedelta(0),
            )
        )
        fates = [fate(purchase.final) for purchase in open_now]
        expected = (
            len(open_now),
            fates.count("authorized"),
            fates.count("rejected"),
            fates.count(None),
        )
        assert (done.checked, done.authorized, done.rejected, done.still_open) == expected
        for purchase, settled in zip(open_now, fates, strict=True):
            outcome(f"reconcile: {settled or 'still open'}")
            if settled is not None:
                self._gw_settle(purchase, settled)

    @rule()
    def read_merchant_balance(self) -> None:
        response = self.world.run(
            self.world.http.get(f"{GATEWAY}/merchant/balance", headers=self.gw.headers)
        )
        assert response.status_code == 200, response.text
        available = self.ledger.books[self.gw.merchant].available
        expected = {"balance": available // PESO, "max_loan_amount": self.gw.max_loan}
        assert response.json() == expected

    @rule(earlier=orders)
    def read_purchase(self, earlier: Order) -> None:
        path = f"{GATEWAY}/{earlier.path}/{earlier.token}"
        response = self.world.run(self.world.http.get(path, headers=self.gw.headers))
        purchase = self.gw.purchases.get((earlier.kind, earlier.token))
        if purchase is None:
            assert response.status_code == 422, response.text
            assert response.json()["field"] == "idempotency_token"
            return
        status = 200
        if earlier.kind == "package":
            status = {"rejected": 503, "unknown": 502}.get(purchase.status, 200)
        assert response.status_code == status, response.text
        shown = purchase.status if earlier.kind == "topup" else purchase.status.upper()
        assert response.json()["status"] == shown

    @invariant()
    def every_purchase_is_where_the_model_says(self) -> None:
        stored = {
            (row.kind, row.idempotency_token): row.status
            for row in self.world.rows(
                select(purchases.c.kind, purchases.c.idempotency_token, purchases.c.status)
            )
        }
        assert stored == {key: p.status for key, p in self.gw.purchases.items()}
