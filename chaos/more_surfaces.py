"""Deposit transfers and wallet sends in a failover run: the accounts they move money
between, and the checks of what the database holds against what the clients were told.

- Deposit transfers (``POST /api/coopcentral/v1/transactions/create``) carry a
  ``unique_transfer_token``: like ledger transfers, an unanswered or 5XX one is sent again
  with the same body until an answer ends it. Each acknowledged one (201 or 208) is
  stored exactly once, with its fee (its description is its token, its fee's
  ``fee: <token>``); one refused for funds (409 ``InsufficientFunds``) not at all.
- Wallet sends (``POST /api/wallet/v1/profile/send-to-profile``) carry no idempotency
  key (docs/wallet-api.md, "Retrying"): sending one again could pay twice, so an
  unanswered or 5XX send is never sent again. Its outcome is unknown until the end,
  when the database says: it is stored at most once (its notes are its token), and each
  acknowledged send exactly once; a stored unknown send counts in the balances.
- Each deposit account and wallet holds its funding plus and minus what was stored.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass

import httpx
from bench.setup_data import _client_id, _open_deposit_accounts

from caja.core.money import parse_amount
from caja.customers.service import ASSET
from caja.db.engine import Database
from caja.ledger import batching
from caja.ledger.accounts import system_account_id
from caja.ledger.model import NewTransfer
from caja.providers.bank import SandboxBank
from chaos.check import Findings
from chaos.journal import Journal, Kind, Sent
from chaos.prepare import Funding, create_client, fund_many
from chaos.snapshot import Snapshot, TransferRow

__all__ = [
    "DEPOSIT_PATH",
    "SURFACES",
    "WALLET_PATH",
    "MoreAccounts",
    "Wallet",
    "check_more",
    "prepare_more",
]

DEPOSIT_PATH = "/api/coopcentral/v1/transactions/create"
WALLET_PATH = "/api/wallet/v1/profile/send-to-profile"
WALLET_API = "/api/wallet/v1"
DEPOSIT_SURFACE = "deposit"
WALLET_SURFACE = "wallet"
SURFACES = frozenset({DEPOSIT_SURFACE, WALLET_SURFACE})
FEE_PREFIX = "fee: "
PASSWORD = "failover wallet password"


@dataclass(frozen=True, slots=True)
class Wallet:
    profile_id: str  # prf-…
    account_id: str  # wac-…
    token: str  # the log-in's token, for X-Authorization


@dataclass(frozen=True, slots=True)
class MoreAccounts:
    """The deposit client and accounts, and the wallets, of one run."""

    deposit_client: str  # cli-…
    deposit_key: str
    deposit_accounts: list[str]  # coopacc-…
    wallets: list[Wallet]
    fundings: list[Funding]

    def wallet_of_profile(self) -> dict[str, str]:
        return {wallet.profile_id: wallet.account_id for wallet in self.wallets}


async def _open_deposits(url: str, client: str, count: int, pesos: int) -> list[Funding]:
    """Open ``count`` deposit accounts at the sandbox bank and credit each ``pesos`` from
    the funding system account, as the benchmark does (``caja fund`` refuses a deposit
    account: money reaches one from another bank); a funding for each."""
    database = Database(url)
    try:
        client_id = await _client_id(database, client)
        opened = await _open_deposit_accounts(database, SandboxBank(), client_id, count)
        async with database.read() as connection:
            funding_id = await connection.run_sync(system_account_id, ASSET, "funding")
        amount = pesos * 100
        results = await batching.post(
            database,
            [
                NewTransfer(
                    surface="funding",
                    description="failover funding",
                    debit_account_id=funding_id,
                    credit_account_id=account.id,
                    amount_minor=amount,
                )
                for account in opened
            ],
        )
    finally:
        await database.dispose()
    fundings = []
    for account, result in zip(opened, results, strict=True):
        if result.transfer is None:
            raise RuntimeError(f"funding {account.token} failed: {result.error}")
        fundings.append(Funding(account.token, result.transfer.token, amount))
    return fundings


async def _wallet(http: httpx.AsyncClient, number: int) -> Wallet:
    phone = f"320{number:07d}"
    person = {"phone_number": phone, "first_name": "Chaos", "last_name": f"W{number}"}
    signed = await http.post(f"{WALLET_API}/auth/signup", json={**person, "password": PASSWORD})
    if signed.status_code != 201:
        raise RuntimeError(f"wallet sign-up answered {signed.status_code}: {signed.text}")
    login = {"phone_number": phone, "password": PASSWORD}
    logged = await http.post(f"{WALLET_API}/auth/login", json=login)
    if logged.status_code != 200:
        raise RuntimeError(f"wallet log-in answered {logged.status_code}: {logged.text}")
    profile = signed.json()
    return Wallet(profile["profile_id"], profile["account_id"], logged.json()["token"])


async def _wallets(base_url: str, count: int) -> list[Wallet]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as http:
        # One at a time: each sign-up and log-in hashes a password (Argon2).
        return [await _wallet(http, number) for number in range(count)]


def prepare_more(
    url: str, base_url: str, deposit_accounts: int, wallets: int, pesos: int
) -> MoreAccounts:
    """A ``deposit`` client with ``deposit_accounts`` accounts at the sandbox bank, and
    ``wallets`` wallets signed up and logged in through the API at ``base_url``; each
    funded with ``pesos`` (the wallets by ``caja fund``)."""
    client = create_client(url, "failover deposit", ["deposit"])
    fundings = asyncio.run(_open_deposits(url, client.client_id, deposit_accounts, pesos))
    accounts = [funding.target for funding in fundings]
    made = asyncio.run(_wallets(base_url, wallets))
    fundings += fund_many(url, [(wallet.account_id, pesos) for wallet in made])
    return MoreAccounts(client.client_id, client.api_key, accounts, made, fundings)


def _funded(more: MoreAccounts) -> dict[str, int]:
    expected: dict[str, int] = defaultdict(int)
    for funding in more.fundings:
        expected[funding.target] += funding.amount_minor
    return expected


def _sort_rows(
    snapshot: Snapshot, deposit_client: int | None, tokens: set[str], findings: Findings
) -> dict[tuple[str, str], list[TransferRow]]:
    """Each deposit or wallet transfer under (kind of row, the request's token); a row that
    no request sent is an unknown transfer."""
    stored: dict[tuple[str, str], list[TransferRow]] = defaultdict(list)
    for row in snapshot.transfers:
        if row.surface not in SURFACES:
            continue
        key = _row_key(row, deposit_client)
        if key is None or key[1] not in tokens:
            findings.violate("unknown transfers", f"{row.token} ({row.surface}, {row.description})")
        else:
            stored[key].append(row)
    return stored


def _row_key(row: TransferRow, deposit_client: int | None) -> tuple[str, str] | None:
    if row.surface == WALLET_SURFACE:
        return ("wallet", row.description)
    if row.client_id != deposit_client or row.kind != "standard":
        return None
    if row.idempotency_key is not None:
        return ("deposit", row.idempotency_key)
    if row.description.startswith(FEE_PREFIX):
        return ("fee", row.description.removeprefix(FEE_PREFIX))
    return None


def check_more(
    journal: Journal, more: MoreAccounts, snapshot: Snapshot, findings: Findings
) -> None:
    """The deposit transfers and wallet sends against the database (module docstring)."""
    requests = journal.of_kind(Kind.DEPOSIT) + journal.of_kind(Kind.WALLET)
    tokens = {sent.token for sent in requests}
    deposit_client = snapshot.client_ids.get(more.deposit_client)
    stored = _sort_rows(snapshot, deposit_client, tokens, findings)
    ids = {account.token: account.id for account in snapshot.accounts.values()}
    ids |= snapshot.wallets
    expected = _funded(more)
    wallet_of = more.wallet_of_profile()
    for sent in journal.of_kind(Kind.DEPOSIT):
        _check_deposit(sent, stored, ids, expected, findings)
    for sent in journal.of_kind(Kind.WALLET):
        _check_send(sent, stored[("wallet", sent.token)], ids, wallet_of, expected, findings)
    for target, model in expected.items():
        account = snapshot.accounts.get(ids.get(target, -1))
        found = None if account is None else (account.balance_minor, account.pending_out_minor)
        if found != (model, 0):
            findings.violate("balances wrong", f"{target}: {found}, model {model}")


def _fee(fee_amount: str) -> int:
    """The fee in centavos (parse_amount refuses zero, which a fee may be)."""
    return 0 if fee_amount == "0.00" else parse_amount(fee_amount, 2)


def _check_deposit(
    sent: Sent,
    stored: dict[tuple[str, str], list[TransferRow]],
    ids: dict[str, int],
    expected: dict[str, int],
    findings: Findings,
) -> None:
    rows, fees = stored[("deposit", sent.token)], stored[("fee", sent.token)]
    body = sent.body
    amount, fee = parse_amount(body["amount"], 2), _fee(body["fee_amount"])
    findings.figures["deposit transfers sent"] += 1
    if len(rows) > 1 or len(fees) > 1:
        findings.violate("duplicates", f"{sent.token}: {len(rows)} transfers, {len(fees)} fees")
    if sent.acknowledged:
        findings.figures["deposit transfers acknowledged"] += 1
        if not rows or len(fees) != (1 if fee else 0):
            findings.violate("transfers lost", f"deposit {sent.token} answered {sent.status}")
            return
        made = (rows[0].debit_account_id, rows[0].credit_account_id, rows[0].amount_minor)
        wanted = (ids.get(body["origin_account"]), ids.get(body["destination_account"]), amount)
        if made != wanted or (fees and fees[0].amount_minor != fee):
            findings.violate("stored unlike answered", f"deposit {sent.token}: {made} != {wanted}")
        expected[body["origin_account"]] -= amount + fee
        expected[body["destination_account"]] += amount
        return
    if sent.status == 409 and sent.answer.get("error_code") == "InsufficientFunds":
        findings.figures["deposit transfers refused for funds"] += 1
    else:
        code = sent.answer.get("error_code")
        findings.violate("unexpected answers", f"deposit {sent.token}: {sent.status} {code}")
    if rows or fees:
        findings.violate("refused but stored", f"deposit {sent.token} answered {sent.status}")


def _check_send(
    sent: Sent,
    rows: list[TransferRow],
    ids: dict[str, int],
    wallet_of: dict[str, str],
    expected: dict[str, int],
    findings: Findings,
) -> None:
    body = sent.body
    origin, destination = body["from_account_id"], wallet_of.get(body["to_profile_id"], "")
    amount = parse_amount(body["amount"], 2)
    figures = findings.figures
    figures["wallet sends"] += 1
    if len(rows) > 1:
        findings.violate("duplicates", f"wallet send {sent.token} stored {len(rows)} times")
    if sent.acknowledged:
        figures["wallet sends acknowledged"] += 1
        if not rows:
            findings.violate("transfers lost", f"wallet send {sent.token} answered 200")
    elif sent.unknown:
        figures["wallet sends unknown"] += 1
        figures[f"wallet sends unknown, {'found made' if rows else 'not made'}"] += 1
    elif sent.status == 200 and sent.answer.get("code") == 601:
        figures["wallet sends refused for funds"] += 1
        if rows:
            findings.violate("refused but stored", f"wallet send {sent.token} answered 601")
    else:
        findings.violate("unexpected answers", f"wallet send {sent.token}: {sent.status}")
    if not rows:
        return
    made = (rows[0].debit_account_id, rows[0].credit_account_id, rows[0].amount_minor)
    if made != (ids.get(origin), ids.get(destination), amount):
        findings.violate("stored unlike answered", f"wallet send {sent.token}: {made}")
    expected[origin] -= amount
    expected[destination] += amount
