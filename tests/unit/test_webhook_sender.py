"""The runner's sender process: it sends what it is handed, signed, and answers what each
attempt got and the CPU it took; it runs at a lower priority than the runner; a dead
sender fails its batch and the next batch starts a new one; closing it ends it. And how
long the runner rests after a round: the more crowded the cores, the longer."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from caja.config import WebhookSettings
from caja.webhooks import crowding, runner
from caja.webhooks.crowding import Crowding
from caja.webhooks.delivery import Message
from caja.webhooks.sender import NICE, Sender, SenderGone
from tests.webhook_receiver import Answer, Receiver

pytestmark = pytest.mark.anyio

SETTINGS = WebhookSettings(
    retry_schedule=(1.0,),
    allow_private=True,
    timeout=2.0,
    poll=0.02,
    runner="off",
    concurrency=4,
)
SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _messages(url: str, count: int) -> list[Message]:
    return [
        Message(n, url, (SECRET,), f"evt_{n}", f'{{"id": "evt_{n}", "n": {n}}}'.encode())
        for n in range(count)
    ]


async def test_the_sender_sends_signed_and_answers_each() -> None:
    with Receiver([Answer(200), Answer(500, body=b"down"), Answer(410)]) as receiver:
        receiver.secrets.append(SECRET)
        sender = Sender(SETTINGS, bound=10.0)
        try:
            batches = [
                await sender.send(_messages(receiver.url, 3)[part])
                for part in (slice(0, 1), slice(1, 2), slice(2, 3))
            ]
            answers = [answer for sent in batches for answer in sent.answers]
            child = sender._child
            assert child is not None
            lower = os.getpriority(os.PRIO_PROCESS, child.pid) - os.getpriority(os.PRIO_PROCESS, 0)
        finally:
            await sender.close()

    assert [a.key for a in answers] == [0, 1, 2]
    assert [a.status_code for a in answers] == [200, 500, 410]
    assert [a.delivered for a in answers] == [True, False, False]
    assert answers[1].response == "down"
    assert all(r.verified_with == (SECRET,) for r in receiver.requests)
    assert sorted(r.webhook_id for r in receiver.requests) == ["evt_0", "evt_1", "evt_2"]
    assert lower == min(NICE, 19 - os.getpriority(os.PRIO_PROCESS, 0))
    assert child.returncode == 0
    assert all(sent.cpu_seconds >= 0 for sent in batches)


async def test_a_refused_connection_is_an_answer_not_a_failure() -> None:
    sender = Sender(SETTINGS, bound=10.0)
    try:
        [answer] = (await sender.send(_messages("http://127.0.0.1:9/hook", 1))).answers
    finally:
        await sender.close()
    assert answer.status_code is None
    assert answer.error is not None
    assert answer.error.startswith("could not connect")


async def test_a_dead_sender_fails_its_batch_and_the_next_starts_another() -> None:
    with Receiver() as receiver:
        sender = Sender(SETTINGS, bound=10.0)
        try:
            await sender.send([])
            first = sender._child
            assert first is not None
            os.kill(first.pid, signal.SIGKILL)
            with pytest.raises(SenderGone):
                await sender.send(_messages(receiver.url, 1))
            [answer] = (await sender.send(_messages(receiver.url, 1))).answers
            second = sender._child
        finally:
            await sender.close()
    assert second is not None
    assert second.pid != first.pid
    assert answer.delivered


async def test_a_stuck_sender_is_given_up_after_its_bound() -> None:
    with Receiver([Answer(200, delay=3.0)]) as receiver:
        sender = Sender(SETTINGS, bound=0.5)
        try:
            with pytest.raises(SenderGone):
                await sender.send(_messages(receiver.url, 1))
            assert sender._child is None
        finally:
            await sender.close()


def _pressure(path: Path, stalled_micros: int) -> None:
    path.write_text(
        f"some avg10=0.00 avg60=0.00 avg300=0.00 total={stalled_micros}\n"
        "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
    )


def test_the_runner_rests_the_more_the_more_crowded_the_cores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = iter([100.0, 101.0, 102.0, 103.0])
    monkeypatch.setattr(crowding.time, "monotonic", lambda: next(clock))
    found = tmp_path / "cpu"
    measured = Crowding(found)
    done = runner.Round(events=1, busy_seconds=0.05)
    rests = []
    # Unknown at first: the worst is assumed. Then no task waited for a core in the
    # second since; then a quarter of it; then all of it.
    for stalled in (5_000_000, 5_000_000, 5_250_000, 6_250_000):
        _pressure(found, stalled)
        rests.append(runner.rest_after(done, measured))
    full = 0.05 * runner.PACE
    assert rests == pytest.approx([full, 0.0, full / 2, full])


def test_without_pressure_figures_the_load_average_tells(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(crowding.os, "getloadavg", lambda: (1.0, 1.0, 1.0))
    monkeypatch.setattr(crowding.os, "cpu_count", lambda: 2)
    measured = Crowding(tmp_path / "missing")
    done = runner.Round(attempted=1, busy_seconds=0.1)
    assert runner.rest_after(done, measured) == pytest.approx(0.1 * runner.PACE / 2)
