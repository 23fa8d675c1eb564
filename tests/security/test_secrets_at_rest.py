"""Keys, passwords and log-in tokens are never kept or written in clear: after clients
and people have used them on every surface, no row of any table, no log record (SQL
statements and their parameters included) and no line of the request log holds one."""

from __future__ import annotations

import base64
import hashlib
import logging
from pathlib import Path

import httpx
import pytest

from caja.core.tokens import new_api_key
from caja.db.engine import Database
from caja.http.observe import request_log
from caja.ops.funding import fund
from tests.security.people import WALLET, log_in, person
from tests.security.surfaces import client_with_every_scope, requests, send
from tests.security.tenants import every_row

pytestmark = pytest.mark.anyio

PASSWORD = "a password only this test knows 7f3a"
MISTYPED = "a password only this test knows 7f3b"


def _stored_files(database_url: str) -> bytes:
    """The bytes of an SQLite database and its write-ahead log; nothing for PostgreSQL,
    whose rows the table dump reads."""
    if not database_url.startswith("sqlite:///"):
        return b""
    path = Path(database_url.removeprefix("sqlite:///"))
    return b"".join(
        candidate.read_bytes()
        for candidate in (path, path.with_name(path.name + "-wal"))
        if candidate.exists()
    )


async def test_no_key_password_or_token_is_stored_or_logged(
    http: httpx.AsyncClient,
    database: Database,
    database_url: str,
    real_hashing: None,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    # SQLAlchemy keeps its own loggers at WARNING unless told: let them log every
    # statement with its parameters.
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")
    client = await client_with_every_scope(http, database)
    for surface, make in requests(client, client.key, client.account_key).items():
        response = await send(http, make())
        assert response.status_code in (200, 201), (surface, response.text)
    # Keys that fail are secrets too: one mistyped, one of another server.
    stray_key = new_api_key("ck")
    for make in requests(client, stray_key, stray_key).values():
        assert (await send(http, make())).status_code == 401
    ana = await person(http, "Ana", PASSWORD)
    beto = await person(http, "Beto", PASSWORD)
    await fund(database, ana.account_id, "10.00")
    sent = await http.post(
        f"{WALLET}/profile/send-to-profile",
        json={
            "from_account_id": ana.account_id,
            "to_profile_id": beto.profile_id,
            "asset_key": "COP",
            "amount": "1.00",
        },
        headers=ana.headers,
    )
    assert sent.json() == {"code": 200, "msg": []}
    assert (await log_in(http, ana.phone_number, MISTYPED)).status_code == 401
    metrics = (await http.get("/metrics")).text

    request_log.flush()
    captured = capsys.readouterr()
    rows = await every_row(database)
    dumped = "\n".join(" ".join(row) for found in rows.values() for row in found)
    logged = "\n".join(
        [captured.out, captured.err, caplog.text, *(r.getMessage() for r in caplog.records)]
    )
    files = _stored_files(database_url)

    secrets = {
        "client key": client.key,
        "client key without its prefix": client.key.split("-", 1)[1],
        "client key in basic form": base64.b64encode(client.key.encode()).decode(),
        "account key": client.account_key,
        "a key that failed": stray_key,
        "password": PASSWORD,
        "mistyped password": MISTYPED,
        "log-in token": ana.token,
        "log-in token's signature": ana.token.rsplit(".", 1)[1],
        "another log-in token": beto.token,
    }
    for name, secret in secrets.items():
        assert secret not in dumped, f"{name} stored"
        assert secret not in logged, f"{name} logged"
        assert secret not in metrics, f"{name} in the metrics"
        assert secret.encode() not in files, f"{name} in the database files"
    # What is kept instead: the key's digest and the password's Argon2 hash; and the
    # request log and the statements with their parameters were captured.
    digest = hashlib.sha256(client.key.encode()).hexdigest()
    assert digest in dumped
    assert "$argon2id$" in dumped
    assert '"event":"request"' in captured.err
    assert digest in logged  # a statement's parameters
