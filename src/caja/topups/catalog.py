"""What merchants can buy: top-up operators, package providers and their packages.

The migrations seed the catalog with what the gateway's API document shows; operators
change it with ``caja catalog`` (import a JSON or YAML file, enable, disable, list).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Row, Table, func, insert, select, update
from sqlalchemy.engine import Connection

from caja.core.errors import InvalidInput, NotFound
from caja.db.engine import Database
from caja.topups.tables import package_providers, packages, topup_operators

__all__ = [
    "KINDS",
    "CatalogPage",
    "import_catalog",
    "list_operators",
    "list_packages",
    "list_providers",
    "operator",
    "package",
    "provider",
    "set_enabled",
    "snapshot",
]


@dataclass(frozen=True, slots=True)
class _Kind:
    table: Table
    key: str
    required: tuple[str, ...]
    optional: tuple[str, ...]


# The catalog file's sections, each keyed by one unique code.
KINDS: dict[str, _Kind] = {
    "operators": _Kind(topup_operators, "slug", ("name", "route"), ("icon_url",)),
    "package_providers": _Kind(
        package_providers, "provider_code", ("name", "route"), ("operator_logo_url",)
    ),
    "packages": _Kind(
        packages,
        "package_code",
        (
            "provider_code",
            "name",
            "description",
            "amount",
            "validity",
            "category_code",
            "category_description",
        ),
        ("sku",),
    ),
}


def _one(connection: Connection, table: Table, column: str, value: str) -> Row[Any] | None:
    return connection.execute(select(table).where(table.c[column] == value)).first()


def operator(connection: Connection, slug: str) -> Row[Any] | None:
    return _one(connection, topup_operators, "slug", slug)


def provider(connection: Connection, provider_code: str) -> Row[Any] | None:
    return _one(connection, package_providers, "provider_code", provider_code)


def package(connection: Connection, package_code: str) -> Row[Any] | None:
    return _one(connection, packages, "package_code", package_code)


async def list_operators(database: Database) -> list[Row[Any]]:
    """Top-up operators that can be bought from now."""
    async with database.read() as connection:
        query = (
            select(topup_operators)
            .where(topup_operators.c.enabled.is_(True))
            .order_by(topup_operators.c.id)
        )
        return list((await connection.execute(query)).all())


async def list_providers(database: Database) -> list[Row[Any]]:
    """Every package provider, with whether it is enabled."""
    async with database.read() as connection:
        query = select(package_providers).order_by(package_providers.c.id)
        return list((await connection.execute(query)).all())


@dataclass(frozen=True, slots=True)
class CatalogPage:
    rows: list[Row[Any]]
    count: int


async def list_packages(
    database: Database, provider_code: str | None, page: int, per_page: int
) -> CatalogPage:
    """Enabled packages of enabled providers, optionally of one provider; one page."""
    async with database.read() as connection:
        if provider_code is not None and await connection.run_sync(provider, provider_code) is None:
            raise InvalidInput(
                "provider_identifier",
                f"Objeto con provider_code={provider_code} no existe",
                value=provider_code,
            )
        conditions: list[ColumnElement[bool]] = [
            packages.c.enabled.is_(True),
            package_providers.c.enabled.is_(True),
        ]
        if provider_code is not None:
            conditions.append(packages.c.provider_code == provider_code)
        joined = packages.join(
            package_providers, package_providers.c.provider_code == packages.c.provider_code
        )
        count = (
            await connection.execute(select(func.count()).select_from(joined).where(*conditions))
        ).scalar_one()
        rows = (
            await connection.execute(
                select(packages)
                .select_from(joined)
                .where(*conditions)
                .order_by(packages.c.id)
                .limit(per_page)
                .offset((page - 1) * per_page)
            )
        ).all()
        return CatalogPage(list(rows), count)


def _check_fields(spec: _Kind, item: Any, where: str) -> None:
    """``item`` is an object with every required field and no unknown one."""
    if not isinstance(item, Mapping):
        raise InvalidInput(where, "must be an object")
    unknown = set(item) - {spec.key, *spec.required, *spec.optional, "enabled"}
    if unknown:
        raise InvalidInput(where, f"unknown fields: {', '.join(sorted(unknown))}")
    for name in (spec.key, *spec.required):
        if name not in item:
            raise InvalidInput(f"{where}.{name}", "is required")


def _clean_amount(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidInput(f"{where}.amount", "must be a positive whole number of pesos")
    return value


def _clean_text(spec: _Kind, name: str, value: Any, where: str) -> str:
    if not isinstance(value, str):
        # YAML reads an unquoted 024 as the number 20: codes and names must be text.
        raise InvalidInput(f"{where}.{name}", "must be text (quote it in YAML)")
    text = value.strip()
    limit = getattr(spec.table.c[name].type, "length", None)
    if not text or (limit is not None and len(text) > limit):
        raise InvalidInput(f"{where}.{name}", f"must have 1 to {limit} characters")
    return text


def _clean_value(spec: _Kind, name: str, value: Any, where: str) -> Any:
    """One given field's value, checked and trimmed (None only for an optional field)."""
    if value is None and name not in spec.optional:
        raise InvalidInput(f"{where}.{name}", "is required")
    if name == "amount":
        return _clean_amount(value, where)
    if value is None:
        return None
    return _clean_text(spec, name, value, where)


def _clean(kind: str, item: Any, position: int) -> dict[str, Any]:
    spec = KINDS[kind]
    where = f"{kind}[{position}]"
    _check_fields(spec, item, where)
    row: dict[str, Any] = {}
    for name in (spec.key, *spec.required, *spec.optional):
        # An optional field left out: the item replaces, so clear it.
        row[name] = _clean_value(spec, name, item[name], where) if name in item else None
    enabled = item.get("enabled", True)
    if not isinstance(enabled, bool):
        raise InvalidInput(f"{where}.enabled", "must be true or false")
    row["enabled"] = enabled
    return row


def _untold(_done: int, _total: int) -> None:
    """No progress to tell."""


async def import_catalog(
    database: Database, data: Any, progress: Callable[[int, int], None] | None = None
) -> dict[str, int]:
    """Add or replace (by code) every item of ``data``'s sections, all or nothing;
    ``progress(done, total)`` is told after each item.

    Returns how many items of each section were written.
    """
    if not isinstance(data, Mapping) or not data:
        raise InvalidInput("catalog", f"must be an object with some of: {', '.join(KINDS)}")
    unknown = set(data) - set(KINDS)
    if unknown:
        raise InvalidInput("catalog", f"unknown sections: {', '.join(sorted(unknown))}")
    sections: dict[str, list[dict[str, Any]]] = {}
    for kind in KINDS:  # providers before the packages that name them
        items = data.get(kind, [])
        if not isinstance(items, list):
            raise InvalidInput(kind, "must be a list")
        sections[kind] = [_clean(kind, item, n) for n, item in enumerate(items)]

    total, told = sum(len(rows) for rows in sections.values()), progress or _untold

    def work(connection: Connection) -> dict[str, int]:
        done = 0
        for kind, rows in sections.items():
            spec = KINDS[kind]
            for row in rows:
                done += 1
                told(done, total)
                if kind == "packages" and provider(connection, row["provider_code"]) is None:
                    raise InvalidInput(
                        "packages.provider_code", f"no package provider {row['provider_code']}"
                    )
                key = spec.table.c[spec.key]
                found = connection.execute(
                    update(spec.table).where(key == row[spec.key]).values(row)
                )
                if found.rowcount == 0:
                    connection.execute(insert(spec.table).values(row))
        return {kind: len(rows) for kind, rows in sections.items()}

    return await database.write(work)


async def set_enabled(database: Database, kind: str, code: str, enabled: bool) -> None:
    spec = KINDS[kind]

    def work(connection: Connection) -> None:
        found = connection.execute(
            update(spec.table).where(spec.table.c[spec.key] == code).values(enabled=enabled)
        )
        if found.rowcount == 0:
            raise NotFound(f"No {kind.rstrip('s').replace('_', ' ')} {code}.", code="NotInCatalog")

    await database.write(work)


async def snapshot(database: Database) -> dict[str, list[dict[str, Any]]]:
    """The whole catalog, in the import file's format."""
    async with database.read() as connection:
        result: dict[str, list[dict[str, Any]]] = {}
        for kind, spec in KINDS.items():
            rows = await connection.execute(select(spec.table).order_by(spec.table.c.id))
            result[kind] = [
                {name: value for name, value in row._mapping.items() if name != "id"}
                for row in rows
            ]
        return result
