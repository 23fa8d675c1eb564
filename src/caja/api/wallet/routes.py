"""Wallet routes: sign-up, log-in, profile, balances, contacts, sends, payments and
payment requests."""

from __future__ import annotations

import io
from typing import Any

import segno
from fastapi import APIRouter, Request, Response

from caja.api.deps import BatcherDep, DatabaseDep, WalletSettingsDep
from caja.api.wallet import docs, parse
from caja.api.wallet.auth import PREFIX, Caller, caller, issue_token
from caja.core.clock import iso_utc
from caja.core.money import format_minor
from caja.http.body import json_response, read_object
from caja.wallet import keys
from caja.wallet import requests as money_requests
from caja.wallet import service as wallet
from caja.wallet.public import payment_json, person_json
from caja.wallet.requests import PaymentRequest
from caja.wallet.service import Guard, Profile

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


def _answer(code: int) -> Response:
    if code == keys.UNDERFUNDED:
        return json_response({"code": 601, "msg": ["op_underfunded"]})
    return _ok()


@router.post("/profile/send-to-profile", summary="Send money to another person", **docs.SEND)
async def send_to_profile(request: Request, batcher: BatcherDep, who: Caller) -> Response:
    body = await read_object(request)
    data = parse.send(body)
    key = parse.idempotency_key(request.headers)

    async def attempt(guard: Guard | None = None) -> bool:
        return await wallet.send(
            batcher,
            who,
            from_account=data.from_account,
            to_profile=data.to_profile,
            asset=data.asset,
            amount=data.amount,
            notes=data.notes,
            guard=guard,
        )

    if key is None:
        return _answer(keys.SENT if await attempt() else keys.UNDERFUNDED)
    digest = keys.body_digest(body)
    return _answer(await keys.once(batcher.database, who, key, digest, attempt))


@router.get(
    "/profile/payment_transaction",
    summary="Payments sent and received, a page at a time",
    **docs.PAYMENT_QUERY,
)
async def payment_transactions(request: Request, database: DatabaseDep, who: Caller) -> Response:
    page = parse.payments_page(request.query_params)
    found = await wallet.payments(database, who, limit=page.limit, before=page.before)
    following = found.next_before
    return json_response(
        {
            "data": [payment_json(item) for item in found.items],
            "next_cursor": None if following is None else parse.cursor_of(following),
        }
    )


# --- payment requests ----------------------------------------------------------------------


def _link(request_id: str) -> str:
    return f"/app#pay={request_id}"


def _request_json(found: PaymentRequest) -> dict[str, Any]:
    return {
        "request_id": found.request_id,
        "status": found.status,
        "amount": format_minor(found.amount_minor, found.scale),
        "asset_key": found.asset,
        "notes": found.notes,
        "requester": person_json(found.requester),
        "created_at": iso_utc(found.created_at),
        "link": _link(found.request_id),
        "paid_by": None if found.paid_by is None else person_json(found.paid_by),
        "paid_at": None if found.paid_at is None else iso_utc(found.paid_at),
    }


@router.post(
    "/profile/payment_request", summary="Ask for money", status_code=201, **docs.REQUEST_MONEY
)
async def request_money(request: Request, database: DatabaseDep, who: Caller) -> Response:
    data = parse.request_money(await read_object(request))
    created = await money_requests.create(
        database, who, asset=data.asset, amount=data.amount, notes=data.notes
    )
    return json_response(_request_json(created), 201)


@router.get("/profile/payment_request", summary="The caller's requests", **docs.OWN_REQUESTS)
async def own_requests(request: Request, database: DatabaseDep, who: Caller) -> Response:
    status = parse.request_status(request.query_params)
    found = await money_requests.own(database, who, status)
    return json_response({"data": [_request_json(item) for item in found]})


@router.get(
    "/profile/payment_request/{request_id}", summary="A payment request", responses=docs.REQUEST
)
async def get_request(request_id: str, database: DatabaseDep, who: Caller) -> Response:
    return json_response(_request_json(await money_requests.find(database, request_id)))


@router.post(
    "/profile/payment_request/{request_id}/pay", summary="Pay a request", **docs.PAY_REQUEST
)
async def pay_request(
    request_id: str, request: Request, batcher: BatcherDep, who: Caller
) -> Response:
    from_account = parse.pay_request(await read_object(request))
    key = parse.idempotency_key(request.headers)
    return _answer(await money_requests.pay(batcher, who, request_id, from_account, key))


@router.delete(
    "/profile/payment_request/{request_id}",
    summary="Cancel a request of one's own",
    responses=docs.CANCEL_REQUEST,
)
async def cancel_request(request_id: str, database: DatabaseDep, who: Caller) -> Response:
    return json_response(_request_json(await money_requests.cancel(database, who, request_id)))


@router.get(
    "/profile/payment_request/{request_id}/qr.svg",
    summary="A QR code of a request's link",
    response_class=Response,
    responses=docs.REQUEST_QR,
)
async def request_qr(
    request_id: str, request: Request, database: DatabaseDep, who: Caller
) -> Response:
    found = await money_requests.find(database, request_id)
    link = str(request.base_url).rstrip("/") + _link(found.request_id)
    svg = io.BytesIO()
    segno.make(link, error="m").save(
        svg, kind="svg", scale=6, border=2, light="#fff", title="Payment request", xmldecl=False
    )
    return Response(svg.getvalue(), media_type="image/svg+xml")
