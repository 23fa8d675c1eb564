"""OpenAPI documentation of the ops console's API: its answers and their examples.

The routes answer with plain JSON (``json_response``); the models here only describe it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, RootModel

from caja.api.openapi import Responses, documented

__all__ = [
    "ACCOUNT",
    "AUDIT",
    "DELIVERIES",
    "DELIVERY",
    "ENABLE",
    "ENTRIES",
    "PURCHASES",
    "RECONCILE",
    "REPLAY",
    "SEARCH",
    "SUMMARY",
    "TRANSFER",
    "TRANSFERS",
    "VERIFY_LAST",
    "VERIFY_RUN",
    "WEBHOOKS",
    "AdminErrorOut",
]

_AT = "2026-12-06T15:04:05.123456Z"
_TX = "tx-3f1c9a0e6b2d4c8f9a1b2c3d4e5f6a7b"
_ACC = "acc-9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a"
_ACC2 = "acc-1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d"


class AdminErrorOut(BaseModel):
    """The console API's error body: the status again as ``code``, one message in ``msg``."""

    code: int
    msg: list[str]


class Page(BaseModel):
    next_cursor: str | None = Field(
        description="Give it as `cursor` for the next page; null on the last page."
    )


class TransferOut(BaseModel):
    token: str
    surface: str = Field(description="ledger_v1, ledger_v0, topup, deposit, wallet, funding…")
    kind: str = Field(description="standard, pending, post_pending, void_pending, reversal")
    created_at: str
    from_account: str
    to_account: str
    amount: str = Field(description="A decimal string in the asset's units.")
    amount_minor: int
    asset: str
    status: Literal["posted", "pending", "voided"]
    description: str


class TransferPage(Page):
    data: list[TransferOut]


class EntryOut(BaseModel):
    account: str
    side: Literal["debit", "credit"]
    amount: str = Field(description="Signed: negative for the debited account.")
    amount_minor: int
    balance: str = Field(description="The account's running balance after this entry.")
    balance_minor: int


class TransferDetailOut(TransferOut):
    client: dict[str, Any] | None
    entries: list[EntryOut]
    hold: dict[str, Any] | None = Field(
        description="The hold this transfer is or resolves, and its resolution."
    )
    reversal: dict[str, Any]
    purchase: dict[str, Any] | None
    deposit: dict[str, Any] | None
    journal: dict[str, Any]


class PointOut(BaseModel):
    at: str
    balance: str


class AccountOut(BaseModel):
    token: str
    kind: str
    asset: str
    client: dict[str, Any] | None
    phone_number: str | None
    balance: str
    balance_minor: int
    pending_out: str
    available: str
    overdraft: str | None
    history: list[PointOut] = Field(
        description="The running balance over time, oldest first, at most about 200 points."
    )


class StatementLineOut(BaseModel):
    transfer: str
    created_at: str
    surface: str
    kind: str
    description: str
    amount: str
    amount_minor: int
    balance: str
    balance_minor: int


class StatementPage(Page):
    data: list[StatementLineOut]


class PurchaseOut(BaseModel):
    token: str
    kind: Literal["topup", "package"]
    status: str
    reference: str = Field(description="The merchant's idempotency_token.")
    destination_number: str
    operator: str | None
    package_code: str | None
    amount: int = Field(description="Whole pesos.")
    created_at: str
    updated_at: str


class PurchasePage(Page):
    data: list[PurchaseOut]


class ReconciledOut(BaseModel):
    checked: int
    authorized: int
    rejected: int
    still_open: int


class CheckOut(BaseModel):
    name: str
    violations: int
    detail: list[str]


class VerifyOut(BaseModel):
    ran_at: str
    ok: bool
    violations: int
    transfers: int
    accounts: int | None = None
    entries: int | None = None
    last_hash: str | None = None
    checks: list[CheckOut] | None = None


class LastVerifyOut(RootModel[VerifyOut | None]):
    """The last run, or null when the checks never ran."""


class AuditOut(BaseModel):
    id: int
    at: str
    client: str
    client_name: str
    action: str
    parameters: dict[str, Any]


class AuditPage(Page):
    data: list[AuditOut]


class ResultOut(BaseModel):
    kind: Literal["transfer", "account", "client", "profile", "topup", "package", "deposit_account"]
    id: str
    label: str
    detail: dict[str, Any]


class SearchOut(BaseModel):
    results: list[ResultOut]


class ClientRefOut(BaseModel):
    id: str = Field(description="The client's id, `cli-…`.")
    name: str


class DisabledOut(BaseModel):
    id: str = Field(description="The endpoint's id, `we_…`.")
    client: ClientRefOut | None
    url: str
    reason: str | None
    since: str | None


class WebhookFiguresOut(BaseModel):
    disabled_endpoints: int
    pending_deliveries: int
    failed_deliveries: int
    disabled: list[DisabledOut] = Field(
        description="The disabled endpoints, latest first, at most 20."
    )


class SummaryOut(BaseModel):
    generated_at: str
    per_surface: list[dict[str, Any]]
    latest_transfers: list[dict[str, Any]]
    purchases_by_status: list[dict[str, Any]]
    deposit_accounts: int
    wallet_profiles: int
    moved_per_hour: list[dict[str, Any]]
    last_verify: dict[str, Any] | None
    webhooks: WebhookFiguresOut


class DeliveryCountsOut(BaseModel):
    pending: int
    failed: int
    delivered: int


class EndpointOut(BaseModel):
    id: str = Field(description="The endpoint's id, `we_…`.")
    client: ClientRefOut | None
    url: str
    event_types: list[str] | None = Field(description="The types it takes; null: every type.")
    enabled: bool
    disabled_reason: str | None = Field(
        description="Why it was disabled: its retries ran out, or it answered 410."
    )
    disabled_at: str | None
    created_at: str
    deliveries: DeliveryCountsOut
    last_attempt_at: str | None


class EndpointList(BaseModel):
    data: list[EndpointOut]


class DeliveryOut(BaseModel):
    id: int
    event_id: str = Field(description="The event's id, `evt_…` (the `webhook-id` header).")
    event_type: str
    endpoint: str
    client: ClientRefOut | None
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: str | None = Field(description="When it is tried next; null unless pending.")
    last_status_code: int | None
    last_error: str | None
    delivered_at: str | None
    created_at: str


class DeliveryPage(Page):
    data: list[DeliveryOut]


class AttemptOut(BaseModel):
    attempted_at: str
    status_code: int | None = Field(description="The answer's status; null when none came.")
    error: str | None = Field(description="A timeout, a refused connection…")
    response: str | None = Field(description="The start of the answer's body.")
    duration_ms: int


class DeliveryDetailOut(DeliveryOut):
    url: str | None
    attempt_history: list[AttemptOut] = Field(description="Every attempt, oldest first.")
    event: dict[str, Any] | None = Field(description="The event's JSON, as it is delivered.")


class ReplayOut(BaseModel):
    event_id: str
    deliveries: int = Field(description="The deliveries made: one per enabled endpoint.")


def _error(status: int, message: str, description: str) -> dict[str, Any]:
    return documented(AdminErrorOut, description, {"code": status, "msg": [message]})


_REFUSED: Responses = {
    401: _error(401, "an admin key is required", "No key, or an unknown or revoked one"),
    403: _error(403, "the key has no admin scope", "The key's client lacks the admin scope"),
}
_BAD: Responses = {
    400: _error(400, "limit: Input should be less than or equal to 500", "A bad parameter")
}


def _not_found(message: str, description: str) -> Responses:
    return {404: _error(404, message, description)}


def _ok(model: type[BaseModel], description: str, example: Any, *more: Responses) -> Responses:
    responses: Responses = {200: documented(model, description, example)}
    for extra in (_REFUSED, *more):
        responses.update(extra)
    return responses


def _csv(responses: Responses, header: str) -> Responses:
    """The list may also be answered as CSV (``format=csv`` or ``Accept: text/csv``)."""
    content = responses[200].setdefault("content", {})
    content["text/csv"] = {"schema": {"type": "string"}, "example": header + "\r\n"}
    return responses


_TRANSFER = {
    "token": _TX,
    "surface": "ledger_v1",
    "kind": "standard",
    "created_at": _AT,
    "from_account": _ACC,
    "to_account": _ACC2,
    "amount": "37500.00",
    "amount_minor": 3750000,
    "asset": "COP",
    "status": "posted",
    "description": "Pago arriendo",
}

TRANSFERS = _csv(
    _ok(TransferPage, "Transfers, newest first", {"data": [_TRANSFER], "next_cursor": "41"}, _BAD),
    "token,surface,kind,created_at,from_account,to_account,amount,amount_minor,asset,status,"
    "description",
)

TRANSFER = _ok(
    TransferDetailOut,
    "The transfer, its entries with running balances, what it is tied to",
    {
        **_TRANSFER,
        "client": {"id": "cli-5e6f7a8b9c0d", "name": "Acme Pagos"},
        "entries": [
            {
                "account": _ACC,
                "side": "debit",
                "amount": "-37500.00",
                "amount_minor": -3750000,
                "balance": "62500.00",
                "balance_minor": 6250000,
            },
            {
                "account": _ACC2,
                "side": "credit",
                "amount": "37500.00",
                "amount_minor": 3750000,
                "balance": "37500.00",
                "balance_minor": 3750000,
            },
        ],
        "hold": None,
        "reversal": {"reverses": None, "reversed_by": None},
        "purchase": None,
        "deposit": None,
        "journal": {"hash": "9f2c…e1", "prev_hash": "4b7a…03"},
    },
    _not_found("no such transfer", "No transfer has this token"),
)

ACCOUNT = _ok(
    AccountOut,
    "The account, its balances and its balance over time",
    {
        "token": _ACC,
        "kind": "customer",
        "asset": "COP",
        "client": {"id": "cli-5e6f7a8b9c0d", "name": "Acme Pagos"},
        "phone_number": "3001234567",
        "balance": "62500.00",
        "balance_minor": 6250000,
        "pending_out": "0.00",
        "available": "62500.00",
        "overdraft": "0.00",
        "history": [
            {"at": "2026-12-05T14:00:00.000000Z", "balance": "100000.00"},
            {"at": _AT, "balance": "62500.00"},
        ],
    },
    _not_found("no such account", "No account has this token"),
)

ENTRIES = _csv(
    _ok(
        StatementPage,
        "The account's entries, newest first, with running balances",
        {
            "data": [
                {
                    "transfer": _TX,
                    "created_at": _AT,
                    "surface": "ledger_v1",
                    "kind": "standard",
                    "description": "Pago arriendo",
                    "amount": "-37500.00",
                    "amount_minor": -3750000,
                    "balance": "62500.00",
                    "balance_minor": 6250000,
                }
            ],
            "next_cursor": None,
        },
        _BAD,
        _not_found("no such account", "No account has this token"),
    ),
    "transfer,created_at,surface,kind,description,amount,amount_minor,balance,balance_minor",
)

PURCHASES = _csv(
    _ok(
        PurchasePage,
        "Purchases, newest first",
        {
            "data": [
                {
                    "token": "tp-7c1d2e3f4a5b6c7d8e9f",
                    "kind": "topup",
                    "status": "authorized",
                    "reference": "idtk-0001",
                    "destination_number": "3110001111",
                    "operator": "etb",
                    "package_code": None,
                    "amount": 10000,
                    "created_at": _AT,
                    "updated_at": _AT,
                }
            ],
            "next_cursor": None,
        },
        _BAD,
    ),
    "token,kind,status,reference,destination_number,operator,package_code,amount,created_at,"
    "updated_at",
)

RECONCILE = _ok(
    ReconciledOut,
    "The open purchases asked about, and how they settled",
    {"checked": 2, "authorized": 1, "rejected": 0, "still_open": 1},
)

_REPORT = {
    "ran_at": _AT,
    "ok": True,
    "violations": 0,
    "transfers": 1204,
    "accounts": 310,
    "entries": 2380,
    "last_hash": "9f2c…e1",
    "checks": [
        {"name": "every balance equals the sum of its entries", "violations": 0, "detail": []}
    ],
}

VERIFY_RUN = _ok(VerifyOut, "The report of the checks, now recorded", _REPORT)

VERIFY_LAST = _ok(
    LastVerifyOut,
    "The last recorded run (null when the checks never ran)",
    _REPORT,
)

AUDIT = _ok(
    AuditPage,
    "Recorded actions, newest first",
    {
        "data": [
            {
                "id": 7,
                "at": _AT,
                "client": "cli-5e6f7a8b9c0d",
                "client_name": "ops",
                "action": "reconcile",
                "parameters": {"checked": 2, "authorized": 1, "rejected": 0, "still_open": 1},
            }
        ],
        "next_cursor": None,
    },
    _BAD,
)

SEARCH = _csv(
    _ok(
        SearchOut,
        "What the text names, at most 50 results",
        {
            "results": [
                {
                    "kind": "profile",
                    "id": "prf-2b3c4d5e6f7a",
                    "label": "Ana Gómez, phone 3001234567",
                    "detail": {"wallet_account": "wac-8d9e0f1a2b3c", "phone_number": "3001234567"},
                }
            ]
        },
        _BAD,
    ),
    "kind,id,label",
)

SUMMARY = _ok(
    SummaryOut,
    "The ops dashboard's figures",
    {
        "generated_at": _AT,
        "per_surface": [
            {"surface": "ledger_v1", "asset": "COP", "transfers": 12, "amount": "450000.00"}
        ],
        "latest_transfers": [
            {
                "token": _TX,
                "surface": "ledger_v1",
                "kind": "standard",
                "status": "posted",
                "asset": "COP",
                "amount": "37500.00",
                "created_at": _AT,
            }
        ],
        "purchases_by_status": [
            {"kind": "topup", "status": "authorized", "count": 3, "amount": 30000}
        ],
        "deposit_accounts": 2,
        "wallet_profiles": 5,
        "moved_per_hour": [{"hour": "2026-12-06T15:00:00.000000Z", "amounts": {"COP": "37500.00"}}],
        "last_verify": {"ran_at": _AT, "ok": True, "violations": 0, "transfers": 1204},
        "webhooks": {
            "disabled_endpoints": 1,
            "pending_deliveries": 3,
            "failed_deliveries": 8,
            "disabled": [
                {
                    "id": "we_4c1d9e2f7a8b3c6d5e0f1a2b3c4d5e6f",
                    "client": {"id": "cli-5e6f7a8b9c0d", "name": "Acme Pagos"},
                    "url": "https://hooks.acme.example/caja",
                    "reason": "no 2XX answer for 24 hours",
                    "since": _AT,
                }
            ],
        },
    },
)

_WE = "we_4c1d9e2f7a8b3c6d5e0f1a2b3c4d5e6f"
_EVT = "evt_8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d"
_ACME = {"id": "cli-5e6f7a8b9c0d", "name": "Acme Pagos"}

WEBHOOKS = _ok(
    EndpointList,
    "Every client's endpoints, oldest first, with their state and deliveries",
    {
        "data": [
            {
                "id": _WE,
                "client": _ACME,
                "url": "https://hooks.acme.example/caja",
                "event_types": ["ledger.transfer.created", "balance.crossed"],
                "enabled": False,
                "disabled_reason": "no 2XX answer for 24 hours",
                "disabled_at": _AT,
                "created_at": "2026-12-01T10:00:00.000000Z",
                "deliveries": {"pending": 3, "failed": 8, "delivered": 1250},
                "last_attempt_at": _AT,
            }
        ]
    },
)

_DELIVERY = {
    "id": 812,
    "event_id": _EVT,
    "event_type": "ledger.transfer.created",
    "endpoint": _WE,
    "client": _ACME,
    "status": "pending",
    "attempts": 2,
    "next_attempt_at": "2026-12-06T15:34:05.123456Z",
    "last_status_code": 503,
    "last_error": None,
    "delivered_at": None,
    "created_at": _AT,
}

DELIVERIES = _ok(
    DeliveryPage,
    "Deliveries, newest first",
    {"data": [_DELIVERY], "next_cursor": "812"},
    _BAD,
)

DELIVERY = _ok(
    DeliveryDetailOut,
    "The delivery, each attempt with its answer, and the event",
    {
        **_DELIVERY,
        "url": "https://hooks.acme.example/caja",
        "attempt_history": [
            {
                "attempted_at": _AT,
                "status_code": None,
                "error": "timed out after 10 s",
                "response": None,
                "duration_ms": 10002,
            },
            {
                "attempted_at": "2026-12-06T15:04:10.512000Z",
                "status_code": 503,
                "error": None,
                "response": "Service Unavailable",
                "duration_ms": 84,
            },
        ],
        "event": {
            "id": _EVT,
            "type": "ledger.transfer.created",
            "created_at": _AT,
            "data": {"token": _TX, "amount": 37500.0, "status": "posted"},
        },
    },
    _BAD,
    _not_found("no such delivery", "No delivery has this id"),
)

ENABLE = _ok(
    EndpointOut,
    "The endpoint, enabled again; its pending deliveries are tried at once",
    {
        **WEBHOOKS[200]["content"]["application/json"]["example"]["data"][0],
        "enabled": True,
        "disabled_reason": None,
        "disabled_at": None,
    },
    _not_found("no such endpoint", "No endpoint (not removed) has this id"),
)

REPLAY = _ok(
    ReplayOut,
    "The deliveries made of the event",
    {"event_id": _EVT, "deliveries": 1},
    _not_found("no such event", "No event has this id"),
)
