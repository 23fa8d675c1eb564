"""Dependencies shared by the surfaces."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from caja.db.engine import Database

__all__ = ["DatabaseDep", "get_database"]


def get_database(request: Request) -> Database:
    database = request.app.state.database
    assert isinstance(database, Database)
    return database


DatabaseDep = Annotated[Database, Depends(get_database)]
