"""A webhook receiver for tests: a real HTTP server on 127.0.0.1, in a thread, that answers
from a script (status codes and delays), records every request, and checks each one's
signature with the ``standardwebhooks`` library against the secrets it is given."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

__all__ = ["Answer", "Received", "Receiver", "scripted"]


@dataclass(frozen=True, slots=True)
class Answer:
    """What the receiver answers one request with: a status after a delay (seconds)."""

    status: int = 200
    delay: float = 0.0
    body: bytes = b"ok"


@dataclass(frozen=True, slots=True)
class Received:
    headers: dict[str, str]
    body: bytes
    # The secrets (of those the receiver knows) whose signature verified.
    verified_with: tuple[str, ...]
    answered: int

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class Receiver:
    """``with Receiver([Answer(500), 503, …]) as receiver:``; after the script, 200."""

    answers: Iterable[Answer | int] = ()
    secrets: list[str] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._script = [a if isinstance(a, Answer) else Answer(a) for a in self.answers]
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks"

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _error: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next(self) -> Answer:
        with self._lock:
            return self._script.pop(0) if self._script else Answer()

    def _verified(self, body: bytes, headers: dict[str, str]) -> tuple[str, ...]:
        good = []
        for secret in list(self.secrets):
            try:
                Webhook(secret).verify(body, headers)
            except WebhookVerificationError:
                continue
            good.append(secret)
        return tuple(good)

    def _record(self, body: bytes, headers: dict[str, str], answered: int) -> None:
        received = Received(headers, body, self._verified(body, headers), answered)
        with self._arrived:
            self.requests.append(received)
            self._arrived.notify_all()

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Received]:
        """The requests once at least ``count`` have arrived; fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"{len(self.requests)} of {count} requests arrived"
                self._arrived.wait(left)
            return list(self.requests)

    def ids(self) -> list[str]:
        with self._lock:
            return [received.webhook_id for received in self.requests]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {name.lower(): value for name, value in self.headers.items()}
                answer = receiver._next()
                receiver._record(body, headers, answer.status)
                if answer.delay:
                    time.sleep(answer.delay)
                try:
                    self.send_response(answer.status)
                    self.send_header("content-length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                except OSError:  # the runner gave up waiting
                    pass

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


def scripted(*statuses: int) -> Sequence[Answer]:
    return [Answer(status) for status in statuses]
