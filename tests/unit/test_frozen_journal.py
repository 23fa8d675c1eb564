"""Migration 0007's frozen copy of the hash rule hashes as the ledger's journal does."""

from __future__ import annotations

import importlib
from datetime import datetime
from typing import Any

import pytest

from caja.ledger import journal

frozen = importlib.import_module("caja.db.migrations.versions.0007_journal")

_MOMENT = datetime(2024, 5, 17, 9, 30, 0, 125000)


def _transfer(**changes: Any) -> list[Any]:
    fields: dict[str, Any] = {
        "token": "tx-1",
        "client_id": 3,
        "surface": "v1",
        "idempotency_key": "key-1",
        "request_digest": "d" * 64,
        "kind": "transfer",
        "status": "posted",
        "debit_account_id": 11,
        "credit_account_id": 12,
        "asset": "EUR",
        "amount_minor": 1050,
        "description": "rent, May",
        "pending_id": None,
        "reverses_id": None,
        "created_at": _MOMENT,
    }
    fields.update(changes)
    return [fields[name] for name in journal.HASHED_COLUMNS]


SAMPLES = [
    _transfer(),
    _transfer(created_at="2024-05-17 09:30:00.125000"),
    _transfer(created_at="2024-05-17 09:30:00"),
    _transfer(kind="pending", status="posted", idempotency_key=None, request_digest=None),
    _transfer(kind="pending", status="voided", description=None),
    _transfer(kind="post_pending", pending_id=7, description="Ünïcode ✓"),
    _transfer(kind="reversal", reverses_id=9, amount_minor=0),
]
ENTRIES = [[], [(11, -1050, 0)], [(11, -1050, 2000), (12, 1050, 1050)]]


def test_the_frozen_constants_are_the_ledgers() -> None:
    assert frozen.GENESIS == journal.GENESIS
    assert frozen.HASHED_COLUMNS == journal.HASHED_COLUMNS


@pytest.mark.parametrize("stored", SAMPLES)
@pytest.mark.parametrize("entries", ENTRIES)
def test_the_frozen_hash_is_the_ledgers(stored: list[Any], entries: list[Any]) -> None:
    for prev_hash in (journal.GENESIS, "a" * 64):
        assert frozen.as_written(stored) == journal.as_written(stored)
        assert frozen.transfer_hash(
            prev_hash, frozen.as_written(stored), entries
        ) == journal.transfer_hash(prev_hash, journal.as_written(stored), entries)
