"""A demo client with two funded accounts and a funded merchant account, for trying the
server at once."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date

from caja.clients.service import authenticate, create_client
from caja.config import wallet_settings
from caja.core.money import format_minor
from caja.core.tokens import new_token
from caja.customers.service import OwnerData, open_customer_account
from caja.db import migrate
from caja.db.engine import Database
from caja.deposits.service import account_number, open_deposit_account, receive
from caja.ops.funding import fund
from caja.providers.bank import Holder, SandboxBank
from caja.wallet import service as wallet

__all__ = ["DemoReady", "create_demo"]

DEMO_MERCHANT_FUNDS = 200_000  # whole pesos
DEMO_MAX_LOAN = 50_000
DEMO_PASSWORD = "demo-password"


@dataclass(frozen=True, slots=True)
class DemoReady:
    api_key: str
    first_account: str
    first_balance: str
    second_account: str
    second_balance: str
    transfer_token: str
    merchant_balance: int
    max_loan: int
    deposit_accounts: tuple[str, str]
    wallet_people: tuple[str, str]  # phone numbers; both use DEMO_PASSWORD


async def create_demo(database: Database) -> DemoReady:
    """Migrate, then a new demo client (its key is new each time) with two funded ledger
    accounts and, for top-ups, a merchant account with a balance and a max loan."""
    await migrate.upgrade(database)
    client = await create_client(
        database,
        "demo",
        ["ledger:admin", "topup", "deposit", "admin"],
        max_loan_minor=DEMO_MAX_LOAN * 100,
        numbered=True,  # "demo", then "demo (2)", … on a database that had a demo
    )
    merchant = await fund(database, client.client_id, str(DEMO_MERCHANT_FUNDS))
    principal = await authenticate(database, client.api_key)
    assert principal is not None
    opened = await _customer_accounts(database, principal.client_id)
    deposit_tokens = await _deposit_accounts(database, principal.client_id)
    phones = await _wallet_people(database)
    first = await fund(database, opened[0], "100000.00")
    second = await fund(database, opened[1], "25000.00")
    return DemoReady(
        client.api_key,
        opened[0],
        format_minor(first.balance_minor, first.scale),
        opened[1],
        format_minor(second.balance_minor, second.scale),
        new_token("demo"),
        merchant.balance_minor // 100,
        DEMO_MAX_LOAN,
        (deposit_tokens[0], deposit_tokens[1]),
        (phones[0], phones[1]),
    )


async def _customer_accounts(database: Database, client_id: int) -> list[str]:
    """Two ledger customer accounts of the demo client, with their owners; their tokens."""
    opened = []
    for phone, legal_id, name in (
        ("+573000000001", "10000001", "Ana Demo"),
        ("+573000000002", "10000002", "Luis Demo"),
    ):
        account = await open_customer_account(
            database,
            client_id,
            phone,
            OwnerData("CC", legal_id, name, f"{name.split()[0].lower()}@demo.example"),
        )
        opened.append(account.customer.account.token)
    return opened


async def _deposit_accounts(database: Database, client_id: int) -> list[str]:
    """Two electronic deposit accounts, the first funded by a transfer in; their tokens."""
    deposit_tokens = []
    for n, (names, last) in enumerate((("Nigerio", "Numa"), ("Ana", "Rojas")), start=1):
        holder = Holder(
            "CC", f"{n}0045678", date(2019, 3, 19), f"352000000{n}",
            f"{names.lower()}.{new_token('d')[-6:]}@demo.example", names, last, None,
            "M" if n == 1 else "F", date(1990, 1, n),
        )  # fmt: skip
        deposit_account, _ = await open_deposit_account(database, SandboxBank(), client_id, holder)
        deposit_tokens.append(deposit_account.token)
    sandbox = SandboxBank()
    await receive(
        database,
        sandbox.transfer_in(
            await account_number(database, deposit_tokens[0]),
            300_000_00,
            bank_slug="bancolombia",
            sender_name="Demo Sender",
            sender_id_number="1000000001",
        ),
    )
    return deposit_tokens


async def _wallet_people(database: Database) -> list[str]:
    """Two wallet people (the first funded) with DEMO_PASSWORD; their phone numbers."""
    phones = []
    for funded, first_name in ((True, "Ana"), (False, "Luis")):
        phone = f"300{secrets.randbelow(10**7):07d}"
        person = await wallet.sign_up(
            database,
            wallet_settings().assets,
            phone_number=phone,
            first_name=first_name,
            last_name="Demo",
            password=DEMO_PASSWORD,
        )
        phones.append(phone)
        if funded:
            await fund(database, person.account_id, "50000.00")
    return phones
