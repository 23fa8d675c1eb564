"""Wallet routes: sign-up, log-in, profile, balances, contacts, sends and payments."""

from __future__ import annotations

import time
from typing import Annotated, Any

import jwt
from fastapi import APIRouter, Depends, Request, Response, Security
from fastapi.responses import PlainTextResponse
from fastapi.security import APIKeyHeader

from caja.api.body import UnsupportedMediaType, json_response, read_object
from caja.api.deps import DatabaseDep, refuse_nul
from caja.api.errors import Surface, status_table
from caja.api.wallet import docs
from caja.config import WalletSettings
from caja.core.clock import iso_utc
from caja.core.errors import (
    AccountConflict,
    CajaError,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    Unavailable,
)
from caja.core.money import format_minor
from caja.wallet import service as wallet
from caja.wallet.service import LoginRefused, Profile, TooManyAttempts

__all__ = ["PREFIX", "SURFACE", "Refused", "on_refused", "router"]

PREFIX = "/api/wallet/v1"
HEADER = "X-Authorization"

_STATUS: list[tuple[type[CajaError], int]] = [
    (InvalidInput, 400),
    (NotFound, 400),
    (AccountConflict, 409),
    (LoginRefused, 401),
    (TooManyAttempts, 429),
    (PayloadTooLarge, 413),
    (UnsupportedMediaType, 415),
    (Unavailable, 503),
]


wallet_status = status_table(_STATUS)


def error_body(error: CajaError, status_code: int) -> Response:
    message = error.code
    if isinstance(error, InvalidInput):
        message = f"{error.field}: {error.problem}" if error.field else error.problem
    response = json_response({"code": status_code, "msg": [message]}, status_code)
    if isinstance(error, TooManyAttempts):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


SURFACE = Surface(PREFIX, wallet_status, error_body)

router = APIRouter(prefix=PREFIX, tags=["Wallet"])

_token = APIKeyHeader(
    name=HEADER,
    scheme_name="WalletToken",
    description="The token of `POST /auth/login`, alone or after `Bearer `.",
    auto_error=False,
)


class Refused(Exception):
    """A request without a valid log-in token: answered as the guide shows."""

    def __init__(self, response: Response) -> None:
        self.response = response


def _settings(request: Request) -> WalletSettings:
    settings = request.app.state.wallet
    assert isinstance(settings, WalletSettings)
    return settings


def issue_token(settings: WalletSettings, profile: Profile) -> str:
    now = int(time.time())
    claims = {"sub": profile.profile_id, "iat": now, "exp": now + settings.token_seconds}
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


async def _caller(
    request: Request, database: DatabaseDep, header: Annotated[str | None, Security(_token)]
) -> Profile:
    """The profile of the request's token: 401 without one, 498 expired, 403 otherwise."""
    token = (header or "").strip()
    scheme, _, rest = token.partition(" ")
    if scheme.lower() == "bearer":
        token = rest.strip()
    if not token:
        raise Refused(
            json_response({"code": 401, "msg": ["X-Authorization header is blank or missing"]}, 401)
        )
    forbidden = "find request requires user authentication"
    if not request.url.path.endswith(f"{PREFIX}/contact"):
        forbidden = "request requires user authentication"
    try:
        claims = jwt.decode(
            token,
            _settings(request).jwt_secret,
            algorithms=["HS256"],
            options={"require": ["exp", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise Refused(PlainTextResponse("Token has expired", 498)) from None
    except jwt.InvalidTokenError:
        raise Refused(PlainTextResponse(forbidden, 403)) from None
    found = await wallet.profile(database, str(claims["sub"]))
    if found is None:
        raise Refused(PlainTextResponse(forbidden, 403))
    refuse_nul(request)
    return found


Caller = Annotated[Profile, Depends(_caller)]


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(name, "is required")
    return value.strip()


def _ok() -> Response:
    return json_response({"code": 200, "msg": []})


# --- sign-up and log-in --------------------------------------------------------------------


@router.post("/auth/signup", summary="Sign up", status_code=201, **docs.SIGNUP)
async def sign_up(request: Request, database: DatabaseDep) -> Response:
    body = await read_object(request)
    password = body.get("password")
    if not isinstance(password, str):
        raise InvalidInput("password", "is required")
    created = await wallet.sign_up(
        database,
        _settings(request).assets,
        phone_number=_text(body, "phone_number"),
        first_name=_text(body, "first_name"),
        last_name=_text(body, "last_name"),
        password=password,
    )
    return json_response(_profile_json(created), 201)


@router.post("/auth/login", summary="Log in", **docs.LOGIN)
async def log_in(request: Request, database: DatabaseDep) -> Response:
    body = await read_object(request)
    password = body.get("password")
    phone = body.get("phone_number")
    if not isinstance(password, str) or not isinstance(phone, str):
        raise LoginRefused()
    found = await wallet.log_in(database, phone.strip(), password)
    settings = _settings(request)
    return json_response(
        {"token": issue_token(settings, found), "expires_in": settings.token_seconds}
    )


# --- profile and balances ------------------------------------------------------------------


def _profile_json(found: Profile) -> dict[str, Any]:
    return {
        "account_id": found.account_id,
        "profile_id": found.profile_id,
        "first_name": found.first_name,
        "last_name": found.last_name,
        "phone_number": found.phone_number,
    }


@router.get("/profile/", summary="The caller's profile", responses=docs.PROFILE)
async def get_profile(who: Caller) -> Response:
    return json_response(_profile_json(who))


@router.get(
    "/profile/account/{account_id}",
    summary="Assets and balances of an account",
    responses=docs.ACCOUNT,
)
async def get_account(account_id: str, database: DatabaseDep, who: Caller) -> Response:
    held = await wallet.balances(database, who, account_id)
    return json_response(
        {
            "account_id": account_id,
            "meta_data": {
                "assets": [{"asset_key": asset, "decimals": scale} for asset, scale, _ in held]
            },
            "balances": {
                asset: {"balance": format_minor(balance, scale)} for asset, scale, balance in held
            },
        }
    )


# --- contacts ------------------------------------------------------------------------------


@router.get("/contact", summary="Find a person by phone number", **docs.FIND)
async def find_contact(request: Request, database: DatabaseDep, who: Caller) -> Response:
    query = request.query_params.get("find", "")
    kind, _, phone = query.partition(":")
    if kind != "phone" or not phone:
        raise InvalidInput("find", "must be phone:<digits>")
    found = await wallet.find_by_phone(database, wallet.check_phone(phone, "find"))
    return json_response(
        {
            "profile_id": found.profile_id,
            "first_name": found.first_name,
            "last_name": found.last_name,
            "phone_number": found.phone_number,
        }
    )


@router.post("/profile/contact", summary="Save a contact", **docs.CONTACT)
async def save_contact(request: Request, database: DatabaseDep, who: Caller) -> Response:
    body = await read_object(request)
    await wallet.add_contact(
        database,
        who,
        _text(body, "profile_id"),
        _text(body, "first_name"),
        _text(body, "last_name"),
    )
    return _ok()


@router.get("/profile/contact", summary="Saved contacts", responses=docs.CONTACTS)
async def list_contacts(database: DatabaseDep, who: Caller) -> Response:
    found = await wallet.contacts(database, who)
    return json_response(
        {
            "data": {
                item.profile_id: {
                    "profile_id": item.profile_id,
                    "first_name": item.first_name,
                    "last_name": item.last_name,
                    "phone_number": item.phone_number,
                }
                for item in found
            }
        }
    )


@router.delete("/profile/contact/{profile_id}", summary="Delete a contact", responses=docs.DELETE)
async def remove_contact(profile_id: str, database: DatabaseDep, who: Caller) -> Response:
    await wallet.delete_contact(database, who, profile_id)
    return _ok()


# --- sending and payments ------------------------------------------------------------------


@router.post("/profile/send-to-profile", summary="Send money to another person", **docs.SEND)
async def send_to_profile(request: Request, who: Caller) -> Response:
    body = await read_object(request)
    meta = body.get("meta_data") or {}
    notes = meta.get("notes") if isinstance(meta, dict) else None
    if notes is not None and (not isinstance(notes, str) or len(notes) > 255):
        raise InvalidInput("meta_data.notes", "must be text of at most 255 characters")
    if "amount" not in body:
        raise InvalidInput("amount", "is required")
    sent = await wallet.send(
        request.app.state.batcher,
        who,
        from_account=_text(body, "from_account_id"),
        to_profile=_text(body, "to_profile_id"),
        asset=_text(body, "asset_key"),
        amount=body["amount"],
        notes=notes or "",
    )
    if not sent:
        return json_response({"code": 601, "msg": ["op_underfunded"]})
    return _ok()


@router.get(
    "/profile/payment_transaction",
    summary="Payments sent and received",
    **docs.PAYMENT_QUERY,
)
async def payment_transactions(request: Request, database: DatabaseDep, who: Caller) -> Response:
    kind = request.query_params.get("type", "1")
    if kind != "1":
        raise InvalidInput("type", "must be 1 (payments)")
    found = await wallet.payments(database, who)
    return json_response(
        {
            "data": [
                {
                    "id": item.id,
                    "type": 1,
                    "status": "completed",
                    "direction": item.direction,
                    "asset_key": item.asset,
                    "amount": format_minor(item.amount_minor, item.scale),
                    "counterparty": None
                    if item.counterparty is None
                    else {
                        "profile_id": item.counterparty.profile_id,
                        "first_name": item.counterparty.first_name,
                        "last_name": item.counterparty.last_name,
                        "phone_number": item.counterparty.phone_number,
                    },
                    "meta_data": {"notes": item.notes},
                    "created_at": iso_utc(item.created_at),
                }
                for item in found
            ]
        }
    )


async def on_refused(_request: Request, error: Exception) -> Response:
    assert isinstance(error, Refused)
    return error.response
