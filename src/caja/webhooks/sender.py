"""The runner's sender: a child process, at a lower priority, that makes the HTTP attempts
of the deliveries the runner claimed and tells it what each got.

The runner keeps the database work (short transactions, at the server's priority, so
that it never holds SQLite's write lock while the machine is too busy to run it); the
sender does what costs CPU, signing and HTTP, and only when the server leaves a core to
spare. They speak JSON lines over the sender's standard input and output: a list of
messages in, a list of answers out with the CPU time they took (the runner rests in
proportion to it). The sender ends when its input closes, which is
also what happens when the runner dies.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

import orjson

from caja.config import WebhookSettings
from caja.webhooks.delivery import Answer, Message, Sent, new_client, send_all

__all__ = ["NICE", "Sender", "SenderGone", "main"]

# How much lower than the runner's the sender's priority is.
NICE = 10
# A batch's JSON may be a few MB (events of a few KB each).
LINE_LIMIT = 256 * 1024 * 1024
# How long the sender may take to end once its input is closed.
STOP_SECONDS = 5.0


class SenderGone(RuntimeError):
    """The sender process ended or stopped answering; the batch's claims expire and its
    deliveries are tried again."""


def _encode_messages(messages: Sequence[Message]) -> bytes:
    return (
        orjson.dumps(
            [[m.key, m.url, list(m.secrets), m.webhook_id, m.body.decode()] for m in messages]
        )
        + b"\n"
    )


def _decode_messages(line: bytes) -> list[Message]:
    return [
        Message(key, url, tuple(secrets), webhook_id, body.encode())
        for key, url, secrets, webhook_id, body in orjson.loads(line)
    ]


def _encode_answers(sent: Sent) -> bytes:
    answers = [dataclasses.astuple(answer) for answer in sent.answers]
    return orjson.dumps([sent.cpu_seconds, answers]) + b"\n"


def _decode_answers(line: bytes) -> Sent:
    cpu_seconds, answers = orjson.loads(line)
    return Sent([Answer(*fields) for fields in answers], cpu_seconds)


class Sender:
    """The parent's side: starts the sender process when first needed (and again after
    it died), hands it batches and waits for their answers."""

    def __init__(self, settings: WebhookSettings, *, bound: float) -> None:
        self.settings = settings
        # How long a batch may take before the sender is taken for stuck.
        self.bound = bound
        self._child: asyncio.subprocess.Process | None = None

    async def send(self, messages: list[Message]) -> Sent:
        child = await self._started()
        assert child.stdin is not None
        assert child.stdout is not None
        try:
            child.stdin.write(_encode_messages(messages))
            await child.stdin.drain()
            async with asyncio.timeout(self.bound):
                line = await child.stdout.readline()
        except (OSError, TimeoutError) as error:
            await self.close()
            raise SenderGone(f"the webhook sender failed: {error!r}") from error
        if not line:
            await self.close()
            raise SenderGone("the webhook sender ended")
        return _decode_answers(line)

    async def _started(self) -> asyncio.subprocess.Process:
        if self._child is None or self._child.returncode is not None:
            settings = orjson.dumps(dataclasses.asdict(self.settings)).decode()
            self._child = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "caja.webhooks.sender",
                settings,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                limit=LINE_LIMIT,
            )
        return self._child

    async def close(self) -> None:
        """Close its input, so that it ends; killed if it has not within a few seconds."""
        child, self._child = self._child, None
        if child is None or child.returncode is not None:
            return
        assert child.stdin is not None
        child.stdin.close()
        try:
            async with asyncio.timeout(STOP_SECONDS):
                await child.wait()
        except TimeoutError:
            child.kill()
            await child.wait()


async def _serve(settings: WebhookSettings) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout.buffer
    async with new_client(settings) as client:
        while line := await reader.readline():
            out.write(_encode_answers(await send_all(client, _decode_messages(line), settings)))
            out.flush()


def _settings(raw: str) -> WebhookSettings:
    fields: dict[str, Any] = orjson.loads(raw)
    fields["retry_schedule"] = tuple(fields["retry_schedule"])
    return WebhookSettings(**fields)


def main(argv: Sequence[str]) -> None:
    """``python -m caja.webhooks.sender SETTINGS_JSON``: serve batches until the input
    closes. Ctrl-C reaches the runner, which closes it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.nice(NICE)
    asyncio.run(_serve(_settings(argv[1])))


if __name__ == "__main__":
    main(sys.argv)
