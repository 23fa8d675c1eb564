from __future__ import annotations

import pytest

from tests.helpers import V1, Caja, transfer_body

pytestmark = pytest.mark.anyio


async def test_transfer_between_two_accounts(caja: Caja) -> None:
    key = await caja.client_key("ledger:admin")
    first = await caja.account(key)
    second = await caja.account(key)
    await caja.fund(first["token"], "10000")

    response = await caja.transfer(key, transfer_body(first["token"], second["token"], "1000"))

    assert response.status_code == 201, response.text
    assert response.json()["origin_account_balance"] == 9000
    assert '"origin_account_balance":9000.00' in response.text
    assert await caja.balance(key, second["token"]) == "1000.00"
    assert (await caja.verify()).ok
    history = await caja.http.get(
        f"{V1}/account/{first['token']}/transactions", headers={"X-Account-api-key": key}
    )
    assert [item["amount"] for item in history.json()["transactions"]] == ["1000.00", "10000.00"]
