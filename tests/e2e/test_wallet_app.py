"""The wallet app ``/app`` in headless Chromium (Debian's, with Playwright).

Ana uses it in Spanish on a phone (390 by 844), Luis in English on a laptop (1280 by 800). The
first test walks the states a new user met (logged-out panels, Find while logged out, raw
API texts, forms left filled, tabs) and a send with its confirmation; the second walks a
send retried after a lost answer, money requested through a link and the history's pages.
Screenshots of each step are saved under ``test-artifacts/screenshots``.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from tests.e2e.conftest import caja, shot

pytestmark = pytest.mark.slow

API = "/api/wallet/v1"
PASSWORD = "a long enough password"
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 800}


def contexts(browser: Browser) -> tuple[BrowserContext, BrowserContext]:
    spanish = browser.new_context(locale="es-CO", viewport=PHONE)
    english = browser.new_context(locale="en-US", viewport=LAPTOP)
    for context in (spanish, english):
        context.set_default_timeout(10_000)
    return spanish, english


def sign_up(page: Page, base: str, phone: str, first: str, last: str) -> None:
    page.goto(f"{base}/app")
    page.click("#tab-signup")
    page.fill("#signup-phone", phone)
    page.fill("#signup-first", first)
    page.fill("#signup-last", last)
    page.fill("#signup-password", PASSWORD)
    page.click("#signup-button")
    expect(page.locator("#who")).to_contain_text(f"{first} {last}")


def log_in(page: Page, phone: str) -> None:
    page.fill("#login-phone", phone)
    page.fill("#login-password", PASSWORD)
    page.click("#login-button")
    expect(page.locator("#signed-in")).to_be_visible()


def token(page: Page) -> str:
    return str(page.evaluate("sessionStorage.getItem('token')"))


def api(base: str, page: Page) -> httpx.Client:
    return httpx.Client(base_url=base + API, headers={"X-Authorization": token(page)}, timeout=20)


def payments(base: str, page: Page) -> list[dict[str, Any]]:
    with api(base, page) as client:
        answer = client.get("/profile/payment_transaction", params={"type": 1})
        answer.raise_for_status()
        found: list[dict[str, Any]] = answer.json()["data"]
        return found


def bogota_time(created_at: str) -> str:
    """The hour and minutes of a UTC time in Bogotá, as the page shows them (12-hour)."""
    moment = datetime.fromisoformat(created_at.replace("Z", "+00:00")).astimezone(
        ZoneInfo("America/Bogota")
    )
    return f"{moment.hour % 12 or 12}:{moment.minute:02d}"


def find(page: Page, phone: str) -> None:
    page.fill("#find-phone", phone)
    page.click("#find-button")


def test_logged_out_states_sign_up_log_in_and_a_confirmed_send(
    server: str, browser: Browser, database_url: str, backend: object
) -> None:
    kind = getattr(backend, "kind", "db")
    spanish, english = contexts(browser)
    ana, luis = spanish.new_page(), english.new_page()
    api_calls: list[str] = []
    ana.on("request", lambda r: api_calls.append(r.url) if API in r.url else None)

    # Logged out: only the log-in and sign-up panels, in Spanish; Find cannot reach the API.
    ana.goto(f"{server}/app")
    expect(ana.locator("html")).to_have_attribute("lang", "es-CO")
    expect(ana.locator("#signed-out")).to_be_visible()
    for hidden in ("#signed-in", "#find-form", "#balances", "#history", "#request-form"):
        expect(ana.locator(hidden)).to_be_hidden()
    expect(ana.locator("#tab-login")).to_have_text("Iniciar sesión")
    expect(ana.locator("#tab-login")).to_have_attribute("aria-selected", "true")
    expect(ana.locator("#tab-signup")).to_have_attribute("aria-selected", "false")
    ana.evaluate(
        "() => { document.getElementById('find-phone').value = '3007654321';"
        " document.getElementById('find-form').requestSubmit(); }"
    )
    ana.wait_for_timeout(300)
    assert api_calls == []
    assert "X-Authorization" not in ana.locator("body").inner_text()
    shot(ana, "app-es-1-logged-out", kind)

    # A refused log-in says so in plain Spanish; switching tabs clears it.
    ana.fill("#login-phone", "3001234567")
    ana.fill("#login-password", "not the password")
    ana.click("#login-button")
    expect(ana.locator("#auth-message")).to_have_text("Número o contraseña incorrectos.")
    shot(ana, "app-es-2-login-refused", kind)
    ana.click("#tab-signup")
    expect(ana.locator("#auth-message")).to_be_hidden()
    expect(ana.locator("#tab-signup")).to_have_attribute("aria-selected", "true")
    expect(ana.locator("#tab-login")).to_have_attribute("aria-selected", "false")

    sign_up(ana, server, "3001234567", "Ana", "Paz")
    sign_up(luis, server, "3007654321", "Luis", "Gil")
    expect(ana.locator("#balance-COP")).to_have_text("$ 0,00")
    expect(luis.locator("#balance-COP")).to_have_text("COP 0.00")
    expect(luis.locator("html")).to_have_attribute("lang", "en-US")
    profile = ana.evaluate(
        "() => fetch('/api/wallet/v1/profile/', "
        "{headers: {'X-Authorization': sessionStorage.getItem('token')}}).then(r => r.json())"
    )
    caja(database_url, "fund", profile["account_id"], "150000.00")
    ana.reload()
    expect(ana.locator("#balance-COP")).to_have_text("$ 150.000,00")
    shot(ana, "app-es-3-signed-in", kind)

    # Find answers in friendly words, never the API's own text.
    find(ana, "12")
    expect(ana.locator("#found")).to_have_text(
        "Escribe un número de 7 a 15 dígitos, sin + ni espacios."
    )
    find(ana, "3009999999")
    expect(ana.locator("#found")).to_have_text("Nadie tiene una billetera con ese número.")
    find(ana, "3007654321")
    expect(ana.locator("#found-name")).to_have_text("Luis Gil")
    ana.click("#save-contact")
    expect(ana.locator("#contacts")).to_contain_text("Luis Gil")

    # A send with its confirmation: typed the Spanish way, a double click pays once.
    ana.click("#send-found")
    expect(ana.locator("#send-amount")).to_have_attribute("placeholder", "150.000,50")
    ana.fill("#send-amount", "100.000,50")
    ana.fill("#send-notes", "almuerzo")
    ana.click("#review-button")
    expect(ana.locator("#confirm-text")).to_have_text("¿Enviar $ 100.000,50 a Luis Gil?")
    shot(ana, "app-es-4-confirm", kind)
    ana.dblclick("#confirm-button")
    expect(ana.locator("#send-message")).to_have_text("Enviaste $ 100.000,50 a Luis.")
    expect(ana.locator("#balance-COP")).to_have_text("$ 49.999,50")
    expect(ana.locator("#send-amount")).to_have_value("")
    expect(ana.locator("#send-notes")).to_have_value("")
    made = payments(server, ana)
    assert [(p["amount"], p["direction"]) for p in made] == [("100000.50", "sent")]
    history = ana.locator("#history")
    expect(history.locator(".day").first).to_have_text("Hoy")
    expect(history.locator("li.payment")).to_have_count(1)
    expect(history).to_contain_text("Enviado a Luis Gil")
    expect(history).to_contain_text("\u2212 $ 100.000,50")
    expect(history).to_contain_text(bogota_time(made[0]["created_at"]))
    expect(history).to_contain_text("almuerzo")
    shot(ana, "app-es-5-sent", kind)

    ana.fill("#send-amount", "60.000")
    ana.click("#review-button")
    ana.click("#confirm-button")
    expect(ana.locator("#send-message")).to_have_text(
        "No tienes saldo suficiente. No se envió nada."
    )
    expect(ana.locator("#balance-COP")).to_have_text("$ 49.999,50")
    ana.fill("#send-amount", "10.5")
    ana.click("#review-button")
    expect(ana.locator("#send-message")).to_have_text("Escribe un monto como 150.000,50.")

    # Luis reads it in English, dates in Bogotá; the ES | EN switch changes everything.
    luis.reload()
    expect(luis.locator("#balance-COP")).to_have_text("COP 100,000.50")
    expect(luis.locator("#history .day").first).to_have_text("Today")
    expect(luis.locator("#history")).to_contain_text("Received from Ana Paz")
    expect(luis.locator("#history")).to_contain_text("+ COP 100,000.50")
    expect(luis.locator("#history")).to_contain_text(bogota_time(made[0]["created_at"]))
    shot(luis, "app-en-1-received", kind)
    luis.click("#lang-es")
    expect(luis.locator("html")).to_have_attribute("lang", "es-CO")
    expect(luis.locator("#balance-COP")).to_have_text("$ 100.000,50")
    expect(luis.locator("#history")).to_contain_text("Recibido de Ana Paz")
    luis.reload()
    expect(luis.locator("#logout-button")).to_have_text("Cerrar sesión")
    luis.click("#lang-en")
    expect(luis.locator("#logout-button")).to_have_text("Log out")

    # Log-out: back to the log-in panel, every form empty.
    ana.click("#logout-button")
    expect(ana.locator("#signed-out")).to_be_visible()
    expect(ana.locator("#signed-in")).to_be_hidden()
    expect(ana.locator("#tab-login")).to_have_attribute("aria-selected", "true")
    ana.click("#tab-signup")
    for field in ("#signup-phone", "#signup-first", "#signup-last", "#signup-password"):
        expect(ana.locator(field)).to_have_value("")
    for field in ("#login-phone", "#login-password", "#find-phone", "#send-amount"):
        expect(ana.locator(field)).to_have_value("")
    expect(ana.locator("#balances")).to_be_empty()
    shot(ana, "app-es-6-logged-out-again", kind)
    spanish.close()
    english.close()


def lose_first_answer(route: Route, seen: list[str]) -> None:
    """The first send reaches the server, but its answer is lost; later ones go through."""
    seen.append(route.request.headers.get("idempotency-key", ""))
    if len(seen) == 1:
        route.fetch()
        route.abort("connectionreset")
    else:
        route.continue_()


def test_a_retried_send_a_request_paid_through_its_link_and_history_pages(
    server: str, browser: Browser, database_url: str, backend: object
) -> None:
    kind = getattr(backend, "kind", "db")
    spanish, english = contexts(browser)
    ana, luis = spanish.new_page(), english.new_page()
    sign_up(ana, server, "3001112222", "Ana", "Paz")
    sign_up(luis, server, "3003334444", "Luis", "Gil")
    account = ana.evaluate(
        "() => fetch('/api/wallet/v1/profile/', "
        "{headers: {'X-Authorization': sessionStorage.getItem('token')}}).then(r => r.json())"
    )["account_id"]
    caja(database_url, "fund", account, "1000.00")
    ana.reload()

    # The answer to the first try is lost; the retry carries the same key and pays once.
    seen: list[str] = []
    ana.route("**/profile/send-to-profile", lambda route: lose_first_answer(route, seen))
    find(ana, "3003334444")
    ana.click("#send-found")
    ana.fill("#send-amount", "250")
    ana.click("#review-button")
    ana.click("#confirm-button")
    expect(ana.locator("#send-message")).to_contain_text("Se perdió la conexión")
    expect(ana.locator("#confirm")).to_be_visible()
    shot(ana, "app-es-7-answer-lost", kind)
    ana.click("#confirm-button")
    expect(ana.locator("#send-message")).to_have_text("Enviaste $ 250,00 a Luis.")
    expect(ana.locator("#balance-COP")).to_have_text("$ 750,00")
    assert len(seen) == 2
    assert seen[0] == seen[1] != ""
    assert len(payments(server, ana)) == 1

    # Luis asks for money; the link and the QR code are shown.
    luis.reload()
    expect(luis.locator("#request-amount")).to_have_attribute("placeholder", "150,000.50")
    luis.fill("#request-amount", "20.50")
    luis.fill("#request-notes", "taxi")
    luis.click("#request-button")
    expect(luis.locator("#request-message")).to_have_text("Request created for COP 20.50.")
    expect(luis.locator("#request-qr")).to_have_attribute("src", re.compile(r"^data:image/svg"))
    link = luis.locator("#request-link").input_value()
    assert re.fullmatch(re.escape(server) + r"/app#pay=prq-[A-Za-z0-9_-]+", link), link
    expect(luis.locator("#requests li.request")).to_have_count(1)
    expect(luis.locator("#requests")).to_contain_text("Open")
    luis.click("#copy-button")
    expect(luis.locator("#copied")).to_be_visible()
    shot(luis, "app-en-2-request", kind)

    # Ana opens the link logged out: log in first, then the payment, with one confirmation.
    ana.click("#logout-button")
    ana.goto(link)
    expect(ana.locator("#pay-notice")).to_be_visible()
    shot(ana, "app-es-8-pay-log-in-first", kind)
    log_in(ana, "3001112222")
    expect(ana.locator("#pay-request")).to_contain_text("Luis Gil te pide")
    expect(ana.locator("#pay-amount")).to_have_text("$ 20,50")
    shot(ana, "app-es-9-pay-request", kind)
    ana.click("#pay-review")
    expect(ana.locator("#pay-confirm-text")).to_have_text("¿Pagar $ 20,50 a Luis Gil?")
    ana.click("#pay-confirm-button")
    expect(ana.locator("#pay-message")).to_have_text("Pagaste $ 20,50 a Luis Gil.")
    expect(ana.locator("#balance-COP")).to_have_text("$ 729,50")
    luis.click("#requests-refresh")
    expect(luis.locator("#requests")).to_contain_text("Paid")
    shot(luis, "app-en-3-request-paid", kind)

    # Fifty-five more payments: the history shows fifty, then the rest on "Ver más".
    with api(server, luis) as client, ThreadPoolExecutor(4) as pool:
        me = client.get("/profile/").json()
        them = client.get("/contact", params={"find": "phone:3001112222"}).json()
        body = {
            "from_account_id": me["account_id"],
            "to_profile_id": them["profile_id"],
            "asset_key": "COP",
            "amount": "1.00",
        }
        answers = list(
            pool.map(lambda _: client.post("/profile/send-to-profile", json=body), range(55))
        )
        assert {a.json()["code"] for a in answers} == {200}
    ana.reload()
    rows = ana.locator("#history li.payment")
    expect(rows).to_have_count(50)
    expect(ana.locator("#more-button")).to_have_text("Ver más")
    ana.click("#more-button")
    expect(rows).to_have_count(57)
    expect(ana.locator("#more-button")).to_be_hidden()
    shot(ana, "app-es-10-history", kind)
    spanish.close()
    english.close()
