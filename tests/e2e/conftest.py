"""What the browser tests share: a live server on the test's database, Debian's Chromium
under Playwright, the ``caja`` command on the same database, and screenshots saved under
``test-artifacts/screenshots`` (or ``CAJA_TEST_ARTIFACTS``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.helpers import stop_server, wait_until_healthy
from tests.postgres import free_port

CHROMIUM = "/usr/bin/chromium"
CAJA = shutil.which("caja", path=str(Path(sys.executable).parent)) or "caja"
ARTIFACTS = Path(os.environ.get("CAJA_TEST_ARTIFACTS", "test-artifacts")) / "screenshots"


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    env = {
        **os.environ,
        "CAJA_DATABASE_URL": database_url,
        "CAJA_WALLET_JWT_SECRET": "a-secret-for-the-browser-test-0123456789",
        "CAJA_WALLET_ASSETS": "COP,USD",
        "CAJA_ACCESS_LOG": "0",
    }
    with log.open("wb") as output:
        started = subprocess.Popen(
            [CAJA, "serve", "--port", str(port)], env=env, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            wait_until_healthy(started, base, log, timeout=90)
            yield base
        finally:
            stop_server(started, timeout=20)


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield launched
        finally:
            launched.close()


def caja(database_url: str, *args: str) -> str:
    done = subprocess.run(
        [CAJA, *args],
        env={**os.environ, "CAJA_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def shot(page: Page, name: str, backend: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{backend}-{name}.png"), full_page=True)
