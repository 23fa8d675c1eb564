"""The wallet app and the ops dashboard in headless Chromium (Debian's, with Playwright).

Two people sign up, one is funded with `caja fund`, they find each other, save a contact,
send money with the confirmation step, see the new balances and the history, and see the
"not enough balance" message; then the dashboard shows its chart. Screenshots of each
step are saved under ``test-artifacts/screenshots`` (or ``CAJA_TEST_ARTIFACTS``).
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import caja, shot

pytestmark = pytest.mark.slow


def sign_up(page: Page, base: str, phone: str, first: str, last: str) -> None:
    page.goto(f"{base}/app")
    page.click("#tab-signup")
    page.fill("#signup-phone", phone)
    page.fill("#signup-first", first)
    page.fill("#signup-last", last)
    page.fill("#signup-password", "a long enough password")
    page.click("#signup-button")
    expect(page.locator("#who")).to_contain_text(f"{first} {last}")


def test_two_people_send_money_in_the_browser_and_the_dashboard_charts_it(
    server: str, browser: Browser, database_url: str, backend: object
) -> None:
    kind = getattr(backend, "kind", "db")
    # A phone-sized screen for one person, a laptop for the other.
    ana = browser.new_page(viewport={"width": 390, "height": 844})
    luis = browser.new_page(viewport={"width": 1280, "height": 800})
    sign_up(ana, server, "3001234567", "Ana", "Paz")
    sign_up(luis, server, "3007654321", "Luis", "Gil")
    shot(ana, "1-signed-up", kind)
    expect(ana.locator("#balance-COP")).to_have_text("0.00")

    profile = ana.evaluate(
        "() => fetch('/api/wallet/v1/profile/', "
        "{headers: {'X-Authorization': sessionStorage.getItem('token')}}).then(r => r.json())"
    )
    caja(database_url, "fund", profile["account_id"], "150.00")
    ana.reload()
    expect(ana.locator("#balance-COP")).to_have_text("150.00")

    ana.fill("#find-phone", "3007654321")
    ana.click("#find-button")
    expect(ana.locator("#found-name")).to_have_text("Luis Gil")
    ana.click("#save-contact")
    expect(ana.locator("#contacts")).to_contain_text("Luis Gil (3007654321)")
    ana.click("#send-found")
    ana.fill("#send-amount", "100.50")
    ana.fill("#send-notes", "lunch")
    ana.click("#review-button")
    expect(ana.locator("#confirm-text")).to_have_text("Send 100.50 COP to Luis Gil?")
    shot(ana, "2-confirm", kind)
    ana.click("#confirm-button")
    expect(ana.locator("#send-message")).to_have_text("Sent 100.50 COP to Luis.")
    expect(ana.locator("#balance-COP")).to_have_text("49.50")
    expect(ana.locator("#history")).to_contain_text("Sent to Luis Gil · lunch")
    shot(ana, "3-sent", kind)

    ana.fill("#send-amount", "50")
    ana.click("#review-button")
    ana.click("#confirm-button")
    expect(ana.locator("#send-message")).to_have_text(
        "Not enough balance for this payment. Nothing was sent."
    )
    expect(ana.locator("#balance-COP")).to_have_text("49.50")
    shot(ana, "4-not-enough", kind)

    luis.fill("#find-phone", "3001234567")
    luis.click("#find-button")
    expect(luis.locator("#found-name")).to_have_text("Ana Paz")
    luis.reload()
    expect(luis.locator("#balance-COP")).to_have_text("100.50")
    expect(luis.locator("#history")).to_contain_text("Received from Ana Paz · lunch")
    shot(luis, "5-received", kind)

    caja(database_url, "verify")
    admin_key = json.loads(
        caja(database_url, "clients", "create", "--name", "ops", "--scope", "admin", "--json")
    )["api_key"]
    dashboard = browser.new_page(viewport={"width": 1280, "height": 900})
    dashboard.goto(f"{server}/admin")
    dashboard.fill("#admin-key", admin_key)
    dashboard.click("#key-button")
    expect(dashboard.locator("#verify-line")).to_contain_text("Consistent")
    bars = dashboard.locator("#moved-chart rect.bar")
    expect(bars).to_have_count(24)
    heights = [float(bars.nth(n).get_attribute("height") or 0) for n in range(24)]
    assert max(heights) > 0
    expect(dashboard.locator("#surfaces")).to_contain_text("wallet")
    expect(dashboard.locator("#latest")).to_contain_text(re.compile(r"100\.50 COP"))
    shot(dashboard, "6-dashboard", kind)
