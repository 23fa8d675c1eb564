"""/metrics, request ids and the JSON request log, over HTTP."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from caja.app import create_app, services_of
from caja.core.errors import Unavailable
from caja.db.engine import MAX_WRITE_ATTEMPTS, Database
from caja.http.observe import request_log
from caja.logs import JsonFormatter
from tests.helpers import V0, V1, Caja, stop_server, transfer_body, wait_until_healthy
from tests.postgres import free_port

pytestmark = pytest.mark.anyio

DURATION = "caja_http_request_duration_seconds"
ACCOUNT_ROUTE = f"{V1}/account/{{account_token}}"
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
LOG_FIELDS = {
    "ts",
    "level",
    "event",
    "request_id",
    "method",
    "path",
    "route",
    "status",
    "duration_ms",
    "client",
}


async def _samples(http: httpx.AsyncClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = await http.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def _requests_counted(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float],
    route: str,
    method: str,
    status: int,
) -> float:
    labels = frozenset({("route", route), ("method", method), ("status", str(status))})
    return samples.get((f"{DURATION}_count", labels), 0.0)


def _request_lines(captured: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in captured.splitlines() if '"event":"request"' in line]
    return [line for line in lines if line["event"] == "request"]


def _line_of(captured: str, request_id: str) -> dict[str, Any]:
    found = [line for line in _request_lines(captured) if line["request_id"] == request_id]
    assert len(found) == 1, captured
    return found[0]


@asynccontextmanager
async def _client(
    database: Database, prepare: Callable[[FastAPI], None] | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """A client on a new app, built from the environment as it is now."""
    app = create_app(database)
    if prepare is not None:
        prepare(app)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://caja.test") as client:
        yield client
    await services_of(app).batcher.close()


async def test_metrics_lists_every_metric_in_the_text_format(http: httpx.AsyncClient) -> None:
    response = await http.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    types = {family.name: family.type for family in text_string_to_metric_families(response.text)}
    assert types == types | {
        DURATION: "histogram",
        "caja_batch_size": "histogram",
        "caja_batch_seconds": "histogram",
        "caja_commit_seconds": "histogram",
        "caja_transfers_posted": "counter",
        "caja_write_retries": "counter",
        "caja_write_failures": "counter",
    }
    assert "caja_transfers_posted_total" in response.text
    openapi = (await http.get("/openapi.json")).json()
    assert "/metrics" not in openapi["paths"]


async def test_a_request_is_counted_under_its_route_template_and_status(caja: Caja) -> None:
    key = await caja.client_key("ledger:admin")
    origin = (await caja.account(key))["token"]
    destination = (await caja.account(key))["token"]
    await caja.fund(origin, "100.00")
    before = await _samples(caja.http)

    found = await caja.http.get(f"{V1}/account/{origin}", headers={"X-Account-api-key": key})
    refused = await caja.http.get(f"{V1}/account/{origin}")
    moved = await caja.transfer(key, transfer_body(origin, destination, "10.00"))
    legacy = await caja.http.post(f"{V0}/my/transfer", json={})

    assert (found.status_code, refused.status_code, moved.status_code) == (200, 401, 201)
    after = await _samples(caja.http)
    expected = [
        (ACCOUNT_ROUTE, "GET", 200),
        (ACCOUNT_ROUTE, "GET", 401),
        (f"{V1}/transaction", "POST", 201),
        (f"{V0}/my/transfer", "POST", legacy.status_code),
    ]
    for route, method, status in expected:
        counted = _requests_counted(after, route, method, status)
        assert counted == _requests_counted(before, route, method, status) + 1, route
    labels = {dict(labels).get("route") for name, labels in after if name.startswith(DURATION)}
    assert origin not in " ".join(label for label in labels if label)


async def test_an_unknown_path_is_counted_as_unmatched(http: httpx.AsyncClient) -> None:
    before = await _samples(http)

    response = await http.get("/no/such/path-4d1c9")

    assert response.status_code == 404
    after = await _samples(http)
    assert _requests_counted(after, "unmatched", "GET", 404) == (
        _requests_counted(before, "unmatched", "GET", 404) + 1
    )
    assert "path-4d1c9" not in (await http.get("/metrics")).text


async def test_an_unusual_method_is_counted_as_other(http: httpx.AsyncClient) -> None:
    before = await _samples(http)

    response = await http.request("BREW", "/healthz")

    assert response.status_code == 405
    after = await _samples(http)
    assert _requests_counted(after, "/healthz", "other", 405) == (
        _requests_counted(before, "/healthz", "other", 405) + 1
    )


async def test_the_request_id_is_echoed_when_valid_and_made_otherwise(
    http: httpx.AsyncClient,
) -> None:
    given = "req-42.a:b_C"
    echoed = await http.get("/healthz", headers={"X-Request-ID": given})
    first = await http.get("/healthz")
    second = await http.get("/healthz")
    too_long = await http.get("/healthz", headers={"X-Request-ID": "a" * 129})
    bad = await http.get("/healthz", headers={"X-Request-ID": "no spaces/or slashes"})
    longest = await http.get("/healthz", headers={"X-Request-ID": "b" * 128})

    assert echoed.headers["x-request-id"] == given
    made = [response.headers["x-request-id"] for response in (first, second, too_long, bad)]
    assert all(re.fullmatch(r"[0-9a-f]{16}", value) for value in made), made
    assert len(set(made)) == 4
    assert longest.headers["x-request-id"] == "b" * 128
    missing = await http.get("/nowhere", headers={"X-Request-ID": given})
    assert missing.status_code == 404
    assert missing.headers["x-request-id"] == given


async def test_each_request_writes_one_json_line_with_its_request_id(
    http: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    response = await http.get("/healthz?verbose=1")
    request_log.flush()

    line = _line_of(capsys.readouterr().err, response.headers["x-request-id"])
    assert set(line) == LOG_FIELDS
    assert ISO_UTC.fullmatch(line["ts"])
    assert line["level"] == "info"
    assert (line["method"], line["path"], line["route"]) == ("GET", "/healthz", "/healthz")
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float)
    assert 0 <= line["duration_ms"] < 10_000
    assert line["client"] == "127.0.0.1"


async def test_no_api_key_or_query_string_reaches_the_log(
    caja: Caja, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="caja")
    key = await caja.client_key("ledger:admin")
    token = (await caja.account(key))["token"]
    capsys.readouterr()

    responses = [
        await caja.http.get(f"{V1}/account/{token}", headers={"X-Account-api-key": key}),
        await caja.http.get(f"{V1}/account/{token}?api_key={key}"),
        await caja.http.post(f"{V0}/my/transfer", json={}, headers={"Authorization": key}),
        await caja.http.get(f"{V0}/my/balance", headers={"Authorization": key}),
    ]
    request_log.flush()

    captured = capsys.readouterr()
    ours = [record for record in caplog.records if record.name.startswith("caja")]
    logged = captured.err + captured.out + "\n".join(r.getMessage() for r in ours)
    assert key not in logged
    assert key.removeprefix("ck-") not in logged
    lines = [_line_of(captured.err, r.headers["x-request-id"]) for r in responses]
    assert [line["path"] for line in lines] == [
        f"{V1}/account/{token}",
        f"{V1}/account/{token}",
        f"{V0}/my/transfer",
        f"{V0}/my/balance",
    ]


async def test_access_log_off_writes_no_line_but_still_counts(
    database: Database, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CAJA_ACCESS_LOG", "0")
    async with _client(database) as http:
        before = await _samples(http)
        response = await http.get("/healthz")
        after = await _samples(http)
    request_log.flush()

    assert response.status_code == 200
    assert response.headers["x-request-id"]
    assert _request_lines(capsys.readouterr().err) == []
    assert _requests_counted(after, "/healthz", "GET", 200) == (
        _requests_counted(before, "/healthz", "GET", 200) + 1
    )


async def test_an_unexpected_error_is_logged_with_the_request_id(
    database: Database,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def boom() -> None:
        raise RuntimeError("injected failure")

    caplog.handler.setFormatter(JsonFormatter())
    given = "boom-1"
    async with _client(database, lambda app: app.add_api_route("/boom", boom)) as http:
        before = await _samples(http)
        response = await http.get("/boom", headers={"X-Request-ID": given})
        after = await _samples(http)
    request_log.flush()

    assert response.status_code == 500
    errors = [json.loads(line) for line in caplog.text.splitlines() if '"caja.api"' in line]
    assert [entry["request_id"] for entry in errors] == [given]
    assert errors[0]["level"] == "error"
    assert "injected failure" in errors[0]["exc"]
    line = _line_of(capsys.readouterr().err, given)
    assert (line["route"], line["status"]) == ("/boom", 500)
    assert _requests_counted(after, "/boom", "GET", 500) == (
        _requests_counted(before, "/boom", "GET", 500) + 1
    )


class _Conflict(Exception):
    """Looks like SQLite's busy error and PostgreSQL's deadlock to the retry logic."""

    sqlstate = "40P01"

    def __str__(self) -> str:
        return "database is locked"


def _conflicting(times: int) -> Callable[[Connection], str]:
    calls: list[int] = []

    def work(_connection: Connection) -> str:
        calls.append(1)
        if len(calls) <= times:
            raise OperationalError("UPDATE accounts", {}, _Conflict())
        return "done"

    return work


async def test_write_retries_failures_and_commits_are_counted(
    database: Database, http: httpx.AsyncClient
) -> None:
    no_labels: frozenset[tuple[str, str]] = frozenset()
    retries = ("caja_write_retries_total", no_labels)
    conflicts = ("caja_write_failures_total", frozenset({("reason", "conflicts")}))
    commits = ("caja_commit_seconds_count", no_labels)
    before = await _samples(http)

    assert await database.write(_conflicting(2)) == "done"
    with pytest.raises(Unavailable):
        await database.write(_conflicting(10**6))

    after = await _samples(http)
    assert after[retries] == before[retries] + 2 + (MAX_WRITE_ATTEMPTS - 1)
    assert after[conflicts] == before[conflicts] + 1
    assert after[commits] == before[commits] + 1


@pytest.mark.slow
def test_serve_with_two_workers_logs_json_and_adds_up_metrics(
    database_url: str, tmp_path: Path
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("the same on every database")
    caja = shutil.which("caja", path=str(Path(sys.executable).parent)) or shutil.which("caja")
    assert caja is not None, "the caja console script is not installed"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    environment = {**os.environ, "CAJA_DATABASE_URL": database_url, "TMPDIR": str(temporary)}
    environment["CAJA_WALLET_JWT_SECRET"] = "a-secret-every-worker-shares-0123456789"
    environment.pop("PROMETHEUS_MULTIPROC_DIR", None)
    environment.pop("CAJA_ACCESS_LOG", None)
    stderr_path = tmp_path / "stderr.log"
    with stderr_path.open("wb") as stderr:
        server = subprocess.Popen(
            [caja, "serve", "--port", str(port), "--workers", "2"],
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            wait_until_healthy(server, base, stderr_path, timeout=30)
            made = [path.name for path in temporary.iterdir()]
            assert [name.startswith("caja-metrics-") for name in made] == [True], made

            ids = [f"e2e-{n}" for n in range(20)]
            for request_id in ids:
                # A new connection each time, so that both workers answer some.
                answer = httpx.get(f"{base}/readyz", headers={"X-Request-ID": request_id})
                assert answer.headers["x-request-id"] == request_id
            for _ in range(4):
                scraped = httpx.get(f"{base}/metrics").text
                counts = {
                    sample.labels["route"]: sample.value
                    for family in text_string_to_metric_families(scraped)
                    for sample in family.samples
                    if sample.name == f"{DURATION}_count" and sample.labels["status"] == "200"
                }
                assert counts["/readyz"] == 20
        finally:
            stop_server(server, timeout=20)

    lines = [json.loads(line) for line in stderr_path.read_text().splitlines() if line]
    assert {line["request_id"] for line in lines if line["event"] == "request"} >= set(ids)
    assert any(line.get("logger", "").startswith("uvicorn") for line in lines)
    assert list(temporary.iterdir()) == []
