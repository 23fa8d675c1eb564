"""Finding PostgreSQL's own programs (pg_dump, pg_restore, initdb, ...) on this machine."""

from __future__ import annotations

import shutil
from pathlib import Path

__all__ = ["pg_binary"]


def pg_binary(name: str, hint: str = "install the PostgreSQL client programs") -> str:
    """A PostgreSQL program from PATH, else from the newest Debian server package.

    Debian installs the programs of each server version under
    ``/usr/lib/postgresql/<version>/bin`` and puts only some of them on PATH. ``hint``
    ends the error raised when there is none: how to get it.
    """
    on_path = shutil.which(name)
    if on_path is not None:
        return on_path
    installed = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if installed:
        return str(installed[-1])
    raise RuntimeError(f"{name} not found: {hint}")
