"""The checks of a crash run: the database against what the clients were answered.

- Every transfer a client saw acknowledged (201 or 208) is stored exactly once, under
  its client and token, with the body's accounts and amount and the token answered.
- No transfer is stored that no client asked for: besides the ledger transfers, the
  database may hold only the fundings ``caja fund`` printed, the holds of the top-ups
  sent, and the settlements of those holds.
- A transfer refused (402) is not stored, even one that was first sent without an answer.
- Each customer account's balance is its funding plus and minus the acknowledged
  transfers, with nothing held.
- Each top-up answered with a purchase, or as a duplicate, has one purchase with one
  hold; what its answer said was final is final in the database; once reconciled, no
  purchase is left open that the operator has a final answer for (or never received);
  the merchant's balance is its funding less the purchases authorized.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from caja.core.money import parse_amount
from caja.core.tokens import digest_key
from chaos.journal import Journal, Kind, Sent
from chaos.prepare import Funding
from chaos.snapshot import PurchaseRow, Snapshot, TransferRow

__all__ = ["Findings", "check_run"]

LEDGER_SURFACE = "ledger_v1"
TOPUP_SURFACE = "topup"
OPEN_STATUSES = ("created", "in_progress", "unknown")
FINAL_ANSWERS = ("approved", "rejected")
MAX_EXAMPLES = 5


@dataclass(slots=True)
class Violations:
    """One kind of violation: how many, and a few examples."""

    count: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, example: str) -> None:
        self.count += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(example)


@dataclass(slots=True)
class Findings:
    """The figures of one run and every violation found."""

    violations: dict[str, Violations] = field(default_factory=lambda: defaultdict(Violations))
    figures: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def violate(self, name: str, example: str) -> None:
        self.violations[name].add(example)

    def count(self, name: str) -> int:
        return self.violations[name].count if name in self.violations else 0

    @property
    def ok(self) -> bool:
        return all(found.count == 0 for found in self.violations.values())


@dataclass(frozen=True, slots=True)
class Known:
    """What the run made before the load: its clients and fundings."""

    ledger_client: str  # cli-…
    merchant_client: str  # cli-…
    fundings: list[Funding]


def check_run(
    journal: Journal,
    known: Known,
    snapshot: Snapshot,
    operator_status: Callable[[str], str | None],
    checked_elsewhere: frozenset[str] = frozenset(),
) -> Findings:
    """Compare ``snapshot`` (read after reconciliation, the server stopped) with the
    journal; ``operator_status`` asks the operator about a purchase. Transfers of the
    surfaces in ``checked_elsewhere`` are left to the caller's own checks."""
    findings = Findings()
    ledger_id = snapshot.client_ids.get(known.ledger_client)
    merchant_id = snapshot.client_ids.get(known.merchant_client)
    if ledger_id is None or merchant_id is None:
        findings.violate("clients missing", f"{known.ledger_client} {known.merchant_client}")
        return findings
    mine = [row for row in snapshot.transfers if row.surface not in checked_elsewhere]
    stored = _sort_transfers(journal, known, mine, ledger_id, merchant_id, findings)
    _check_transfers(journal, snapshot, stored, findings)
    _check_balances(journal, known, snapshot, findings)
    _check_topups(journal, snapshot, stored, merchant_id, operator_status, findings)
    _check_merchant(known, snapshot, merchant_id, findings)
    return findings


@dataclass(slots=True)
class _Stored:
    """The stored transfers, by what asked for them."""

    ledger: dict[str, list[TransferRow]] = field(default_factory=lambda: defaultdict(list))
    holds: dict[str, list[TransferRow]] = field(default_factory=lambda: defaultdict(list))
    settlements: dict[int, list[TransferRow]] = field(default_factory=lambda: defaultdict(list))


def _sort_transfers(
    journal: Journal,
    known: Known,
    rows: list[TransferRow],
    ledger_id: int,
    merchant_id: int,
    findings: Findings,
) -> _Stored:
    """File every stored transfer under the request it answers; any other is unknown."""
    sent_tokens = {sent.token for sent in journal.of_kind(Kind.TRANSFER)}
    topup_keys = {digest_key(sent.token) for sent in journal.of_kind(Kind.TOPUP)}
    fundings = {funding.transfer for funding in known.fundings}
    stored = _Stored()
    hold_ids: set[int] = set()
    funded: set[str] = set()
    for row in rows:
        key = row.idempotency_key
        if row.surface == "funding" and row.token in fundings and row.token not in funded:
            funded.add(row.token)
        elif row.surface == LEDGER_SURFACE and row.client_id == ledger_id and key in sent_tokens:
            assert key is not None
            stored.ledger[key].append(row)
        elif row.surface == TOPUP_SURFACE and row.client_id == merchant_id:
            if row.kind == "pending" and key in topup_keys:
                assert key is not None
                stored.holds[key].append(row)
                hold_ids.add(row.id)
            elif row.kind in ("post_pending", "void_pending") and row.pending_id in hold_ids:
                assert row.pending_id is not None
                stored.settlements[row.pending_id].append(row)
            else:
                findings.violate("unknown transfers", f"{row.token} ({row.kind}, top-up)")
        else:
            findings.violate(
                "unknown transfers", f"{row.token} ({row.surface}, key {row.idempotency_key})"
            )
    findings.figures["fundings"] = len(funded)
    for missing in sorted(fundings - funded):
        findings.violate("fundings lost", missing)
    for hold_id, settlements in stored.settlements.items():
        if len(settlements) > 1:
            findings.violate("duplicates", f"hold {hold_id} settled {len(settlements)} times")
    return stored


def _check_transfers(
    journal: Journal, snapshot: Snapshot, stored: _Stored, findings: Findings
) -> None:
    account_tokens = {account.id: account.token for account in snapshot.accounts.values()}
    for sent in journal.of_kind(Kind.TRANSFER):
        rows = stored.ledger.get(sent.token, [])
        figures = findings.figures
        figures["transfers sent"] += 1
        if sent.retried_after_no_answer:
            figures["transfers retried after no answer"] += 1
        if len(rows) > 1:
            findings.violate("duplicates", f"{sent.token} stored {len(rows)} times")
        if sent.acknowledged:
            figures["transfers acknowledged"] += 1
            figures[f"transfers answered {sent.status}"] += 1
            if sent.retried_after_no_answer:
                figures["retried and acknowledged"] += 1
            if not rows:
                findings.violate("transfers lost", f"{sent.token} answered {sent.status}")
            else:
                _compare(sent, rows[0], account_tokens, findings)
            continue
        if sent.status == 402 and sent.answer.get("code") == "NoFunds":
            figures["transfers refused for funds"] += 1
            if sent.retried_after_no_answer:
                figures["retried and refused for funds"] += 1
        else:
            findings.violate(
                "unexpected answers", f"{sent.token}: {sent.status} {sent.answer.get('code')}"
            )
        if rows:
            findings.violate("refused but stored", f"{sent.token} answered {sent.status}")


def _compare(
    sent: Sent, row: TransferRow, account_tokens: dict[int, str], findings: Findings
) -> None:
    """The stored transfer is the one the body asked for, and the one answered."""
    body = sent.body
    expected = (
        body["origin_account"],
        body["destination_account"],
        parse_amount(body["amount"], 2),
        body["description"],
        "standard",
        "posted",
        sent.answer.get("token"),
    )
    found = (
        account_tokens.get(row.debit_account_id),
        account_tokens.get(row.credit_account_id),
        row.amount_minor,
        row.description,
        row.kind,
        row.status,
        row.token,
    )
    if found != expected:
        findings.violate("stored unlike answered", f"{sent.token}: {found} != {expected}")


def _check_balances(journal: Journal, known: Known, snapshot: Snapshot, findings: Findings) -> None:
    """Each customer account holds its funding plus and minus the acknowledged transfers."""
    expected: dict[str, int] = defaultdict(int)
    for funding in known.fundings:
        if funding.target.startswith("acc-"):
            expected[funding.target] += funding.amount_minor
    for sent in journal.of_kind(Kind.TRANSFER):
        if sent.acknowledged:
            amount = parse_amount(sent.body["amount"], 2)
            expected[sent.body["origin_account"]] -= amount
            expected[sent.body["destination_account"]] += amount
    for account in snapshot.accounts.values():
        if account.kind != "customer":
            continue
        model = expected.pop(account.token, 0)
        if (account.balance_minor, account.pending_out_minor) != (model, 0):
            findings.violate(
                "balances wrong",
                f"{account.token}: {account.balance_minor} held {account.pending_out_minor}, "
                f"model {model}",
            )
    for token in expected:
        findings.violate("balances wrong", f"{token}: no such account")
    findings.figures["accounts checked"] = sum(
        account.kind == "customer" for account in snapshot.accounts.values()
    )


def _check_topups(
    journal: Journal,
    snapshot: Snapshot,
    stored: _Stored,
    merchant_id: int,
    operator_status: Callable[[str], str | None],
    findings: Findings,
) -> None:
    purchases = {
        row.idempotency_token: row
        for row in snapshot.purchases
        if row.client_id == merchant_id and row.kind == "topup"
    }
    for row in snapshot.purchases:
        if row.client_id != merchant_id or row.kind != "topup":
            findings.violate("unknown purchases", row.token)
    for sent in journal.of_kind(Kind.TOPUP):
        findings.figures["top-ups sent"] += 1
        if sent.retried_after_no_answer:
            findings.figures["top-ups retried after no answer"] += 1
        _check_topup(sent, purchases.pop(sent.token, None), stored, findings)
    for token in purchases:
        findings.violate("unknown purchases", token)
    for row in snapshot.purchases:
        if row.client_id == merchant_id and row.status in OPEN_STATUSES:
            said = operator_status(row.token)
            if said is None or said in FINAL_ANSWERS:
                findings.violate("top-ups left open", f"{row.token} {row.status}, operator: {said}")
            else:
                findings.figures["top-ups open, operator still pending"] += 1
        elif row.client_id == merchant_id:
            findings.figures[f"top-ups {row.status}"] += 1


def _check_topup(sent: Sent, row: PurchaseRow | None, stored: _Stored, findings: Findings) -> None:
    """One top-up: its answer, its purchase, and the purchase's hold."""
    purchase = sent.purchase
    reused = sent.answer.get("field") == "idempotency_token"
    message = str(sent.answer.get("error_message", ""))
    # 409: the first attempt's purchase is still waiting for the operator (or its server
    # was killed meanwhile); 422 "Ya existe …": the operator's answer is recorded.
    duplicate = reused and (sent.status == 409 or message.startswith("Ya existe"))
    if sent.status == 402:
        if row is not None:
            findings.violate("refused but stored", f"top-up {sent.token} answered 402")
        return
    if purchase is None and not duplicate:
        findings.violate("unexpected answers", f"top-up {sent.token}: {sent.status}")
        return
    if duplicate and sent.attempts == 1:
        # Only a retry may find the purchase an earlier attempt made.
        findings.violate("unexpected answers", f"top-up {sent.token}: duplicate at once")
    if row is None:
        findings.violate("top-ups lost", f"{sent.token} answered {sent.status}")
        return
    answered = purchase.get("status") if purchase is not None else None
    if purchase is not None and purchase.get("token") != row.token:
        findings.violate("stored unlike answered", f"top-up {sent.token}: another purchase")
    if answered in ("authorized", "rejected") and row.status != answered:
        findings.violate("stored unlike answered", f"top-up {sent.token}: {row.status}")
    if row.amount != sent.body["amount"]:
        findings.violate("stored unlike answered", f"top-up {sent.token}: amount {row.amount}")
    holds = stored.holds.get(digest_key(sent.token), [])
    if [hold.id for hold in holds] != [row.hold_transfer_id]:
        findings.violate("duplicates", f"top-up {sent.token}: {len(holds)} holds")
        return
    settled = stored.settlements.get(row.hold_transfer_id, [])
    kinds = {"authorized": ["post_pending"], "rejected": ["void_pending"]}
    if [settlement.kind for settlement in settled] != kinds.get(row.status, []):
        findings.violate("stored unlike answered", f"top-up {sent.token}: hold vs {row.status}")


def _check_merchant(known: Known, snapshot: Snapshot, merchant_id: int, findings: Findings) -> None:
    """The merchant account: its funding less what was authorized, holding what is open."""
    funded = sum(
        funding.amount_minor
        for funding in known.fundings
        if funding.target == known.merchant_client
    )
    mine = [row for row in snapshot.purchases if row.client_id == merchant_id]
    paid = sum(row.amount * 100 for row in mine if row.status == "authorized")
    held = sum(row.amount * 100 for row in mine if row.status in OPEN_STATUSES)
    [account] = [
        account
        for account in snapshot.accounts.values()
        if account.kind == "merchant" and account.client_id == merchant_id
    ]
    if (account.balance_minor, account.pending_out_minor) != (funded - paid, held):
        findings.violate(
            "balances wrong",
            f"merchant {account.token}: {account.balance_minor} held "
            f"{account.pending_out_minor}, model {funded - paid} held {held}",
        )
