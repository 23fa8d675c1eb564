"""Wallet routes: sign-up, log-in, profile, balances, contacts, sends and payments."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from caja.api.deps import BatcherDep, DatabaseDep, WalletSettingsDep
from caja.api.wallet import docs, parse
from caja.api.wallet.auth import PREFIX, Caller, caller, issue_token
from caja.core.clock import iso_utc
from caja.core.money import format_minor
from caja.http.body import json_response, read_object
from caja.wallet import service as wallet
from caja.wallet.service import Profile

__all__ = ["PREFIX", "caller", "router"]

router = APIRouter(prefix=PREFIX, tags=["Wallet"])


def _ok() -> Response:
    return json_response({"code": 200, "msg": []})


# --- sign-up and log-in --------------------------------------------------------------------


@router.post("/auth/signup", summary="Sign up", status_code=201, **docs.SIGNUP)
async def sign_up(request: Request, database: DatabaseDep, settings: WalletSettingsDep) -> Response:
    data = parse.sign_up(await read_object(request))
    created = await wallet.sign_up(
        database,
        settings.assets,
        phone_number=data.phone_number,
        first_name=data.first_name,
        last_name=data.last_name,
        password=data.password,
    )
    return json_response(_profile_json(created), 201)


@router.post("/auth/login", summary="Log in", **docs.LOGIN)
async def log_in(request: Request, database: DatabaseDep, settings: WalletSettingsDep) -> Response:
    data = parse.login(await read_object(request))
    found = await wallet.log_in(database, data.phone_number, data.password)
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
    phone = parse.find_phone(request.query_params)
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
    data = parse.contact(await read_object(request))
    await wallet.add_contact(database, who, data.profile_id, data.first_name, data.last_name)
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
async def send_to_profile(request: Request, batcher: BatcherDep, who: Caller) -> Response:
    data = parse.send(await read_object(request))
    sent = await wallet.send(
        batcher,
        who,
        from_account=data.from_account,
        to_profile=data.to_profile,
        asset=data.asset,
        amount=data.amount,
        notes=data.notes,
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
    parse.payments_kind(request.query_params)
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
