"""The files of deploy/, each used: the systemd unit, the image and the compose file.

deploy/caja.service is parsed and run without systemd: its ExecStartPre, then its
ExecStart, with its Environment and EnvironmentFile (deploy/caja.env, installed as
/etc/caja/caja.env), /opt/caja/bin mapped to this venv's bin and /var/lib/caja to a
temporary directory. On SIGTERM (its KillSignal) the server stops within TimeoutStopSec.

With podman, deploy/Dockerfile's image is built (its Debian base only when missing) and
run on 127.0.0.1 with an SQLite volume, then with deploy/compose.yaml's PostgreSQL 15;
each answers /readyz and makes a ledger transfer. Without podman the container test is
skipped, except in CI (CI set), where it must run.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.helpers import V1, account_body, transfer_body
from tests.postgres import free_port

pytestmark = pytest.mark.slow

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
UNIT = DEPLOY / "caja.service"
VENV_BIN = str(Path(sys.executable).parent)
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "RestrictSUIDSGID": "yes",
    "CapabilityBoundingSet": "",
}


def test_the_unit_is_hardened_runs_as_its_own_user_and_outlasts_the_drain() -> None:
    service = service_settings(UNIT.read_text())
    for key, value in HARDENING.items():
        assert service[key] == [value], key
    assert service["User"] == ["caja"]
    assert service["Restart"] == ["on-failure"]
    assert service["ExecStartPre"] == ["/opt/caja/bin/caja db upgrade"]
    env = _environment_file(DEPLOY / "caja.env")
    drain = float(env["CAJA_DRAIN_SECONDS"]) + float(env["CAJA_GRACEFUL_SECONDS"])
    assert float(service["TimeoutStopSec"][0]) > drain


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze absent")
def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    unit = tmp_path / "caja.service"
    unit.write_text(UNIT.read_text().replace("/opt/caja/bin", VENV_BIN))
    checked = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stderr
    assert checked.stderr == ""


def test_the_units_commands_serve_ready_and_move_money(database_url: str, tmp_path: Path) -> None:
    """On SQLite the unit's own database path; on PostgreSQL the URL set in the
    environment file, as an operator would."""
    service = service_settings(_mapped(UNIT.read_text(), tmp_path))
    env_file = tmp_path / "caja.env"
    env_file.write_text((DEPLOY / "caja.env").read_text())
    on_sqlite = database_url.startswith("sqlite")
    if not on_sqlite:
        env_file.write_text(env_file.read_text() + f"CAJA_DATABASE_URL={database_url}\n")
    env = _unit_environment(service, env_file)
    port = free_port()
    cwd = service["WorkingDirectory"][0]
    Path(cwd).mkdir(parents=True)

    upgraded = subprocess.run(
        _command(service["ExecStartPre"][0]), env=env, cwd=cwd, capture_output=True, timeout=120
    )
    assert upgraded.returncode == 0, upgraded.stderr
    start = _command(service["ExecStart"][0].replace("--port 8000", f"--port {port}"))
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(start, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(base, timeout=60, alive=lambda: server.poll() is None, log=log)

            def caja(*args: str) -> str:
                done = subprocess.run(
                    [f"{VENV_BIN}/caja", *args], env=env, cwd=cwd, capture_output=True, timeout=60
                )
                assert done.returncode == 0, done.stderr
                return done.stdout.decode()

            ledger_transfer(base, caja)
        finally:
            stopped_in = _stop(server, signal.Signals[service["KillSignal"][0]])
    assert server.returncode == 0, log.read_text()
    assert stopped_in < float(service["TimeoutStopSec"][0])
    assert (tmp_path / "state" / "caja.db").exists() == on_sqlite


def _mapped(unit: str, tmp_path: Path) -> str:
    """The unit as this test runs it: caja from this venv, its state under ``tmp_path``."""
    return unit.replace("/opt/caja/bin", VENV_BIN).replace("/var/lib/caja", str(tmp_path / "state"))


def _unit_environment(service: dict[str, list[str]], env_file: Path) -> dict[str, str]:
    """Only what the unit gives caja (and a PATH): Environment=, then EnvironmentFile=."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin"}
    for line in service["Environment"]:
        for assignment in shlex.split(line):
            name, _, value = assignment.partition("=")
            env[name] = value
    for path in service["EnvironmentFile"]:
        assert path == "-/etc/caja/caja.env"
        env.update(_environment_file(env_file))
    return env


def _environment_file(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            env[name.strip()] = value.strip()
    return env


def _command(line: str) -> list[str]:
    words = shlex.split(line)
    assert words[0].startswith(VENV_BIN), line
    return words


def _stop(server: subprocess.Popen[bytes], how: signal.Signals) -> float:
    """Send ``how``; the seconds the server took to end (killed after 60)."""
    began = time.monotonic()
    server.send_signal(how)
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    return time.monotonic() - began


def service_settings(unit: str) -> dict[str, list[str]]:
    """The ``[Service]`` section of a unit: every key with its values, in order."""
    settings: dict[str, list[str]] = {}
    section = ""
    for raw in unit.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
        elif section == "[Service]":
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def wait_ready(base: str, timeout: float, alive: Callable[[], bool], log: Path | None) -> None:
    """Wait for ``/readyz`` to answer 200; fail with the server's log otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert alive(), log.read_text() if log else "the server ended"
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise AssertionError(log.read_text() if log else f"{base}/readyz never answered 200")


def ledger_transfer(base: str, caja: Callable[..., str]) -> None:
    """A client made with ``caja clients create``, two accounts, one funded with ``caja
    fund``, and a v1 transfer between them that answers 201."""
    name = f"deploy-{uuid.uuid4().hex[:8]}"
    client = json.loads(
        caja("clients", "create", "--name", name, "--scope", "ledger:admin", "--json")
    )
    headers = {"X-Account-api-key": client["api_key"]}
    with httpx.Client(base_url=base + V1, headers=headers, timeout=10) as http:
        accounts = []
        for _ in range(2):
            opened = http.post("/account", json=account_body())
            assert opened.status_code == 201, opened.text
            accounts.append(opened.json()["token"])
        caja("fund", accounts[0], "50000", "--json")
        moved = http.post("/transaction", json=transfer_body(accounts[0], accounts[1], "1000.00"))
        assert moved.status_code == 201, moved.text
        assert moved.json()["origin_account_balance"] == 49000
        assert http.get(f"/account/{accounts[1]}").json()["balance"] == "1000.00"


# Containers. In a VM without CAP_SYS_RESOURCE (this project's CI) podman's default limits
# (1048576 open files) cannot be set and crun refuses cgroup v1 hybrid mounts: the test's
# podman uses runc and lower default limits. Nothing of it is in the deploy files.
PODMAN = shutil.which("podman")
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
[engine]
runtime = "runc"
"""
BUILD_SECONDS = 1200
needs_podman = pytest.mark.skipif(
    PODMAN is None and not os.environ.get("CI"),
    reason="podman is not installed (CI installs it, and there this test runs)",
)


@pytest.fixture
def podman(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., str]:
    """``podman(*args)``: run podman (bounded), fail with its output, return stdout. The
    images deploy/compose.yaml names are built first; the base only when missing."""
    conf = tmp_path_factory.mktemp("podman") / "containers.conf"
    conf.write_text(CONTAINERS_CONF)
    env = {**os.environ, "CONTAINERS_CONF": str(conf)}

    def run(*args: str, timeout: float = 120, check: bool = True) -> str:
        done = subprocess.run(
            ["podman", *args], env=env, capture_output=True, text=True, timeout=timeout
        )
        assert done.returncode == 0 or not check, f"podman {args}: {done.stderr}"
        return done.stdout

    began = time.monotonic()
    if subprocess.run(["podman", "image", "exists", "caja-base:bookworm"], env=env).returncode:
        _script("build-base.sh", env)
    based = time.monotonic()
    services = _compose()["services"]
    _script("build-image.sh", env, services["caja"]["image"], services["db"]["image"])
    print(f"base {based - began:.0f} s, images {time.monotonic() - based:.0f} s")
    return run


def _script(name: str, env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [str(DEPLOY / name), *args], env=env, capture_output=True, text=True, timeout=BUILD_SECONDS
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


@needs_podman
def test_the_image_serves_alone_and_with_the_compose_files_postgresql(
    podman: Callable[..., str],
) -> None:
    """One test, so that under xdist the images are built once."""
    _sqlite_volume(podman)
    _compose_services(podman)


def _sqlite_volume(podman: Callable[..., str]) -> None:
    """The image alone, its database on a volume: ready, a transfer, healthy, stopped."""
    name = f"caja-test-{uuid.uuid4().hex[:8]}"
    port = free_port()
    try:
        podman(
            "run",
            "-d",
            "--name",
            name,
            "-p",
            f"127.0.0.1:{port}:8000",
            "-v",
            f"{name}:/var/lib/caja",
            _compose()["services"]["caja"]["image"],
        )
        _serves(podman, name, f"http://127.0.0.1:{port}")
        assert podman("exec", name, "id", "-un").strip() == "caja"
        podman("healthcheck", "run", name)
        podman("stop", "-t", "30", name, timeout=40)
        assert podman("exec", name, "true", check=False) == ""
    finally:
        podman("rm", "-f", "-v", "-t", "0", name, check=False)
        podman("volume", "rm", "-f", name, check=False)


def _compose_services(podman: Callable[..., str]) -> None:
    """The compose file's two services, run as it says in one pod (``db`` is the pod's
    loopback): its images, environment, volumes, port, health checks and stop grace."""
    services = _compose()["services"]
    pod = f"caja-test-{uuid.uuid4().hex[:8]}"
    port = free_port()
    published = services["caja"]["ports"][0].rsplit(":", 1)[1]
    try:
        podman(
            "pod",
            "create",
            "--name",
            pod,
            "--add-host",
            "db:127.0.0.1",
            "-p",
            f"127.0.0.1:{port}:{published}",
        )
        _run_service(podman, pod, "db", services["db"])
        _wait_healthy(podman, f"{pod}-db", services["db"]["healthcheck"]["test"])
        _run_service(podman, pod, "caja", services["caja"])
        _serves(podman, f"{pod}-caja", f"http://127.0.0.1:{port}")
        grace = services["caja"]["stop_grace_period"].removesuffix("s")
        podman("stop", "-t", grace, f"{pod}-caja", timeout=int(grace) + 10)
    finally:
        for service in services:
            podman("rm", "-f", "-v", "-t", "0", f"{pod}-{service}", check=False)
        podman("pod", "rm", "-f", "-t", "0", pod, check=False)
        for volume in _compose()["volumes"]:
            podman("volume", "rm", "-f", f"{pod}-{volume}", check=False)


def _run_service(podman: Callable[..., str], pod: str, name: str, service: dict[str, Any]) -> None:
    args = ["run", "-d", "--pod", pod, "--name", f"{pod}-{name}"]
    for key, value in service.get("environment", {}).items():
        args += ["--env", f"{key}={value}"]
    for volume in service.get("volumes", []):
        args += ["-v", f"{pod}-{volume}"]
    podman(*args, service["image"])


def _wait_healthy(podman: Callable[..., str], container: str, test: list[str]) -> None:
    """Wait for the service's health check command (``CMD …``) to succeed."""
    assert test[0] == "CMD"
    deadline = time.monotonic() + 60
    while "accepting connections" not in podman("exec", container, *test[1:], check=False):
        assert time.monotonic() < deadline, podman("logs", container)
        time.sleep(0.5)


def _serves(podman: Callable[..., str], container: str, base: str) -> None:
    """The container's /readyz answers 200 on ``base`` and a transfer succeeds."""

    def alive() -> bool:
        return podman("inspect", "-f", "{{.State.Running}}", container).strip() == "true"

    try:
        wait_ready(base, timeout=90, alive=alive, log=None)
    except AssertionError:
        raise AssertionError(podman("logs", container)) from None
    ledger_transfer(base, lambda *args: podman("exec", container, "caja", *args))
