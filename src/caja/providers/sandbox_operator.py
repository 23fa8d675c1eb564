"""A mobile operator simulator that obeys the test numbers of the gateway's API document.

It speaks the protocol of :mod:`caja.providers.operator`. Each purchase it receives is
recorded under its reference with the final status a later status query answers; the
first answer depends on the destination number:

=========== ======= ================================== ==============================
kind        number  first answer                       final status (status query)
=========== ======= ================================== ==============================
topup       3110002222 HTTP 504 (upstream timeout)     approved
topup       3110003333 HTTP 500 (internal error)       rejected
topup       3110004444 duplicate (being processed)     approved
topup       3110005555 rejected                        rejected
package     3110007777 pending (being processed)       approved
package     3110006666 HTTP 504 (communication issue)  rejected
package     3110000000 rejected                        rejected
any         other      approved                        approved
=========== ======= ================================== ==============================

A purchase sent again with the same reference gets its recorded answer. Two control
endpoints serve tests of faults: ``PUT /control/purchases/{reference}`` sets the status a
later query answers, and ``PUT /control/faults`` makes every purchase wait
``delay_ms`` before answering (it is recorded first, as a slow real operator would) or
answer ``fail_status`` without being recorded (an operator that is down).
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["SandboxOperator", "create_sandbox_app"]

# number -> (first answer: a status or an HTTP error code, final status)
TOPUP_NUMBERS: dict[str, tuple[str | int, str]] = {
    "3110002222": (504, "approved"),
    "3110003333": (500, "rejected"),
    "3110004444": ("duplicate", "approved"),
    "3110005555": ("rejected", "rejected"),
}
PACKAGE_NUMBERS: dict[str, tuple[str | int, str]] = {
    "3110007777": ("pending", "approved"),
    "3110006666": (504, "rejected"),
    "3110000000": ("rejected", "rejected"),
}
RESULT_CODES = {"approved": 0, "pending": 1, "duplicate": 2, "rejected": 5}
FINAL_STATUSES = ("approved", "rejected", "pending")


@dataclass(slots=True)
class _Record:
    first: str | int
    status: str
    operator_reference: str
    auth_code: str | None = None


@dataclass(slots=True)
class SandboxOperator:
    """The simulator's memory: what it received, and the faults it is told to show."""

    records: dict[str, _Record] = field(default_factory=dict)
    delay_ms: int = 0
    fail_status: int | None = None
    _serial: itertools.count[int] = field(default_factory=lambda: itertools.count(526268936))

    def receive(self, body: dict[str, Any]) -> _Record:
        reference = str(body["reference"])
        record = self.records.get(reference)
        if record is None:
            table = PACKAGE_NUMBERS if body.get("kind") == "package" else TOPUP_NUMBERS
            first, final = table.get(str(body.get("destination_number")), ("approved", "approved"))
            serial = next(self._serial)
            record = _Record(first, final, f"gw-{serial}")
            self.records[reference] = record
        return record

    def body(self, record: _Record, status: str) -> dict[str, Any]:
        if status == "approved" and record.auth_code is None:
            record.auth_code = record.operator_reference.removeprefix("gw-")
        return {
            "status": status,
            "result_code": RESULT_CODES[status],
            "auth_code": record.auth_code if status == "approved" else None,
            "operator_reference": record.operator_reference,
        }


@dataclass(frozen=True, slots=True)
class _Endpoints:
    """The simulator's HTTP endpoints, over one :class:`SandboxOperator`."""

    state: SandboxOperator

    async def purchase(self, request: Request) -> Response:
        state = self.state
        body = await request.json()
        if not isinstance(body, dict) or not body.get("reference"):
            return JSONResponse({"error": "reference is required"}, 400)
        if state.fail_status is not None:
            return JSONResponse({"error": "operator unavailable"}, state.fail_status)
        record = state.receive(body)
        if state.delay_ms:
            await asyncio.sleep(state.delay_ms / 1000)
        if isinstance(record.first, int):
            return JSONResponse({"error": "operator error"}, record.first)
        return JSONResponse(state.body(record, record.first))

    async def status(self, request: Request) -> Response:
        record = self.state.records.get(request.path_params["reference"])
        if record is None:
            return JSONResponse({"error": "unknown reference"}, 404)
        return JSONResponse(self.state.body(record, record.status))

    async def set_status(self, request: Request) -> Response:
        body = await request.json()
        record = self.state.records.get(request.path_params["reference"])
        if record is None:
            return JSONResponse({"error": "unknown reference"}, 404)
        if not isinstance(body, dict) or body.get("status") not in FINAL_STATUSES:
            return JSONResponse({"error": f"status must be one of {FINAL_STATUSES}"}, 400)
        record.status = body["status"]
        return JSONResponse(self.state.body(record, record.status))

    async def set_faults(self, request: Request) -> Response:
        body = await request.json()
        delay = body.get("delay_ms", 0) if isinstance(body, dict) else None
        fail = body.get("fail_status") if isinstance(body, dict) else None
        if not isinstance(delay, int) or delay < 0 or not (fail is None or isinstance(fail, int)):
            return JSONResponse({"error": "delay_ms >= 0 and fail_status an int or null"}, 400)
        self.state.delay_ms, self.state.fail_status = delay, fail
        return JSONResponse({"delay_ms": delay, "fail_status": fail})


def create_sandbox_app(sandbox: SandboxOperator | None = None) -> Starlette:
    endpoints = _Endpoints(sandbox if sandbox is not None else SandboxOperator())
    return Starlette(
        routes=[
            Route("/purchases", endpoints.purchase, methods=["POST"]),
            Route("/purchases/{reference}", endpoints.status, methods=["GET"]),
            Route("/control/purchases/{reference}", endpoints.set_status, methods=["PUT"]),
            Route("/control/faults", endpoints.set_faults, methods=["PUT"]),
        ]
    )
