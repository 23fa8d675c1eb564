"""The ops dashboard's data behind an admin key, and the pages served with their policy."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from tests.helpers import Caja, transfer_body

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("path", ["/app", "/admin"])
async def test_the_pages_are_served_as_html_with_a_strict_policy(
    http: httpx.AsyncClient, path: str
) -> None:
    response = await http.get(path)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert "<script>" in response.text


@pytest.mark.parametrize(
    ("scopes", "status"), [(None, 401), (("ledger:admin",), 403), (("topup",), 403)]
)
async def test_the_summary_needs_a_key_with_the_admin_scope(
    caja: Caja, scopes: tuple[str, ...] | None, status: int
) -> None:
    headers = {} if scopes is None else {"X-Admin-Key": await caja.client_key(*scopes)}

    response = await caja.http.get("/admin/api/summary", headers=headers)

    assert response.status_code == status
    assert response.json()["code"] == status


async def test_the_summary_counts_what_moved_per_surface_and_hour(caja: Caja) -> None:
    key = await caja.client_key("ledger:admin")
    first, second = await caja.account(key), await caja.account(key)
    await caja.fund(first["token"], "500.00")
    moved = await caja.transfer(key, transfer_body(first["token"], second["token"], "120.25"))
    assert moved.status_code == 201
    admin = await caja.client_key("admin", name="ops")

    response = await caja.http.get("/admin/api/summary", headers={"X-Admin-Key": admin})

    assert response.status_code == 200
    body = response.json()
    per_surface = {(row["surface"], row["asset"]): row for row in body["per_surface"]}
    assert per_surface[("ledger_v1", "COP")]["amount"] == "120.25"
    assert per_surface[("funding", "COP")]["amount"] == "500.00"
    assert len(body["moved_per_hour"]) == 24
    hours = body["moved_per_hour"]
    assert sum(Decimal(hour["amounts"].get("COP", "0")) for hour in hours) == Decimal("620.25")
    assert body["latest_transfers"][0]["token"] == moved.json()["token"]
    assert body["last_verify"] is None
