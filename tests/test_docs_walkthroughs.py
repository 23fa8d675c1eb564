"""Every curl walk-through in the documentation runs against a live server.

Each Markdown file of ``docs/`` (and the README) with a ``curl`` in a ```sh block is one
test: ``caja serve`` starts on a fresh database holding ``caja demo``'s data, then the
file's ```sh blocks run in order in one ``bash -euo pipefail`` session, with ``caja`` on
PATH and ``CAJA_DATABASE_URL`` set, and ``http://127.0.0.1:8000`` replaced by the
server's address. A curl command whose last line ends with ``# → NNN`` must answer NNN;
the session's ``curl`` is a function that runs the real one, prints the body and checks
the status (the marker is passed to it as ``CAJA_DOC_EXPECT``). Blocks that are not to be
run are fenced as ```text.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from caja.db.engine import Database
from caja.ops.demo import create_demo
from tests.conftest import run_async
from tests.helpers import stop_server, wait_until_healthy
from tests.postgres import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTED = "http://127.0.0.1:8000"
SECONDS = 60
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[ \t]*\n(?P<body>.*?)^(?P=indent)```", re.M | re.S
)
MARKER = re.compile(r"#\s*→\s*(?P<status>\d{3})\s*$")
CURL = re.compile(r"(?<![\w-])curl(?=\s)")

PRELUDE = r"""
set -euo pipefail
curl() {
  local body status expected="${CAJA_DOC_EXPECT:-}"
  unset CAJA_DOC_EXPECT
  body=$(mktemp)
  if ! status=$(command curl -sS -o "$body" -w '%{http_code}' "$@"); then
    cat "$body"; rm -f "$body"; return 1
  fi
  cat "$body"
  rm -f "$body"
  if [ -n "$expected" ]; then
    echo "$expected $status" >> "$CAJA_DOC_STATUSES"
    if [ "$status" != "$expected" ]; then
      echo >&2
      echo "curl $* answered $status, the docs say $expected" >&2
      return 1
    fi
  fi
}
"""


def sh_blocks(text: str) -> list[str]:
    """The ```sh blocks of a Markdown text, unindented, in order."""
    blocks = []
    for fence in FENCE.finditer(text):
        if fence.group("lang") == "sh":
            indent = len(fence.group("indent"))
            blocks.append("".join(line[indent:] for line in fence.group("body").splitlines(True)))
    return blocks


def with_expectations(block: str) -> tuple[str, int]:
    """The block with each marked curl command run as ``CAJA_DOC_EXPECT=NNN curl``, and
    the number of marked commands. The marker is on a command's last line; its ``curl``
    is the nearest one at or above it, after the previous marker (a command goes on over
    lines ending in ``\\`` and over quoted text with newlines in it)."""
    lines = block.splitlines()
    marked, after = 0, 0
    for end, line in enumerate(lines):
        found = MARKER.search(line)
        if found is None:
            continue
        command = next((i for i in range(end, after - 1, -1) if CURL.search(lines[i])), None)
        assert command is not None, f"a status marker on a command without curl: {line!r}"
        lines[command] = CURL.sub(f"CAJA_DOC_EXPECT={found['status']} curl", lines[command], 1)
        marked, after = marked + 1, end + 1
    return "\n".join(lines) + "\n", marked


def walkthroughs() -> list[Path]:
    files = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
    return [
        path
        for path in files
        if any(CURL.search(block) for block in sh_blocks(path.read_text(encoding="utf-8")))
    ]


def run_session(script: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the script in bash, in a process group of its own: past ``SECONDS`` the whole
    group is ended (a command that serves or waits would otherwise outlive the test)."""
    session = subprocess.Popen(
        ["bash", "-c", script],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = session.communicate(timeout=SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(session.pid, signal.SIGKILL)
        out, err = session.communicate()
        err += f"\nthe session did not end within {SECONDS} s"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(session.pid, signal.SIGKILL)
    return subprocess.CompletedProcess(session.args, session.returncode, out, err)


async def _demo(url: str) -> None:
    database = Database(url)
    try:
        await create_demo(database)
    finally:
        await database.dispose()


@pytest.fixture
def live_server(database_url: str, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """``caja serve`` on the test's fresh database, with the data ``caja demo`` sets up,
    and the environment the docs' shell session runs in."""
    run_async(lambda: _demo(database_url))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "CAJA_DATABASE_URL": database_url,
        "CAJA_WALLET_JWT_SECRET": "a-secret-for-the-docs-walkthroughs-0123456789",
        "CAJA_ACCESS_LOG": "0",
        # docs/events.md adds an endpoint on this machine.
        "CAJA_WEBHOOKS_ALLOW_PRIVATE": "1",
        "HOME": str(tmp_path),
    }
    log = tmp_path / "server.log"
    with log.open("wb") as output:
        started = subprocess.Popen(
            [f"{bin_dir}/caja", "serve", "--port", str(port)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_healthy(started, base, log, timeout=30)
            yield base, env
        finally:
            stop_server(started, timeout=20)


@pytest.mark.parametrize("doc", walkthroughs(), ids=lambda path: path.name)
def test_the_curl_walkthrough_answers_as_documented(
    doc: Path, live_server: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    base, env = live_server
    script, expected = PRELUDE, 0
    for block in sh_blocks(doc.read_text(encoding="utf-8")):
        runnable, marked = with_expectations(block.replace(DOCUMENTED, base))
        script += runnable
        expected += marked
    statuses = tmp_path / "statuses"
    statuses.touch()
    done = run_session(script, {**env, "CAJA_DOC_STATUSES": str(statuses)}, tmp_path)
    checked = statuses.read_text().splitlines()
    report = f"stdout:\n{done.stdout[-4000:]}\nstderr:\n{done.stderr[-4000:]}"
    assert done.returncode == 0, report
    assert len(checked) == expected, f"{len(checked)} of {expected} marked curls ran\n{report}"
    assert expected > 0, f"{doc.name}: no curl states its status"


def test_marked_commands_are_found_across_continued_lines() -> None:
    block = (
        "X=$(curl -s $B/a | python3 -c 'print(1)')\n"
        "curl -s -X POST $B/b \\\n"
        "  -d '{}'  # → 201\n"
        "curl -s $B/c  # → 404\n"
    )
    runnable, marked = with_expectations(block)
    assert marked == 2
    assert runnable.splitlines() == [
        "X=$(curl -s $B/a | python3 -c 'print(1)')",
        "CAJA_DOC_EXPECT=201 curl -s -X POST $B/b \\",
        "  -d '{}'  # → 201",
        "CAJA_DOC_EXPECT=404 curl -s $B/c  # → 404",
    ]
    assert sh_blocks("a\n```sh\nx\n```\n  ```sh\n  y\n  ```\n```text\nz\n```\n") == ["x\n", "y\n"]
