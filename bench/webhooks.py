"""The webhook modes: the spread workload with an endpoint subscribed to every transfer,
one answering 200 (``webhook-200``) and one dead (``webhook-dead``), measured in the same
run as ``spread`` without webhooks, in interleaved rounds."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from bench.load import HOOK_DEAD, HOOK_OK
from bench.programs import free_port
from bench.server import STOP_TIMEOUT_SECONDS, ProcessGroup
from caja.clients.service import authenticate
from caja.db.engine import Database
from caja.webhooks import service
from caja.webhooks.stats import endpoint_counts

__all__ = ["HOOK_DEAD", "HOOK_OK", "WEBHOOK_WORKLOADS", "Hooks"]

WEBHOOK_WORKLOADS = (HOOK_OK, HOOK_DEAD)
EVENT = "ledger.transfer.created"
READY_SECONDS = 30.0
NOTE = (
    f"{HOOK_OK}: spread with an endpoint subscribed to every transfer, answering 200: "
    "`python -m bench.receiver`, a process of its own at nice 10 (a real endpoint is "
    "another machine's and would not take our cores); "
    f"{HOOK_DEAD}: the same with the endpoint on a closed 127.0.0.1 port (refused, retried "
    "on the default schedule). Deliveries are counted right after each run; the runner is "
    "the server's child process, its sender the runner's (nice 10). Each is compared with "
    "spread run in the same interleaved rounds"
)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


async def _add(url: str, api_key: str, target: str) -> str:
    database = Database(url)
    try:
        principal = await authenticate(database, api_key)
        assert principal is not None

        def add(connection: Any) -> str:
            created = service.add_endpoint(
                connection, principal.client_id, target, [EVENT], allow_private=True
            )
            return created.endpoint.token

        return await database.write(add)
    finally:
        await database.dispose()


async def _counts_and_remove(url: str, token: str) -> dict[str, int]:
    database = Database(url)
    try:
        async with database.read() as connection:
            found = await connection.run_sync(lambda c: service.endpoint(c, token).id)
            counted = (await connection.run_sync(endpoint_counts, [found]))[found]
        counts = {
            "delivered": counted.delivered,
            "pending": counted.pending,
            "failed": counted.failed,
        }
        await database.write(lambda connection: service.remove_endpoint(connection, token))
        return counts
    finally:
        await database.dispose()


class Hooks:
    """The receiver process, and the endpoint of the mode being measured."""

    def __init__(self, database_url: str, api_key: str, log_path: Path) -> None:
        self.database_url = database_url
        self.api_key = api_key
        self.log_path = log_path
        self.port = free_port()
        self._receiver: ProcessGroup | None = None
        self._endpoint: str | None = None

    def __enter__(self) -> Hooks:
        command = [sys.executable, "-m", "bench.receiver", str(self.port)]
        self._receiver = ProcessGroup(command, dict(os.environ), self.log_path)
        deadline = time.monotonic() + READY_SECONDS
        while not _listening(self.port):
            if self._receiver.exited() or time.monotonic() > deadline:
                raise RuntimeError(f"the webhook receiver did not start; log: {self.log_path}")
            time.sleep(0.1)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._receiver is not None:
            self._receiver.stop(STOP_TIMEOUT_SECONDS)
            self._receiver = None

    def attach(self, workload: str) -> None:
        """An endpoint for ``workload``'s run: the receiver, or a closed port."""
        target = f"http://127.0.0.1:{self.port if workload == HOOK_OK else free_port()}/hook"
        self._endpoint = asyncio.run(_add(self.database_url, self.api_key, target))

    def detach(self) -> dict[str, int]:
        """The run's deliveries by status; then the endpoint is removed (its pending
        deliveries fail), so that the next run starts clean."""
        assert self._endpoint is not None
        counts = asyncio.run(_counts_and_remove(self.database_url, self._endpoint))
        self._endpoint = None
        return counts
