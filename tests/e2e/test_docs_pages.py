"""The API documentation and the landing page with the network cut: the browser may reach
the server and nothing else. ``/docs`` (Swagger UI) lists the operations, ``/redoc`` shows
its menu, ``/`` links the pages, and no request leaves the server."""

from __future__ import annotations

import json
import urllib.request
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from tests.e2e.conftest import ARTIFACTS, shot

pytestmark = pytest.mark.slow

TAG = "Ledger v1"
# ReDoc's menu shows Redocly's logo from its CDN; the page's Content-Security-Policy
# refuses it before any request is made (and ReDoc then leaves the logo out).
REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
SUMMARY = "Create transaction"


def offline_context(browser: Browser, server: str, left: list[str]) -> BrowserContext:
    """A context whose requests to any host but the server's are aborted and recorded;
    the page's console errors (a refused Content-Security-Policy among them) too."""
    ours = urlsplit(server).netloc
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="es-CO")

    def guard(route: Route) -> None:
        url = route.request.url
        if url.startswith(("data:", "blob:")) or urlsplit(url).netloc == ours:
            route.continue_()
        else:
            left.append(url)
            route.abort()

    context.route("**/*", guard)
    return context


def screen(page: Page, name: str, kind: str) -> None:
    """What the first screen shows (the documentation pages are very long)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{kind}-{name}.png"))


def operations_of(server: str, tag: str) -> list[str]:
    with urllib.request.urlopen(f"{server}/openapi.json", timeout=10) as answer:
        schema = json.load(answer)
    return [
        operation["summary"]
        for operations in schema["paths"].values()
        for operation in operations.values()
        if tag in operation.get("tags", [])
    ]


def test_docs_and_landing_are_served_whole_without_a_network(
    server: str, browser: Browser, backend: object
) -> None:
    kind = getattr(backend, "kind", "db")
    left: list[str] = []
    errors: list[str] = []
    context = offline_context(browser, server, left)
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tagged = operations_of(server, TAG)
    assert SUMMARY in tagged

    page.goto(f"{server}/", timeout=15_000)
    for link in ("/app", "/admin", "/docs", "/redoc", "/healthz"):
        expect(page.locator(f'main a[href="{link}"]')).to_be_visible()
    expect(page.locator("#link-docs strong")).to_have_text("Referencia de la API")
    shot(page, "landing-es", kind)
    page.click("#lang-en")
    expect(page.locator("#link-docs strong")).to_have_text("API reference")
    page.reload()
    expect(page.locator("#lang-en")).to_have_attribute("aria-pressed", "true")
    shot(page, "landing-en", kind)
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.locator('main a[href="/redoc"]')).to_be_in_viewport()
    shot(page, "landing-en-phone", kind)
    page.set_viewport_size({"width": 1280, "height": 800})

    page.goto(f"{server}/docs", timeout=15_000)
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("caja", timeout=15_000)
    section = page.locator(f'.opblock-tag-section:has(h3[data-tag="{TAG}"])')
    expect(section.locator(".opblock")).to_have_count(len(tagged), timeout=15_000)
    expect(section.get_by_text(SUMMARY, exact=True).first).to_be_visible()
    screen(page, "docs-swagger", kind)

    page.goto(f"{server}/redoc", timeout=15_000)
    menu = page.locator(".menu-content")
    expect(menu.get_by_text(SUMMARY, exact=True).first).to_be_attached(timeout=20_000)
    expect(page.locator("h2", has_text=SUMMARY).first).to_be_visible()
    screen(page, "docs-redoc", kind)

    context.close()
    assert left == []
    refused = [e for e in errors if "Content Security Policy" in e]
    assert all(REDOCLY_LOGO in e for e in refused), refused
