"""The mobile operator gateway: send a top-up or package purchase, ask for its status.

The server talks to the operator over HTTP (:class:`HttpOperator`); the sandbox operator
(:mod:`caja.providers.sandbox_operator`) speaks the same protocol:

* ``POST {base}/purchases`` with the purchase as JSON answers 200 with
  ``{"status": "approved" | "rejected" | "pending" | "duplicate", "result_code",
  "auth_code", "operator_reference"}``; any other status is an error of the operator's.
* ``GET {base}/purchases/{reference}`` answers the same body, or 404 when the operator
  never received that reference.

No answer within the timeout, or no connection at all, is :attr:`Outcome.NO_ANSWER`:
the purchase may or may not have been performed, never a rejection.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, Protocol

import httpx

__all__ = ["Answer", "HttpOperator", "OperatorGateway", "Outcome", "PurchaseRequest"]

log = logging.getLogger("caja.operator")


class Outcome(StrEnum):
    AUTHORIZED = "authorized"  # performed
    REJECTED = "rejected"  # refused; nothing was performed
    PENDING = "pending"  # accepted, still being processed
    DUPLICATE = "duplicate"  # another request with this reference is being processed
    FAILED = "failed"  # the operator answered with an error: performed or not, unknown
    NO_ANSWER = "no_answer"  # timed out or unreachable: performed or not, unknown
    NOT_FOUND = "not_found"  # (status only) the operator never received the reference


_STATUSES = {
    "approved": Outcome.AUTHORIZED,
    "rejected": Outcome.REJECTED,
    "pending": Outcome.PENDING,
    "duplicate": Outcome.DUPLICATE,
}


@dataclass(frozen=True, slots=True)
class Answer:
    outcome: Outcome
    result_code: int | None = None
    auth_code: str | None = None
    operator_reference: str | None = None

    @property
    def final(self) -> bool:
        return self.outcome in (Outcome.AUTHORIZED, Outcome.REJECTED)


@dataclass(frozen=True, slots=True)
class PurchaseRequest:
    """What the operator is asked to do; ``reference`` is our purchase token."""

    reference: str
    kind: str  # topup | package
    destination_number: str
    amount: int  # whole pesos
    operator: str | None = None  # top-ups: the operator's slug
    provider_code: str | None = None  # packages
    package_code: str | None = None


class OperatorGateway(Protocol):
    async def send(self, request: PurchaseRequest) -> Answer: ...

    async def status(self, reference: str) -> Answer: ...

    async def close(self) -> None: ...


def _answer(body: Any) -> Answer:
    if not isinstance(body, dict) or body.get("status") not in _STATUSES:
        return Answer(Outcome.FAILED)
    code = body.get("result_code")
    auth = body.get("auth_code")
    reference = body.get("operator_reference")
    return Answer(
        _STATUSES[body["status"]],
        code if isinstance(code, int) and not isinstance(code, bool) else None,
        str(auth) if auth is not None else None,
        str(reference) if reference is not None else None,
    )


class HttpOperator:
    """The operator at ``base_url``; every call gives up after ``timeout`` seconds."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.timeout = timeout
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=timeout, transport=transport
        )

    async def _call(self, method: str, path: str, body: dict[str, Any] | None) -> Answer:
        try:
            async with asyncio.timeout(self.timeout):
                response = await self._client.request(method, path, json=body)
        except (TimeoutError, httpx.TransportError) as error:
            log.warning("operator %s %s: no answer (%s)", method, path, type(error).__name__)
            return Answer(Outcome.NO_ANSWER)
        if response.status_code == 404 and method == "GET":
            return Answer(Outcome.NOT_FOUND)
        if response.status_code == 504:  # the operator's own upstream timed out
            return Answer(Outcome.NO_ANSWER)
        if response.status_code != 200:
            log.warning("operator %s %s: HTTP %d", method, path, response.status_code)
            return Answer(Outcome.FAILED)
        try:
            return _answer(response.json())
        except ValueError:
            return Answer(Outcome.FAILED)

    async def send(self, request: PurchaseRequest) -> Answer:
        return await self._call("POST", "/purchases", asdict(request))

    async def status(self, reference: str) -> Answer:
        return await self._call("GET", f"/purchases/{reference}", None)

    async def close(self) -> None:
        await self._client.aclose()
