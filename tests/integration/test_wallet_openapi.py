"""The wallet's OpenAPI description: every success answer with a schema and an example,
the Idempotency-Key header and the paging parameters documented."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.test_wallet import API, app, fast_hashing, wallet_env  # noqa: F401

pytestmark = pytest.mark.anyio


async def test_every_wallet_success_answer_has_a_schema_and_an_example(
    http: httpx.AsyncClient,
) -> None:
    schema = (await http.get("/openapi.json")).json()
    operations = {
        (method.upper(), path): operation
        for path, methods in schema["paths"].items()
        if path.startswith(API)
        for method, operation in methods.items()
    }

    missing = []
    for (method, path), operation in operations.items():
        for status, answer in operation["responses"].items():
            if not status.startswith("2"):
                continue
            for media, content in answer.get("content", {"-": {}}).items():
                example = "example" in content or "examples" in content
                if "schema" not in content or not example:
                    missing.append((method, path, status, media))

    assert len(operations) == 16
    assert missing == []


def _parameters(schema: dict[str, Any], method: str, path: str) -> dict[str, str]:
    operation = schema["paths"][f"{API}{path}"][method]
    return {item["name"]: item["in"] for item in operation.get("parameters", [])}


async def test_the_key_and_the_paging_parameters_are_documented(http: httpx.AsyncClient) -> None:
    schema = (await http.get("/openapi.json")).json()

    send = _parameters(schema, "post", "/profile/send-to-profile")
    pay = _parameters(schema, "post", "/profile/payment_request/{request_id}/pay")
    listed = _parameters(schema, "get", "/profile/payment_transaction")

    assert send["Idempotency-Key"] == pay["Idempotency-Key"] == "header"
    assert {name: listed[name] for name in ("type", "limit", "cursor")} == {
        "type": "query",
        "limit": "query",
        "cursor": "query",
    }
    page = schema["components"]["schemas"]["PaymentsOut"]
    assert set(page["properties"]) == {"data", "next_cursor"}
