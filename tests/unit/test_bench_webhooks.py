"""The bench's webhook lines: each webhook run against spread, the mean of spread before
and after the webhook runs when both were measured."""

from __future__ import annotations

from bench.run import _to_spread


def test_a_webhook_run_is_compared_with_the_mean_of_spread_around_it() -> None:
    line = _to_spread(3600.0, [4200.0, 3800.0])
    assert line.startswith("0.90 x spread (the mean of 4200/s and 3800/s")


def test_with_one_spread_it_is_compared_with_that_one() -> None:
    assert _to_spread(3600.0, [4000.0]) == "0.90 x spread (4000/s)"


def test_without_spread_there_is_no_ratio() -> None:
    assert _to_spread(3600.0, []) == "spread not run"
    assert _to_spread(3600.0, [0.0]) == "spread not run"
