"""The wallet's assets setting: checked at start, so a typo never reaches a sign-up."""

from __future__ import annotations

import pytest

from caja.config import wallet_settings
from caja.db.engine import Database
from caja.wallet.service import check_assets

pytestmark = pytest.mark.anyio


async def test_assets_the_ledger_has_pass(database: Database) -> None:
    await check_assets(database, ["COP", "USD"])


async def test_an_asset_the_ledger_lacks_stops_the_start(database: Database) -> None:
    with pytest.raises(ValueError, match="does not have: EUR"):
        await check_assets(database, ["COP", "EUR"])


@pytest.mark.parametrize("raw", ["COP;USD", " , ", "C0P", "TOOLONGCODE"])
def test_a_malformed_assets_setting_is_refused(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("CAJA_WALLET_ASSETS", raw)

    with pytest.raises(ValueError, match="CAJA_WALLET_ASSETS"):
        wallet_settings()


def test_assets_are_read_in_upper_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAJA_WALLET_ASSETS", "cop, usd")

    assert wallet_settings().assets == ["COP", "USD"]
