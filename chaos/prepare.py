"""The data a crash run starts from, made as an operator and a client would make it: API
clients with ``caja clients create``, ledger accounts through the v1 API, money with
``caja fund``.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import httpx
from bench.server import run_caja

from caja.core.money import parse_amount

__all__ = ["Client", "Funding", "create_client", "fund", "fund_many", "open_accounts", "run_json"]

CLI_TIMEOUT_SECONDS = 120
V1 = "/api/ledger/v1/public"
OPEN_CONCURRENCY = 8
COP_SCALE = 2


@dataclass(frozen=True, slots=True)
class Client:
    client_id: str  # cli-…
    api_key: str


@dataclass(frozen=True, slots=True)
class Funding:
    """One ``caja fund``: the account credited, the funding transfer, the amount."""

    target: str
    transfer: str  # tx-…
    amount_minor: int


def run_json(arguments: list[str], database_url: str) -> dict[str, Any]:
    """Run a ``caja`` command that prints one JSON object; raise if it fails."""
    finished = run_caja([*arguments, "--json"], database_url, CLI_TIMEOUT_SECONDS)
    if finished.returncode != 0:
        detail = finished.stderr.strip() or finished.stdout.strip()
        raise RuntimeError(f"caja {' '.join(arguments)} exited {finished.returncode}: {detail}")
    printed: dict[str, Any] = json.loads(finished.stdout)
    return printed


def create_client(database_url: str, name: str, scopes: list[str]) -> Client:
    flags = [part for scope in scopes for part in ("--scope", scope)]
    created = run_json(["clients", "create", "--name", name, *flags], database_url)
    return Client(created["client_id"], created["api_key"])


def _funding(target: str, printed: dict[str, Any]) -> Funding:
    if printed["asset"] != "COP":
        raise RuntimeError(f"caja fund {target}: credited {printed['asset']}, not COP")
    return Funding(target, printed["transfer"], parse_amount(printed["amount"], COP_SCALE))


def fund(database_url: str, target: str, pesos: int) -> Funding:
    """``caja fund TARGET PESOS``, as a process of its own."""
    return _funding(target, run_json(["fund", target, str(pesos)], database_url))


def fund_many(database_url: str, targets: list[tuple[str, int]]) -> list[Funding]:
    """``caja fund TARGET PESOS`` for every (target, pesos), the command run in this
    process through Typer's runner: the same command, arguments and output, without a
    Python start (most of a ``caja`` process's time) per account."""
    from typer.testing import CliRunner

    from caja.cli import app

    runner = CliRunner()
    environment = {"CAJA_DATABASE_URL": database_url}
    fundings = []
    for target, pesos in targets:
        arguments = ["fund", target, str(pesos), "--json"]
        finished = runner.invoke(app, arguments, env=environment)
        if finished.exit_code != 0:
            detail = finished.stderr.strip() or finished.stdout.strip()
            raise RuntimeError(f"caja fund {target} exited {finished.exit_code}: {detail}")
        fundings.append(_funding(target, json.loads(finished.stdout)))
    return fundings


def _account_body(number: int) -> dict[str, str]:
    return {
        "phone_number": f"+57310{number:07d}",
        "owner_legal_id_type": "CC",
        "owner_legal_id_number": f"{20_000_000 + number}",
        "owner_full_name": f"Chaos Owner {number}",
        "owner_email": f"owner{number}@chaos.example",
    }


async def open_accounts(http: httpx.AsyncClient, api_key: str, count: int) -> list[str]:
    """Open ``count`` accounts with ``POST /account`` of the v1 API; their tokens."""
    gate = asyncio.Semaphore(OPEN_CONCURRENCY)

    async def open_one(number: int) -> str:
        async with gate:
            answer = await http.post(
                f"{V1}/account",
                json=_account_body(number),
                headers={"X-Account-api-key": api_key},
            )
        if answer.status_code != 201:
            raise RuntimeError(f"POST /account answered {answer.status_code}: {answer.text}")
        return str(answer.json()["token"])

    return list(await asyncio.gather(*(open_one(number) for number in range(count))))
