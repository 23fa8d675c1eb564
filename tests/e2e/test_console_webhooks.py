"""The webhooks in the ops console, in headless Chromium.

Two clients have endpoints: Acme one that works and one that gave up (disabled after its
retries ran out), the shop one. Someone who runs caja opens the console in Spanish on a
phone: the overview warns of the disabled endpoint and links to it; the webhooks view
marks it and why; a delivery's page shows its attempts with their answers and the event.
Then in English on a laptop: the endpoint is enabled again, the overview stops warning,
and the event is replayed from its delivery's page, which makes new deliveries; the audit
trail lists both. Screenshots of each step are saved under ``test-artifacts/screenshots``.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy.engine import Connection

from caja.clients.service import authenticate, create_client
from caja.db.engine import Database
from caja.ledger import events
from caja.webhooks import service
from tests import webhook_rows
from tests.e2e.conftest import CAJA, shot
from tests.e2e.test_console import inside, on_database

pytestmark = pytest.mark.slow

LIVE = "https://hooks.acme.example/caja"
DEAD = "https://old.acme.example/webhooks"
# As the runner words it; the console says it in the page's language.
REASON = "failing since 2026-12-05T15:00:00Z: 8 attempts, the last HTTP 503"


@dataclass
class Seeded:
    admin_key: str
    live: str
    dead: str
    delivery: int  # the live endpoint's first delivery: two failures, then delivered
    event: str  # its event


def _rows(connection: Connection, acme: int, shop: int) -> Seeded:
    live = service.add_endpoint(connection, acme, LIVE, allow_private=True).endpoint.token
    dead = service.add_endpoint(
        connection, acme, DEAD, ["ledger.transfer.created"], allow_private=True
    ).endpoint.token
    service.add_endpoint(connection, shop, "https://tienda.example/hook", allow_private=True)
    events.append(
        connection,
        [
            events.NewEvent(
                "ledger.transfer.created", client, {"token": f"tx-{n}", "amount": 12500.0}
            )
            for client, n in ((acme, 1), (acme, 2), (shop, 3))
        ],
    )
    tokens = [
        row.token for client in (acme, shop) for row in events.events_of_client(connection, client)
    ]
    for token in tokens:
        service.replay(connection, token)
    first = service.deliveries(connection, endpoint_token=live, limit=100)[-1]
    webhook_rows.attempt(connection, first.id, 503, response="Service Unavailable", duration_ms=81)
    webhook_rows.attempt(
        connection, first.id, None, error="no answer within 10 s", duration_ms=10002
    )
    webhook_rows.attempt(connection, first.id, 200, response='{"ok":true}', outcome="delivered")
    last = service.deliveries(connection, endpoint_token=dead, limit=1)[0]
    webhook_rows.attempt(
        connection, last.id, 500, response="Internal Server Error", outcome="failed"
    )
    webhook_rows.disable(connection, dead, REASON)
    return Seeded("", live, dead, first.id, first.event_token)


def seed(database_url: str) -> Seeded:
    admin = subprocess.Popen(
        [CAJA, "clients", "create", "--name", "ops", "--scope", "admin", "--json"],
        env={**os.environ, "CAJA_DATABASE_URL": database_url},
        stdout=subprocess.PIPE,
        text=True,
    )
    made: dict[str, Seeded] = {}

    async def work(database: Database) -> None:
        ids = []
        for name in ("Acme Pagos", "Tienda Sol"):
            made_client = await create_client(database, name, ["ledger:admin"])
            principal = await authenticate(database, made_client.api_key)
            assert principal is not None
            ids.append(principal.client_id)
        made["rows"] = await database.write(lambda connection: _rows(connection, *ids))

    on_database(database_url, work)
    output, _ = admin.communicate(timeout=60)
    assert admin.returncode == 0
    made["rows"].admin_key = json.loads(output)["api_key"]
    return made["rows"]


def log_in(page: Page, server: str, key: str) -> None:
    page.goto(f"{server}/admin")
    page.fill("#admin-key", key)
    page.click("#key-button")
    expect(page.locator("#moved-chart")).to_be_visible()


def spanish_on_a_phone(browser: Browser, server: str, seeded: Seeded, kind: str) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="es-CO")
    page = context.new_page()
    log_in(page, server, seeded.admin_key)

    # The overview warns, and links to the endpoint.
    warning = page.locator("#webhook-warning")
    expect(warning).to_contain_text("Un endpoint de webhooks está deshabilitado")
    expect(warning).to_contain_text("falla desde el ")
    expect(warning).to_contain_text(": 8 intentos, el último HTTP 503")
    expect(page.locator("#stat-failed b")).to_have_text("1")
    shot(page, "console-webhooks-1-overview-es", kind)
    warning.locator(f"a:has-text('{DEAD}')").click()

    # The webhooks view: the disabled endpoint first, marked, with why and since when.
    expect(page.locator("nav a[data-route=webhooks]")).to_have_class("active")
    dead = page.locator(f"#ep-{seeded.dead}")
    expect(dead).to_have_attribute("data-state", "disabled")
    expect(dead).to_have_class("endpoint off focus")
    expect(dead.locator(".reason")).to_contain_text("Deshabilitado desde el ")
    expect(dead.locator(".reason")).to_contain_text("8 intentos, el último HTTP 503")
    expect(dead.locator("button.enable")).to_have_text("Habilitar")
    expect(page.locator(f"#ep-{seeded.live}")).to_have_attribute("data-state", "enabled")
    expect(page.locator(f"#ep-{seeded.live} button.enable")).to_have_count(0)
    expect(page.locator("#endpoints article").first).to_have_id(f"ep-{seeded.dead}")
    rows = page.locator("#deliveries tbody tr")
    expect(page.locator("#deliveries")).to_contain_text("fallida")
    shot(page, "console-webhooks-2-endpoints-es", kind)
    inside(page, "#deliveries td:visible")
    inside(page, "#endpoints article")

    # A delivery's page: its attempts and answers, and the event.
    page.select_option("#w-endpoint", seeded.live)
    page.select_option("#w-status", "delivered")
    page.click("#w-apply")
    expect(rows).to_have_count(1)
    rows.first.locator("td.when a").click()
    expect(page.locator("h1")).to_have_text(f"Entrega {seeded.delivery}")
    expect(page.locator("#delivery-status")).to_have_text("entregada")
    attempts = page.locator("#attempts tbody tr")
    expect(attempts).to_have_count(3)
    expect(attempts.nth(0)).to_contain_text("Service Unavailable")
    expect(attempts.nth(1)).to_contain_text("sin respuesta en 10 s")
    expect(attempts.nth(1)).to_contain_text("10.002 ms")
    expect(attempts.nth(2)).to_contain_text("200")
    expect(page.locator("#event-json")).to_contain_text(f'"id": "{seeded.event}"')
    expect(page.locator("#event-json")).to_contain_text('"type": "ledger.transfer.created"')
    shot(page, "console-webhooks-3-delivery-es", kind)
    context.close()


def deliveries_of(server: str, key: str, event: str) -> int:
    answer = httpx.get(
        f"{server}/admin/api/webhooks/deliveries",
        params={"limit": 500},
        headers={"X-Admin-Key": key},
        timeout=30,
    )
    return sum(1 for row in answer.json()["data"] if row["event_id"] == event)


def english_on_a_laptop(browser: Browser, server: str, seeded: Seeded, kind: str) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    page = context.new_page()
    log_in(page, server, seeded.admin_key)
    expect(page.locator("#webhook-warning")).to_contain_text("A webhook endpoint is disabled")
    page.click("nav a[data-route=webhooks]")
    expect(page.locator(f"#ep-{seeded.dead} .reason")).to_contain_text("Disabled since")
    expect(page.locator(f"#ep-{seeded.dead} .reason")).to_contain_text(
        "8 attempts, the last HTTP 503"
    )
    inside(page, "#deliveries th")
    shot(page, "console-webhooks-4-endpoints-en", kind)

    # Enable: the endpoint is marked enabled, and the overview stops warning.
    page.click(f"#ep-{seeded.dead} button.enable")
    expect(page.locator("#enabled-notice")).to_contain_text("Endpoint enabled")
    expect(page.locator(f"#ep-{seeded.dead}")).to_have_attribute("data-state", "enabled")
    expect(page.locator("#endpoints button.enable")).to_have_count(0)
    shot(page, "console-webhooks-5-enabled-en", kind)
    page.click("nav a[data-route=home]")
    expect(page.locator("#moved-chart")).to_be_visible()
    expect(page.locator("#webhook-warning")).to_have_count(0)

    # Replay from the delivery's page: one new delivery per enabled endpoint of Acme.
    before = deliveries_of(server, seeded.admin_key, seeded.event)
    page.goto(f"{server}/admin#/webhooks/deliveries/{seeded.delivery}")
    expect(page.locator("#attempts tbody tr")).to_have_count(3)
    page.click("#replay")
    expect(page.locator("#replay-result")).to_contain_text("New deliveries of the event: 2.")
    assert deliveries_of(server, seeded.admin_key, seeded.event) >= before + 2
    shot(page, "console-webhooks-6-replayed-en", kind)
    page.locator("#replay-result a").click()
    expect(page.locator("#deliveries tbody tr").first).to_contain_text("pending")

    page.click("nav a[data-route=audit]")
    expect(page.locator("#audit")).to_contain_text("event replay")
    expect(page.locator("#audit")).to_contain_text("enable webhook")
    context.close()


def test_webhooks_in_the_console_in_spanish_on_a_phone_and_english_on_a_laptop(
    server: str, browser: Browser, database_url: str, backend: object
) -> None:
    kind = getattr(backend, "kind", "db")
    seeded = seed(database_url)
    spanish_on_a_phone(browser, server, seeded, kind)
    english_on_a_laptop(browser, server, seeded, kind)
