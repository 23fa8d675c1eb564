"""``caja demo``: a demo client with funded accounts, how to try it, then the server."""

from __future__ import annotations

import base64
import json
import shlex
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from caja.cli.common import _run, check_port
from caja.cli.server import serve_http
from caja.config import database_url

if TYPE_CHECKING:
    from caja.ops.demo import DemoReady

__all__ = ["demo"]


def demo(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Set up a demo client with two funded accounts, print how to try it, and serve."""
    from caja.ops.demo import create_demo

    check_port(host, port)  # before anything is written
    ready = _run(create_demo)
    typer.echo("\n".join(_how_to_try(ready, f"http://{host}:{port}")))
    sys.stdout.flush()
    serve_http(host, port, 1)


def _transfer_body(ready: DemoReady) -> str:
    return json.dumps(
        {
            "origin_account": ready.first_account,
            "destination_account": ready.second_account,
            "amount": "1000.00",
            "description": "demo transfer",
            "unique_transfer_token": ready.transfer_token,
        }
    )


def _topup_body(ready: DemoReady) -> str:
    return json.dumps(
        {
            "idempotency_token": ready.transfer_token,
            "amount": 5000,
            "service_provider": "claro-movil",
            "destination_number": "3110001111",
            "payment_token": "demo-payment-1",
            "payment_origin": "caja demo",
        }
    )


def _deposit_body(ready: DemoReady) -> str:
    return json.dumps(
        {
            "origin_account": ready.deposit_accounts[0],
            "destination_account": ready.deposit_accounts[1],
            "unique_transfer_token": f"{ready.transfer_token}-deposit",
            "amount": "25000.00",
            "fee_amount": "500.00",
            "description": "demo deposit transfer",
            "channel": "external",
        }
    )


def _how_to_try(ready: DemoReady, base: str) -> list[str]:
    """The lines ``caja demo`` prints: what it made and a command to try on each surface."""
    from caja.ops.demo import DEMO_PASSWORD

    header = shlex.quote(f"X-Account-api-key: {ready.api_key}")
    basic = base64.b64encode(ready.api_key.encode()).decode()
    gateway = f"{base}/api/gateway_topup/v1"
    return [
        f"caja demo on {base}  (database: {database_url()})",
        f"  API key   {ready.api_key}",
        f"  accounts  {ready.first_account} {ready.first_balance}",
        f"            {ready.second_account} {ready.second_balance}",
        f"  merchant  balance {ready.merchant_balance}, max loan {ready.max_loan} (top-ups)",
        f"  deposits  {ready.deposit_accounts[0]} 300000.00, {ready.deposit_accounts[1]} 0.00",
        "Try a transfer (run it twice: the second answer is a 208 replay):",
        f"  curl -s -X POST {base}/api/ledger/v1/public/transaction -H {header} "
        f"-H 'Content-Type: application/json' -d {shlex.quote(_transfer_body(ready))}",
        "Then the history:",
        f"  curl -s {base}/api/ledger/v1/public/account/{ready.first_account}/transactions "
        f"-H {header}",
        "Top up a phone (sandbox operator; 3110002222 times out, 3110005555 is rejected):",
        f"  curl -s -X POST {gateway}/topup_account -H 'Authorization: Basic {basic}' "
        f"-H 'Content-Type: application/json' -d {shlex.quote(_topup_body(ready))}",
        f"  curl -s {gateway}/merchant/balance -H 'Authorization: Basic {basic}'",
        "Move money between two electronic deposit accounts (with a fee):",
        f"  curl -s -X POST {base}/api/coopcentral/v1/transactions/create "
        f"-H 'Authorization: Token {ready.api_key}' -H 'Content-Type: application/json' "
        f"-d {shlex.quote(_deposit_body(ready))}",
        f"Wallet app: {base}/app  (log in as {ready.wallet_people[0]} or "
        f"{ready.wallet_people[1]}, password {DEMO_PASSWORD}; the first holds 50000.00 COP)",
        f"Ops dashboard: {base}/admin  (admin key: the API key above)",
        f"API docs: {base}/docs",
        "",
    ]
