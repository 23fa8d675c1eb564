"""Reading the wallet's requests, each field checked by hand so that a refusal is worded
as the API guide words it (``field: problem``)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import QueryParams

from caja.core.errors import InvalidInput
from caja.wallet import keys
from caja.wallet.requests import STATUSES
from caja.wallet.service import LoginRefused

__all__ = [
    "Contact",
    "Login",
    "Page",
    "RequestMoney",
    "Send",
    "SignUp",
    "contact",
    "cursor_of",
    "find_phone",
    "idempotency_key",
    "login",
    "pay_request",
    "payments_page",
    "request_money",
    "request_status",
    "send",
    "sign_up",
]

DEFAULT_PAGE = 50
MAX_PAGE = 200
IDEMPOTENCY_HEADER = "Idempotency-Key"


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(name, "is required")
    return value.strip()


@dataclass(frozen=True, slots=True)
class SignUp:
    phone_number: str
    first_name: str
    last_name: str
    password: str


def sign_up(body: dict[str, Any]) -> SignUp:
    password = body.get("password")
    if not isinstance(password, str):
        raise InvalidInput("password", "is required")
    return SignUp(
        phone_number=_text(body, "phone_number"),
        first_name=_text(body, "first_name"),
        last_name=_text(body, "last_name"),
        password=password,
    )


@dataclass(frozen=True, slots=True)
class Login:
    phone_number: str
    password: str


def login(body: dict[str, Any]) -> Login:
    """Phone and password; anything else is refused as a wrong password would be."""
    password = body.get("password")
    phone = body.get("phone_number")
    if not isinstance(password, str) or not isinstance(phone, str):
        raise LoginRefused()
    return Login(phone.strip(), password)


def find_phone(query: QueryParams) -> str:
    """The digits of ``find=phone:<digits>``, not yet checked as a phone number."""
    kind, _, phone = query.get("find", "").partition(":")
    if kind != "phone" or not phone:
        raise InvalidInput("find", "must be phone:<digits>")
    return phone


@dataclass(frozen=True, slots=True)
class Contact:
    profile_id: str
    first_name: str
    last_name: str


def contact(body: dict[str, Any]) -> Contact:
    return Contact(_text(body, "profile_id"), _text(body, "first_name"), _text(body, "last_name"))


@dataclass(frozen=True, slots=True)
class Send:
    from_account: str
    to_profile: str
    asset: str
    amount: object  # as the client sent it: the product reads it as money
    notes: str


def _notes(body: dict[str, Any]) -> str:
    meta = body.get("meta_data") or {}
    notes = meta.get("notes") if isinstance(meta, dict) else None
    if notes is not None and (not isinstance(notes, str) or len(notes) > 255):
        raise InvalidInput("meta_data.notes", "must be text of at most 255 characters")
    return notes or ""


def send(body: dict[str, Any]) -> Send:
    notes = _notes(body)
    if "amount" not in body:
        raise InvalidInput("amount", "is required")
    return Send(
        from_account=_text(body, "from_account_id"),
        to_profile=_text(body, "to_profile_id"),
        asset=_text(body, "asset_key"),
        amount=body["amount"],
        notes=notes,
    )


@dataclass(frozen=True, slots=True)
class Page:
    limit: int
    before: int | None  # the entry the page starts below; None for the first page


_CURSOR = re.compile(r"p1\.([1-9][0-9]{0,18})")


def cursor_of(entry_id: int) -> str:
    """The opaque cursor of the page after the entry ``entry_id``."""
    return base64.urlsafe_b64encode(f"p1.{entry_id}".encode()).decode().rstrip("=")


def _before(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    found = _CURSOR.fullmatch(text)
    if found is None:
        raise InvalidInput("cursor", "must be a next_cursor this list gave")
    return int(found.group(1))


def payments_page(query: QueryParams) -> Page:
    """Only payments (``type=1``, the default) are listed, a page at a time."""
    if query.get("type", "1") != "1":
        raise InvalidInput("type", "must be 1 (payments)")
    raw = query.get("limit", str(DEFAULT_PAGE))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise InvalidInput("limit", f"must be a whole number from 1 to {MAX_PAGE}")
    cursor = query.get("cursor")
    return Page(int(raw), None if cursor is None else _before(cursor))


def idempotency_key(headers: Mapping[str, str]) -> str | None:
    raw = headers.get(IDEMPOTENCY_HEADER)
    return None if raw is None else keys.check_key(raw)


@dataclass(frozen=True, slots=True)
class RequestMoney:
    asset: str
    amount: object  # as the client sent it: read as money with the asset's decimals
    notes: str


def request_money(body: dict[str, Any]) -> RequestMoney:
    notes = _notes(body)
    if "amount" not in body:
        raise InvalidInput("amount", "is required")
    return RequestMoney(_text(body, "asset_key"), body["amount"], notes)


def pay_request(body: dict[str, Any]) -> str:
    return _text(body, "from_account_id")


def request_status(query: QueryParams) -> str | None:
    status = query.get("status")
    if status is not None and status not in STATUSES:
        raise InvalidInput("status", "must be open, paid or cancelled")
    return status
