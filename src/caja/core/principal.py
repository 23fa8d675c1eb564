"""Who is calling: the value an API key stands for, shared by the clients and the ledger."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Principal"]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a client, or (legacy ledger) one account of a client."""

    client_id: int
    client_token: str
    scopes: frozenset[str]
    account_id: int | None = None

    def has(self, scope: str) -> bool:
        if scope == "ledger" and "ledger:admin" in self.scopes:
            return True
        return scope in self.scopes
