"""The ops console at ``/admin`` in headless Chromium (Debian's, with Playwright).

A ledger client moves money between two accounts, two wallet profiles pay each other and
a merchant buys top-ups from the sandbox operator, one left open. Then someone who runs
caja opens the console in Spanish on a phone: the overview's chart, search by a
transfer's token and by an account's phone number, the transfer's page (entries, running
balances, journal hash), the account's page (its chart and statement), and verify run
from the page. Then in English on a laptop: transfers filtered and paged, nothing cut
off, a CSV export of what is listed, reconcile now, the audit trail and log-out.
Screenshots of each step are saved under ``test-artifacts/screenshots``.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import re
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from caja.clients.service import create_client
from caja.db.engine import Database
from caja.ops.funding import fund
from tests.conftest import run_async
from tests.e2e.conftest import CAJA, shot

pytestmark = pytest.mark.slow

LEDGER = "/api/ledger/v1/public"
WALLET = "/api/wallet/v1"
GATEWAY = "/api/gateway_topup/v1"
TRANSFERS = 12  # ledger transfers between the two accounts, besides the funding


@dataclass
class Seeded:
    admin_key: str
    payer: str  # the ledger account that pays
    payer_phone: str
    payee: str
    transfers: list[str] = field(default_factory=list)  # ledger transfers, oldest first


def on_database(database_url: str, work: Callable[[Database], Awaitable[object]]) -> None:
    """``work`` on the server's database, from this process (quicker than a command)."""

    async def main() -> None:
        database = Database(database_url)
        try:
            await work(database)
        finally:
            await database.dispose()

    run_async(main)


def funded(database_url: str, *targets: tuple[str, str]) -> None:
    async def work(database: Database) -> None:
        for target, amount in targets:
            await fund(database, target, amount)

    on_database(database_url, work)


def _accounts(http: httpx.Client, key: str) -> list[str]:
    headers = {"X-Account-api-key": key}
    accounts = []
    for n, name in enumerate(["Marta Ruiz", "Tienda Sol"]):
        body = {
            "phone_number": f"+57300555000{n}",
            "owner_legal_id_type": "CC",
            "owner_legal_id_number": f"1020304{n}",
            "owner_full_name": name,
            "owner_email": f"owner{n}@example.com",
        }
        answer = http.post(f"{LEDGER}/account", json=body, headers=headers)
        assert answer.status_code == 201, answer.text
        accounts.append(answer.json()["token"])
    return accounts


def _transfers(http: httpx.Client, key: str, payer: str, payee: str) -> list[str]:
    headers = {"X-Account-api-key": key}
    tokens = []
    for n in range(TRANSFERS):
        body = {
            "origin_account": payer,
            "destination_account": payee,
            "amount": str(12500 + 2500 * n),
            "description": f"pedido {n + 1}",
            "unique_transfer_token": f"order-{n}",
        }
        answer = http.post(f"{LEDGER}/transaction", json=body, headers=headers)
        assert answer.status_code == 201, answer.text
        tokens.append(answer.json()["token"])
    return tokens


def _people(http: httpx.Client) -> dict[str, tuple[str, dict[str, str]]]:
    people = {}
    for phone, first in (("3001112233", "Ana"), ("3004445566", "Luis")):
        signup = {
            "phone_number": phone,
            "first_name": first,
            "last_name": "Paz",
            "password": "a long enough password",
        }
        assert http.post(f"{WALLET}/auth/signup", json=signup).status_code in (200, 201)
        login = {"phone_number": phone, "password": "a long enough password"}
        token = http.post(f"{WALLET}/auth/login", json=login).json()["token"]
        people[first] = (
            token,
            http.get(f"{WALLET}/profile/", headers={"X-Authorization": token}).json(),
        )
    return people


def _send(http: httpx.Client, people: dict[str, tuple[str, dict[str, str]]]) -> None:
    ana_token, ana = people["Ana"]
    send = {
        "from_account_id": ana["account_id"],
        "to_profile_id": people["Luis"][1]["profile_id"],
        "asset_key": "COP",
        "amount": "37500",
        "meta_data": {"notes": "almuerzo"},
    }
    answer = http.post(
        f"{WALLET}/profile/send-to-profile", json=send, headers={"X-Authorization": ana_token}
    )
    assert answer.status_code in (200, 201), answer.text


def _topups(http: httpx.Client, key: str) -> None:
    basic = {"Authorization": "Basic " + base64.b64encode(key.encode()).decode()}
    # 3110001111 is authorized at once; 3110004444 stays in progress until reconciled.
    for n, number in enumerate(("3110001111", "3110004444")):
        body = {
            "idempotency_token": f"recarga-{n}",
            "amount": 5000,
            "service_provider": "etb",
            "destination_number": number,
            "payment_token": f"pay-{n}",
            "payment_origin": "shop",
        }
        http.post(f"{GATEWAY}/topup_account", json=body, headers=basic)


def seed(server: str, database_url: str) -> Seeded:
    """A ledger client's transfers, a wallet send and two top-ups (one left in progress),
    set up through the APIs; the clients are made and funded on the database directly,
    the admin key with ``caja clients create`` (run meanwhile)."""
    admin = subprocess.Popen(
        [CAJA, "clients", "create", "--name", "ops", "--scope", "admin", "--json"],
        env={**os.environ, "CAJA_DATABASE_URL": database_url},
        stdout=subprocess.PIPE,
        text=True,
    )
    made = {}

    async def clients(database: Database) -> None:
        made["acme"] = await create_client(database, "acme", ["ledger:admin"])
        made["shop"] = await create_client(database, "shop", ["topup"], 50_000_00)

    on_database(database_url, clients)
    acme, shop = made["acme"], made["shop"]
    with httpx.Client(base_url=server, timeout=30) as http:
        payer, payee = _accounts(http, acme.api_key)
        people = _people(http)
        funded(
            database_url,
            (payer, "500000"),
            (people["Ana"][1]["account_id"], "80000"),
            (shop.client_id, "100000"),
        )
        tokens = _transfers(http, acme.api_key, payer, payee)
        _send(http, people)
        _topups(http, shop.api_key)
    output, _ = admin.communicate(timeout=60)
    assert admin.returncode == 0
    return Seeded(json.loads(output)["api_key"], payer, "+573005550000", payee, tokens)


def log_in(page: Page, server: str, key: str, button: str) -> None:
    page.goto(f"{server}/admin")
    expect(page.locator("#key-button")).to_have_text(button)
    page.fill("#admin-key", key)
    page.click("#key-button")
    expect(page.locator("#moved-chart")).to_be_visible()


def search(page: Page, term: str) -> None:
    page.fill("#search-input", term)
    page.click("#search-button")
    expect(page.locator("#results")).to_contain_text(term)


def inside(page: Page, selector: str) -> None:
    """Every cell of ``selector`` shows whole within the viewport's width."""
    width = page.viewport_size["width"] if page.viewport_size else 0
    cells = page.locator(selector)
    for n in range(cells.count()):
        box = cells.nth(n).bounding_box()
        assert box is not None, (selector, n)
        assert box["x"] >= 0, (selector, n, box)
        assert box["x"] + box["width"] <= width, (selector, n, box)


def spanish_on_a_phone(browser: Browser, server: str, seeded: Seeded, kind: str) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="es-CO")
    page = context.new_page()
    page.goto(f"{server}/admin")
    expect(page.locator("#lang-es")).to_have_attribute("aria-pressed", "true")
    page.fill("#admin-key", "ck-not-a-key")
    page.click("#key-button")
    expect(page.locator("#key-message")).to_have_text("Esa llave no es válida.")
    log_in(page, server, seeded.admin_key, "Entrar")

    # The overview: a chart with axes and values, in pesos as Colombians write them.
    expect(page.locator("#verify-line")).to_have_text("La verificación aún no se ha ejecutado.")
    expect(page.locator("#run-verify")).to_have_text("Ejecutar verificación")
    assert page.locator("#moved-chart .y-axis text").count() >= 3
    assert page.locator("#moved-chart .x-axis text").count() >= 3
    bars = page.locator("#moved-chart rect.bar")
    expect(bars).to_have_count(24)
    heights = [float(bars.nth(n).get_attribute("height") or 0) for n in range(24)]
    tallest = bars.nth(heights.index(max(heights)))
    assert max(heights) > 0
    expect(tallest.locator("title")).to_contain_text("$")
    tallest.hover()
    expect(page.locator("#chart .tip")).to_contain_text(re.compile(r"\$\s?[\d.]+,\d\d"))
    expect(page.locator("#surfaces")).to_contain_text("ledger_v1")
    expect(page.locator("#latest")).to_contain_text("$ 37.500,00")
    inside(page, "#latest td.num")
    shot(page, "console-1-overview-es", kind)

    # Search by a transfer's token; its page, reloadable from its link.
    wanted = seeded.transfers[-1]
    search(page, wanted)
    shot(page, "console-2-search-transfer-es", kind)
    page.click(f"#results a:has-text('{wanted}')")
    expect(page).to_have_url(re.compile(f"#/transfer/{wanted}$"))
    page.reload()
    expect(page.locator("h1")).to_have_text(f"Transferencia {wanted}")
    rows = page.locator("#entries tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("#entries")).to_contain_text("-$ 40.000,00")
    expect(page.locator("#journal-hash")).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
    inside(page, "#entries td.num")
    shot(page, "console-3-transfer-es", kind)

    # Search by the account's phone number; its page with its chart and statement.
    search(page, seeded.payer_phone)
    page.click(f"#results a:has-text('{seeded.payer}')")
    expect(page.locator("#account-facts")).to_contain_text(seeded.payer)
    expect(page.locator("#balance-chart path.line")).to_have_count(1)
    expect(page.locator("#balance-chart circle.point")).to_have_count(TRANSFERS + 1)
    assert page.locator("#balance-chart .y-axis text").count() >= 3
    expect(page.locator("#statement tbody tr")).to_have_count(TRANSFERS + 1)
    expect(page.locator("#statement tbody tr").first).to_contain_text("-$ 40.000,00")
    inside(page, "#statement td.num")
    shot(page, "console-4-account-es", kind)

    # Run verify from the page and read its report.
    page.click("nav a[data-route=verify]")
    page.click("#run-verify")
    expect(page.locator("#verify-line")).to_contain_text("Consistente")
    assert page.locator("#checks tbody tr").count() >= 3
    shot(page, "console-5-verify-es", kind)
    context.close()


def transfers_filtered_and_paged(page: Page, seeded: Seeded, kind: str) -> list[str]:
    page.click("nav a[data-route=transfers]")
    page.select_option("#f-surface", "ledger_v1")
    page.select_option("#f-limit", "10")
    today = datetime.now(ZoneInfo("America/Bogota")).date().isoformat()
    page.fill("#f-from", today)
    page.fill("#f-to", today)
    page.click("#f-apply")
    expect(page).to_have_url(re.compile(f"surface=ledger_v1&from={today}&to={today}"))
    rows = page.locator("#transfers tbody tr")
    expect(rows).to_have_count(10)
    expect(page.locator("#transfers tbody tr").first).to_contain_text(seeded.transfers[-1])
    inside(page, "#transfers td.amount")
    inside(page, "#transfers th")
    shown = [
        page.locator("#transfers tbody tr").nth(n).locator("td").last.inner_text()
        for n in range(10)
    ]
    shot(page, "console-6-transfers-en", kind)
    page.click("#transfers-next")
    expect(rows).to_have_count(TRANSFERS - 10)
    expect(page.locator("#transfers-page")).to_have_text("Page 2")
    expect(page.locator("#transfers-next")).to_be_disabled()
    shown += [
        page.locator("#transfers tbody tr").nth(n).locator("td").last.inner_text()
        for n in range(TRANSFERS - 10)
    ]
    page.click("#transfers-prev")
    expect(rows).to_have_count(10)
    return shown


def english_on_a_laptop(browser: Browser, server: str, seeded: Seeded, kind: str) -> None:
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, locale="en-US", accept_downloads=True
    )
    page = context.new_page()
    log_in(page, server, seeded.admin_key, "Open")
    expect(page.locator("#verify-line")).to_contain_text("Consistent")
    inside(page, "#latest td.num")
    shot(page, "console-7-overview-en", kind)

    shown = transfers_filtered_and_paged(page, seeded, kind)
    assert shown == list(reversed(seeded.transfers))

    # The CSV export downloads the rows of the list, with the same filter.
    with page.expect_download() as downloaded:
        page.click("#transfers-csv")
    rows = list(csv.DictReader(io.StringIO(downloaded.value.path().read_text(encoding="utf-8"))))
    assert [row["token"] for row in rows] == shown
    assert {row["surface"] for row in rows} == {"ledger_v1"}

    # Top-ups by status, and reconcile now settles the open one.
    page.click("nav a[data-route=purchases]")
    expect(page.locator("#purchase-counts")).to_contain_text("in_progress")
    expect(page.locator("#purchase-list tbody tr")).to_have_count(2)
    inside(page, "#purchase-list td")
    page.click("#reconcile")
    expect(page.locator("#reconcile-result")).to_contain_text("authorized: 1")
    expect(page.locator("#purchase-counts")).not_to_contain_text("in_progress")
    shot(page, "console-8-reconciled-en", kind)

    # The top-up's transfers: the newest settles the hold, which the page links to.
    page.goto(f"{page.url.split('#')[0]}#/transfers?surface=topup")
    page.locator("#transfers td.when a").first.click()
    expect(page.locator("#transfer-purchase")).to_contain_text("3110004444")
    expect(page.locator("#transfer-facts")).to_contain_text("Hold")
    expect(page.locator("#transfer-facts")).to_contain_text("post_pending")
    shot(page, "console-8b-topup-transfer-en", kind)

    # The audit trail lists what was run and exported; the language switch is remembered.
    page.click("nav a[data-route=audit]")
    for action in ("verify", "CSV export", "reconcile"):
        expect(page.locator("#audit")).to_contain_text(action)
    page.click("#lang-es")
    expect(page.locator("#audit")).to_contain_text("exportación CSV")
    page.reload()
    expect(page.locator("nav a[data-route=audit]")).to_have_text("Auditoría")
    shot(page, "console-9-audit-es", kind)
    page.click("#logout")
    expect(page.locator("#admin-key")).to_be_visible()
    assert page.evaluate("() => sessionStorage.getItem('admin-key')") is None
    context.close()


def test_the_ops_console_in_spanish_on_a_phone_and_english_on_a_laptop(
    server: str, browser: Browser, database_url: str, backend: object
) -> None:
    kind = getattr(backend, "kind", "db")
    seeded = seed(server, database_url)
    spanish_on_a_phone(browser, server, seeded, kind)
    english_on_a_laptop(browser, server, seeded, kind)
