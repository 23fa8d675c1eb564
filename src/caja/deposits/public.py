"""Deposit transfers as the deposit surface answers them: the JSON of a transfer's answer
(created or reverted) and of an entry of an account's history, which are also the data of
the ``deposit.transfer.created``, ``deposit.transfer.reverted`` and ``deposit.received``
events."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from caja.core.clock import bogota_iso
from caja.core.money import format_minor

if TYPE_CHECKING:
    from caja.deposits.service import DepositTransfer

__all__ = ["direction_of", "history_item", "money", "transfer_json"]


def money(minor: int) -> str:
    return format_minor(minor, 2)


def direction_of(item: DepositTransfer, account_id: int) -> str:
    return "deposit" if item.transfer.credit_account_id == account_id else "withdrawal"


def transfer_json(item: DepositTransfer) -> dict[str, Any]:
    view = item.transfer
    return {
        "token": f"coop{view.token}",
        "status": "reverted" if item.reverted else "approved",
        "idempotency_token": view.idempotency_key,
        "origin_account": view.debit_token,
        "destination_account": view.credit_token,
        "amount": money(view.amount_minor),
        "fee_amount": money(item.fee_minor),
        "description": view.description,
        "created_at": bogota_iso(view.created_at),
        "result_message": "Proceso Exitoso",
        "error_code": None,
        "channel": item.channel,
    }


def history_item(item: DepositTransfer, account_id: int) -> dict[str, Any]:
    body = transfer_json(item)
    shown: dict[str, Any] = {
        "token": body["token"],
        "status": body["status"],
        "direction": direction_of(item, account_id),
        "idempotency_token": body["idempotency_token"],
        "channel": body["channel"],
        "coopcentral_id": item.coopcentral_id,
        "amount": body["amount"],
        "description": body["description"],
        "created_at": body["created_at"],
        "origin_bank": None,
    }
    if item.origin_bank is not None and item.sender is not None:
        shown["origin_bank"] = {"name": item.origin_bank[0], "slug": item.origin_bank[1]}
        shown["sender_data"] = {
            "customer_name": item.sender[0],
            "customer_id_number": item.sender[1],
        }
    return shown
