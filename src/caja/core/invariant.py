"""Checks that stay on under ``python -O``, unlike ``assert``."""

from __future__ import annotations

__all__ = ["InvariantBroken", "invariant"]


class InvariantBroken(AssertionError):
    """A condition the code relies on did not hold: a bug, never a client's mistake."""


def invariant(condition: bool, statement: str) -> None:
    if not condition:
        raise InvariantBroken(statement)
