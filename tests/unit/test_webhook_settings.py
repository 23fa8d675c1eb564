"""The webhook runner's settings: defaults, and bad values refused in one line."""

from __future__ import annotations

import pytest

from caja.config import DEFAULT_RETRY_SCHEDULE, webhook_settings


def test_the_defaults_retry_for_more_than_a_day(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RETRY_SCHEDULE", "ALLOW_PRIVATE", "TIMEOUT_SECONDS", "POLL_SECONDS", "RUNNER"):
        monkeypatch.delenv(f"CAJA_WEBHOOKS_{name}", raising=False)
    settings = webhook_settings()
    assert settings.retry_schedule == DEFAULT_RETRY_SCHEDULE
    assert sum(settings.retry_schedule) * 0.9 > 24 * 3600
    assert settings.timeout == 10
    assert settings.runner == "process"
    assert not settings.allow_private


def test_values_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAJA_WEBHOOKS_RETRY_SCHEDULE", "0.05, 0.5,2")
    monkeypatch.setenv("CAJA_WEBHOOKS_ALLOW_PRIVATE", "1")
    monkeypatch.setenv("CAJA_WEBHOOKS_TIMEOUT_SECONDS", "0.5")
    monkeypatch.setenv("CAJA_WEBHOOKS_RUNNER", "off")
    settings = webhook_settings()
    assert settings.retry_schedule == (0.05, 0.5, 2.0)
    assert settings.allow_private
    assert settings.timeout == 0.5
    assert settings.runner == "off"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CAJA_WEBHOOKS_RETRY_SCHEDULE", "5,,300"),
        ("CAJA_WEBHOOKS_RETRY_SCHEDULE", "-1"),
        ("CAJA_WEBHOOKS_TIMEOUT_SECONDS", "0"),
        ("CAJA_WEBHOOKS_POLL_SECONDS", "soon"),
        ("CAJA_WEBHOOKS_RUNNER", "thread"),
        ("CAJA_WEBHOOKS_CONCURRENCY", "0"),
    ],
)
def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=name):
        webhook_settings()
