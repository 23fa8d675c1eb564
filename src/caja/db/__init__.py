"""Storage: SQLAlchemy Core tables, engine setup and Alembic migrations."""

from caja.db.engine import Database

__all__ = ["Database"]
