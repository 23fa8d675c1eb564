"""Serving: ``caja serve`` and ``caja db upgrade``."""

from __future__ import annotations

import resource
import signal
import sys
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from caja.cli.common import _fail, _run, check_port
from caja.cli.runner import start_runner, stop_runner
from caja.config import database_url, serve_settings, shared_secret_missing, webhook_settings
from caja.db import migrate

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["create_served_app", "db_app", "serve", "serve_http"]

# Where the soft file-descriptor limit is raised to when the hard one is unlimited.
MOST_DESCRIPTORS = 1 << 20

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations."""
    _run(migrate.upgrade)
    typer.echo("database is up to date")


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Server processes.")] = 1,
) -> None:
    """Apply migrations, then serve every surface."""
    _check_settings(workers)
    check_port(host, port)
    _run(migrate.upgrade)
    serve_http(host, port, workers)


def _check_settings(workers: int) -> None:
    """End with 2 and a plain message when the server's settings cannot work."""
    problem = None
    if shared_secret_missing(workers, database_url()):
        problem = (
            "CAJA_WALLET_JWT_SECRET is not set: with several server processes, or on a "
            "cluster database URL, every process must sign and read wallet tokens with one "
            "secret (at least 32 characters)"
        )
    try:
        serve_settings()
        webhook_settings()
    except ValueError as error:
        problem = str(error)
    if problem is not None:
        _fail(problem, 2)


def create_served_app() -> FastAPI:
    """The app as ``caja serve`` runs it: SIGTERM drains it before it stops."""
    from caja.app import create_app

    return create_app(drain_seconds=serve_settings().drain_seconds)


def raise_descriptor_limit() -> None:
    """Raise the soft limit on open files to the hard one: each connection is one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = MOST_DESCRIPTORS if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass


def _exit_cleanly(_signum: int, _frame: FrameType | None) -> None:
    # uvicorn raises the signal again once it has stopped: end with status 0 then.
    sys.exit(0)


def serve_http(host: str, port: int, workers: int) -> None:
    """Serve with JSON logs; several workers share their metrics through a directory.

    prometheus_client's multiprocess mode needs ``PROMETHEUS_MULTIPROC_DIR`` set before
    a worker imports it: a fresh directory is made here (unless one is given) and
    removed when the server stops. The webhook runner runs beside the server, in a
    child process of its own (one per ``caja serve``, whatever the workers), stopped
    when the server stops.
    """
    import copy
    import os
    import shutil
    import tempfile

    import uvicorn

    from caja.logs import LOG_CONFIG

    settings = serve_settings()
    raise_descriptor_limit()
    signal.signal(signal.SIGTERM, _exit_cleanly)
    metrics_dir = None
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = tempfile.mkdtemp(prefix="caja-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    runner = start_runner()
    try:
        uvicorn.run(
            "caja.cli.server:create_served_app",
            factory=True,
            http="caja.http.heads:GuardedHttpProtocol",
            timeout_graceful_shutdown=settings.graceful_seconds,
            timeout_keep_alive=settings.keep_alive_seconds,
            host=host,
            port=port,
            workers=workers,
            log_level="info",
            log_config=copy.deepcopy(LOG_CONFIG),
            access_log=False,
        )
    finally:
        stop_runner(runner)
        if metrics_dir is not None:
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]
            shutil.rmtree(metrics_dir, ignore_errors=True)
