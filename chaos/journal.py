"""What the clients sent and what they were answered: the record the database is checked
against once the run is over.

A request is sent again, with the same token and the same body, until it gets an answer
that ends it. No answer at all (the connection broke, or it timed out) and a 5XX that
says nothing was done end nothing; every other answer does. Which answers a client
should act on follows docs/ledger-api.md and docs/topup-api.md, "Retrying".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["Journal", "Kind", "Sent", "ends_request"]


class Kind(StrEnum):
    TRANSFER = "transfer"
    TOPUP = "topup"
    DEPOSIT = "deposit"  # a deposit transfer between two deposit accounts
    WALLET = "wallet"  # a wallet send: no idempotency key, so never sent twice


@dataclass(slots=True)
class Sent:
    """One logical request: its token and body, never changed, and how it went."""

    kind: Kind
    token: str
    body: dict[str, Any]
    attempts: int = 0
    # Attempts that got no answer: a broken connection or a timeout.
    no_answer: int = 0
    # 5XX answers that did nothing, sent again.
    server_errors: int = 0
    # The answer that ended it, once there is one.
    status: int | None = None
    answer: dict[str, Any] = field(default_factory=dict)

    @property
    def acknowledged(self) -> bool:
        """A transfer the server said it made (201) or had made (208); a wallet send
        answered ``{"code": 200}``."""
        if self.kind is Kind.WALLET:
            return self.status == 200 and self.answer.get("code") == 200
        return self.kind in (Kind.TRANSFER, Kind.DEPOSIT) and self.status in (201, 208)

    @property
    def unknown(self) -> bool:
        """A wallet send without an answer, or answered 5XX: it may have been made."""
        return self.kind is Kind.WALLET and (self.status is None or self.status >= 500)

    @property
    def purchase(self) -> dict[str, Any] | None:
        """The purchase a top-up's answer carries, if it carries one."""
        if self.kind is Kind.TOPUP and "token" in self.answer:
            return self.answer
        return None

    @property
    def retried_after_no_answer(self) -> bool:
        return self.no_answer > 0


def ends_request(kind: Kind, status: int, body: dict[str, Any]) -> bool:
    """Whether an answer ends a request, or the same request must be sent again.

    Ledger and deposit transfers: 503 (nothing was changed) and 500 (an unexpected error)
    are sent again with the same token; a retry of a transfer that was in fact made
    answers 208. Wallet sends carry no idempotency key: any answer ends them (a 5XX is an
    unknown outcome, resolved from the database at the end, never sent again).
    Top-ups: a 500 that is an error body (caja failed; not a purchase the operator
    failed) is sent again; a retry of a recorded purchase answers 409 or 422.
    """
    if status < 500 or kind is Kind.WALLET:
        return True
    if kind is Kind.TOPUP:
        # 500, 502 and 503 carrying a purchase report what the operator did with it.
        return "token" in body
    return False


@dataclass(slots=True)
class Journal:
    """Every request of one run, and the kills it survived."""

    requests: list[Sent] = field(default_factory=list)
    kills: int = 0
    # From each kill to the next server answering /healthz, summed (shown, not judged).
    down_seconds: float = 0.0

    def add(self, kind: Kind, token: str, body: dict[str, Any]) -> Sent:
        sent = Sent(kind, token, body)
        self.requests.append(sent)
        return sent

    def of_kind(self, kind: Kind) -> list[Sent]:
        return [sent for sent in self.requests if sent.kind is kind]
