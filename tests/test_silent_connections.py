"""Connections that never send a byte: `caja serve` with 1,024 file descriptors and 1,100
silent connections still answers real clients, and closes the silent ones."""

from __future__ import annotations

import os
import resource
import selectors
import shutil
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.helpers import stop_server, wait_until_healthy
from tests.postgres import free_port

pytestmark = pytest.mark.slow

LIMIT = 1024
SILENT = 1100
REQUESTS = 254
HEAD_TIMEOUT = 2.0


def _limit_descriptors() -> None:
    # The hard limit is what counts: the server raises its soft limit to it.
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, LIMIT))


def _own_descriptors(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"the test needs {needed} file descriptors, the hard limit is {hard}")
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def _open_silent(port: int, count: int) -> list[socket.socket]:
    """``count`` connections that send nothing, but for a few that send half a head, and
    a few that send one request and then half of the next one's head."""
    sockets = []
    for number in range(count):
        connection = socket.create_connection(("127.0.0.1", port), timeout=5)
        if number % 100 == 1:
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: caja\r\n")
        elif number % 100 == 2:
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: caja\r\n\r\nGET /hea")
        connection.setblocking(False)
        sockets.append(connection)
    return sockets


def _ask(base: str, count: int) -> list[int]:
    """``count`` requests from 16 threads, each on a connection of its own."""
    fresh = httpx.Limits(max_keepalive_connections=0)
    paths = ["/healthz", "/readyz"] * (count // 2)
    with (
        httpx.Client(base_url=base, timeout=HEAD_TIMEOUT + 8, limits=fresh) as client,
        ThreadPoolExecutor(max_workers=16) as pool,
    ):
        return list(pool.map(lambda path: client.get(path).status_code, paths))


def _wait_closed(sockets: list[socket.socket], deadline: float) -> int:
    """Wait until the server has closed every socket or the deadline passes; return how
    many it left open."""
    selector = selectors.DefaultSelector()
    for connection in sockets:
        selector.register(connection, selectors.EVENT_READ)
    left = len(sockets)
    while left and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.2):
            connection = key.fileobj
            assert isinstance(connection, socket.socket)
            if _closed(connection):
                selector.unregister(connection)
                left -= 1
    selector.close()
    return left


def _closed(connection: socket.socket) -> bool:
    """Read what the server sent (an answer to a complete request); True at its end."""
    try:
        return connection.recv(65536) == b""
    except ConnectionResetError:
        return True


def _server_limit(pid: int) -> str:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return " ".join(line.split()[3:5])
    raise AssertionError("no open-file limit in /proc")


def test_silent_connections_neither_starve_clients_nor_stay_open(
    database_url: str, tmp_path: Path
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("the same on every database")
    _own_descriptors(SILENT + 200)
    caja = shutil.which("caja", path=str(Path(sys.executable).parent)) or shutil.which("caja")
    assert caja is not None, "the caja console script is not installed"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    environment = {
        **os.environ,
        "CAJA_DATABASE_URL": database_url,
        "CAJA_ACCESS_LOG": "0",
        "CAJA_HEADER_TIMEOUT_SECONDS": str(HEAD_TIMEOUT),
        "CAJA_DRAIN_SECONDS": "0",
    }
    silent: list[socket.socket] = []
    with log.open("wb") as output:
        server = subprocess.Popen(
            [caja, "serve", "--port", str(port)],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            preexec_fn=_limit_descriptors,
        )
        try:
            wait_until_healthy(server, base, log, timeout=30)
            limit = _server_limit(server.pid)
            silent = _open_silent(port, SILENT)
            started = time.monotonic()
            statuses = _ask(base, REQUESTS)
            answered_in = time.monotonic() - started
            left_open = _wait_closed(silent, time.monotonic() + 2 * HEAD_TIMEOUT + 5)
        finally:
            for connection in silent:
                connection.close()
            stop_server(server, timeout=20)

    assert limit == f"{LIMIT} {LIMIT}"
    assert statuses == [200] * REQUESTS
    assert answered_in < HEAD_TIMEOUT + 5
    assert left_open == 0
