"""``POST /transaction/batch``: up to 1,000 transfers in one request, each answered as its
own ``POST /transaction`` would be."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request, Response

from caja.api.deps import services_of
from caja.api.errors import ledger_status, ledger_words
from caja.api.ledger_v1.schemas import TransactionIn
from caja.clients.service import Principal, authenticate, key_digest
from caja.core.errors import CajaError, InvalidInput, Unauthorized
from caja.customers import bulk
from caja.customers.bulk import BatchRejected, Item, NotApplied, Outcome
from caja.customers.public import transaction_json
from caja.customers.service import AccountRef, Authorize, Transferred
from caja.http.body import check_text, parse_object, validate

__all__ = ["MAX_BATCH_BODY_BYTES", "item_status", "post_transaction_batch", "read_item"]

# A batch's body may be this large (a single transfer's, 64 KiB): 1,000 transfers with
# every field at its longest fit.
MAX_BATCH_BODY_BYTES = 1024 * 1024
_NOT_AN_OBJECT = ("", "the body must be a JSON object")
_INTERNAL = CajaError(
    "Internal server error; it is safe to retry the request with the same token.",
    code="InternalError",
)


def _envelope(data: dict[str, Any]) -> tuple[list[Any], bool]:
    """The batch's items and whether it is all or none, or the envelope's 422."""
    if "transactions" not in data:
        raise InvalidInput("transactions", "is required")
    items = data["transactions"]
    if not isinstance(items, list):
        raise InvalidInput("transactions", "must be a list of transactions")
    if not 1 <= len(items) <= bulk.MAX_ITEMS:
        raise InvalidInput("transactions", f"must hold from 1 to {bulk.MAX_ITEMS:,} transactions")
    atomic = data.get("atomic", False)
    if not isinstance(atomic, bool):
        raise InvalidInput("atomic", "must be true or false")
    return items, atomic


def read_item(raw: Any, *, escaped: bool = True) -> Item | CajaError:
    """One item as ``POST /transaction`` reads its body, or the refusal it would answer.
    Its strings are checked unless the text it came from had no escape (``escaped``)."""
    if not isinstance(raw, dict):
        return InvalidInput(*_NOT_AN_OBJECT, code="InvalidJSON")
    try:
        if escaped:
            check_text(raw)
        body = validate(TransactionIn, raw)
    except CajaError as error:
        return error
    return Item(
        AccountRef("origin_account", token=body.origin_account),
        AccountRef("destination_account", token=body.destination_account),
        body.amount,
        body.description,
        body.unique_transfer_token,
    )


def item_status(outcome: Outcome) -> tuple[int, str | None, str | None]:
    """An item's status, with the code and message of a refusal, as its own
    ``POST /transaction`` would answer them."""
    if isinstance(outcome, Transferred):
        return (208 if outcome.replayed else 201), None, None
    if not isinstance(outcome, CajaError):
        outcome = _INTERNAL
    status = 424 if isinstance(outcome, NotApplied) else ledger_status(outcome)
    if outcome is _INTERNAL:
        status = 500
    worded = ledger_words(outcome)
    return status, worded.code, worded.message


def _answer(outcome: Outcome) -> bytes:
    """An item's answer: the status and body its own ``POST /transaction`` would give."""
    if isinstance(outcome, Transferred):
        assert outcome.transfer is not None
        if outcome.replayed or outcome.body is None:
            return orjson.dumps({"status": 208, "transaction": transaction_json(outcome.transfer)})
        return b'{"status":201,"transaction":' + outcome.body + b"}"
    status, code, message = item_status(outcome)
    return orjson.dumps({"status": status, "code": code, "message": message})


def _response(posted: bulk.Posted) -> Response:
    results = b"[" + b",".join(_answer(outcome) for outcome in posted.outcomes) + b"]"
    if posted.applied:
        return Response(
            b'{"results":' + results + b"}", status_code=200, media_type="application/json"
        )
    rejected = BatchRejected()
    head = orjson.dumps({"code": rejected.code, "message": rejected.message})
    return Response(
        head[:-1] + b',"results":' + results + b"}", status_code=409, media_type="application/json"
    )


async def post_transaction_batch(
    request: Request, header: str, authorize: Authorize, surface: str
) -> Response:
    """Read, check and post a batch; the key is checked first (401 or 403 for the whole
    request), then the envelope (422), then each item on its own."""
    key = request.headers.get(header)
    digest = key_digest(key)
    if digest is None:
        raise Unauthorized()
    services = services_of(request.app)
    _caller: Principal = authorize(await authenticate(services.database, key))
    parsed = await parse_object(request, limit=MAX_BATCH_BODY_BYTES)
    raw_items, atomic = _envelope(parsed.data)
    posted = await bulk.transfer_many(
        services.batcher,
        key_digest=digest,
        authorize=authorize,
        surface=surface,
        items=[read_item(raw, escaped=parsed.escaped) for raw in raw_items],
        atomic=atomic,
    )
    return _response(posted)
