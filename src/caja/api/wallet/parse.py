"""Reading the wallet's requests, each field checked by hand so that a refusal is worded
as the API guide words it (``field: problem``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.datastructures import QueryParams

from caja.core.errors import InvalidInput
from caja.wallet.service import LoginRefused

__all__ = [
    "Contact",
    "Login",
    "Send",
    "SignUp",
    "contact",
    "find_phone",
    "login",
    "payments_kind",
    "send",
    "sign_up",
]


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


def payments_kind(query: QueryParams) -> None:
    """Only payments (``type=1``, the default) are listed."""
    if query.get("type", "1") != "1":
        raise InvalidInput("type", "must be 1 (payments)")
