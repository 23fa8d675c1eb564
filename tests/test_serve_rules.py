"""`caja serve` refuses to start several processes, or on a cluster URL, without the
wallet's shared secret: a token signed by one process must be read by every other."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from caja.config import shared_secret_missing

CAJA = shutil.which("caja", path=str(Path(sys.executable).parent)) or shutil.which("caja")
CLUSTER_URL = "postgresql://caja:pw@127.0.0.1:5433,127.0.0.1:5434/caja"


def _serve(url: str, *options: str) -> subprocess.CompletedProcess[str]:
    assert CAJA is not None, "the caja console script is not installed"
    env = {**os.environ, "CAJA_DATABASE_URL": url}
    env.pop("CAJA_WALLET_JWT_SECRET", None)
    return subprocess.run(
        [CAJA, "serve", "--port", "1", *options],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("url", "options"),
    [("sqlite:///never-made.db", ("--workers", "2")), (CLUSTER_URL, ())],
    ids=["workers", "cluster-url"],
)
def test_serve_refuses_to_start_without_the_shared_secret(
    url: str, options: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    result = _serve(url, *options)

    assert result.returncode == 2
    assert "CAJA_WALLET_JWT_SECRET is not set" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "never-made.db").exists()


@pytest.mark.parametrize(
    ("workers", "url", "secret", "missing"),
    [
        (1, "sqlite:///caja.db", "", False),
        (1, "postgresql://caja:p,w@db:5432/caja", "", False),
        (1, "postgresql://caja@h1:5432,h2:5432/caja?target_session_attrs=read-write", "", True),
        (2, "postgresql://caja@db/caja", "", True),
        (2, "postgresql://caja@db/caja", "s" * 32, False),
        (1, CLUSTER_URL, "s" * 32, False),
    ],
)
def test_which_servers_need_the_shared_secret(
    workers: int, url: str, secret: str, missing: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAJA_WALLET_JWT_SECRET", secret)

    assert shared_secret_missing(workers, url) is missing


def test_serve_refuses_a_drain_time_that_is_not_a_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CAJA_DRAIN_SECONDS", "soon")

    result = _serve("sqlite:///never-made.db")

    assert result.returncode == 2
    assert "CAJA_DRAIN_SECONDS must be a number of seconds, not 'soon'" in result.stderr
    assert "Traceback" not in result.stderr
