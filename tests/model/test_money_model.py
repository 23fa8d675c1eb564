"""Random sequences of operations on every surface that moves money, each answer compared
with an in-memory model (tests/model/model.py). After each step every account's balance
and held amount and every purchase's status must be the model's; every few steps and
after the last, all of ``caja.ledger.verify`` must pass.

The normal run tries a small, fixed number of short sequences on each database. A longer
run is one command away, with the profile named by ``CAJA_MODEL_PROFILE``:

    CAJA_MODEL_PROFILE=long .venv/bin/pytest -n 0 tests/model

``ci`` (the default) and ``long`` (ten times the sequences, each longer) are below.
Hypothesis keeps the failures it found in ``.hypothesis/`` and tries them first next time.
"""

from __future__ import annotations

import os
import time

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from caja.deposits import service as deposits
from caja.ledger import store
from tests.conftest import Backend
from tests.model.base import OUTCOMES
from tests.model.deposit_rules import DepositRules
from tests.model.ledger_rules import LedgerRules
from tests.model.topup_rules import TopupRules
from tests.model.world import MonthClock

_COMMON = settings(
    deadline=None,
    # One example opens a database and runs tens of requests: slow by design.
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
PROFILES = {
    "ci": settings(_COMMON, max_examples=15, stateful_step_count=30),
    "long": settings(_COMMON, max_examples=150, stateful_step_count=60),
}
# Deposit limits in whole pesos, low enough that the sequences reach each of them: money
# out within a few transfers, the balance cap, and the month's money in once money has
# also gone out.
DEPOSIT_LIMITS = {
    "CAJA_DEPOSIT_MONTHLY_IN": "4000",
    "CAJA_DEPOSIT_MONTHLY_OUT": "1500",
    "CAJA_DEPOSIT_MAX_BALANCE": "3000",
}


class MoneyMachine(LedgerRules, TopupRules, DepositRules):
    """Every surface's rules on one ledger, so that their movements interleave."""


def test_every_answer_and_balance_follows_the_model(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAJA_ACCESS_LOG", "0")
    for name, value in DEPOSIT_LIMITS.items():
        monkeypatch.setenv(name, value)
    clock = MonthClock()
    monkeypatch.setattr(store, "fixed_clock", clock)
    monkeypatch.setattr(deposits, "utcnow", clock)
    profile = PROFILES[os.environ.get("CAJA_MODEL_PROFILE", "ci")]
    OUTCOMES.clear()
    started = time.perf_counter()
    monkeypatch.setattr(MoneyMachine, "backend", backend, raising=False)
    run_state_machine_as_test(MoneyMachine, settings=profile)
    # Shown with -s (or -rP): what the run covered, for whoever runs the long profile.
    print(f"\n{backend.kind}: {time.perf_counter() - started:.1f} s")
    for what, count in sorted(OUTCOMES.items()):
        print(f"  {count:6d}  {what}")
