"""Serving: ``caja serve`` and ``caja db upgrade``."""

from __future__ import annotations

from typing import Annotated

import typer

from caja.cli.common import _run
from caja.db import migrate

__all__ = ["db_app", "serve", "serve_http"]

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
    _run(migrate.upgrade)
    serve_http(host, port, workers)


def serve_http(host: str, port: int, workers: int) -> None:
    """Serve with JSON logs; several workers share their metrics through a directory.

    prometheus_client's multiprocess mode needs ``PROMETHEUS_MULTIPROC_DIR`` set before
    a worker imports it: a fresh directory is made here (unless one is given) and
    removed when the server stops.
    """
    import copy
    import os
    import shutil
    import tempfile

    import uvicorn

    from caja.logs import LOG_CONFIG

    metrics_dir = None
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = tempfile.mkdtemp(prefix="caja-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        uvicorn.run(
            "caja.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="info",
            log_config=copy.deepcopy(LOG_CONFIG),
            access_log=False,
        )
    finally:
        if metrics_dir is not None:
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]
            shutil.rmtree(metrics_dir, ignore_errors=True)
