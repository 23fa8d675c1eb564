"""Each surface's error body, checked on every error answer the fuzzer receives.

A checker takes the answer and returns what is wrong with it, or None when the body is in
the surface's own format: ledger ``{code, message}``, gateway
``{error_message, field?, value?}``, deposit ``{error_code, error_message, field?, value?}``,
wallet ``{code, msg}`` (plain text for its 403 and 498 token answers).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

__all__ = ["SHAPES", "error_problem"]

Checker = Callable[[httpx.Response], str | None]


def _json_object(response: httpx.Response) -> dict[str, Any] | str:
    if not response.headers.get("content-type", "").startswith("application/json"):
        return f"content type {response.headers.get('content-type')!r}, not JSON"
    try:
        body = json.loads(response.content)
    except ValueError:
        return "a body that is not JSON"
    if not isinstance(body, dict):
        return "a JSON body that is not an object"
    return body


def _keys(body: dict[str, Any], required: set[str], optional: set[str]) -> str | None:
    if not required <= set(body) <= required | optional:
        return f"keys {sorted(body)}, expected {sorted(required)} and maybe {sorted(optional)}"
    return None


def _ledger(response: httpx.Response) -> str | None:
    body = _json_object(response)
    if isinstance(body, str):
        return body
    problem = _keys(body, {"code", "message"}, set())
    if problem is None and not all(isinstance(body[name], str) for name in ("code", "message")):
        problem = "code and message must be strings"
    return problem


def _gateway(response: httpx.Response) -> str | None:
    body = _json_object(response)
    if isinstance(body, str):
        return body
    if not isinstance(body.get("error_message"), str):
        return "no error_message"
    if "token" in body and "status" in body:
        return None  # a purchase answered 409 or 5XX by the operator carries its message
    problem = _keys(body, {"error_message"}, {"field", "value"})
    if problem is None and "field" in body and not isinstance(body["field"], str):
        problem = "field must be a string"
    return problem


def _deposit(response: httpx.Response) -> str | None:
    body = _json_object(response)
    if isinstance(body, str):
        return body
    problem = _keys(body, {"error_code", "error_message"}, {"field", "value"})
    if problem is None and not all(
        isinstance(body[name], str) for name in ("error_code", "error_message")
    ):
        problem = "error_code and error_message must be strings"
    return problem


_WALLET_TEXT = {
    498: {"Token has expired"},
    403: {"request requires user authentication", "find request requires user authentication"},
}


def _wallet(response: httpx.Response) -> str | None:
    texts = _WALLET_TEXT.get(response.status_code)
    if texts is not None:
        if not response.headers.get("content-type", "").startswith("text/plain"):
            return f"{response.status_code} must be plain text"
        return None if response.text in texts else f"unexpected text {response.text!r}"
    body = _json_object(response)
    if isinstance(body, str):
        return body
    problem = _keys(body, {"code", "msg"}, set())
    if problem is not None:
        return problem
    messages = body["msg"]
    if body["code"] != response.status_code:
        return f"code {body['code']!r} is not the status {response.status_code}"
    if not (isinstance(messages, list) and len(messages) == 1 and isinstance(messages[0], str)):
        return "msg must be a list of one string"
    return None


SHAPES: dict[str, Checker] = {
    "ledger_v1": _ledger,
    "ledger_v0": _ledger,
    "topup": _gateway,
    "deposit": _deposit,
    "wallet": _wallet,
    "events": _ledger,
}


def error_problem(surface: str, response: httpx.Response) -> str | None:
    """What is wrong with an error answer of ``surface``; None for a success or a good
    error body."""
    if response.status_code < 400:
        return None
    return SHAPES[surface](response)
