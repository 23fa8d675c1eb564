"""``caja catalog``: list, import (JSON and YAML), enable and disable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from caja.cli import app
from tests.test_cli import runner

LOGO = "https://storage.googleapis.com/bucket-faas/suppliers/{}.webp"
NEW_PROVIDER = {
    "provider_code": "77",
    "name": "OTRO PAQUETES",
    "operator_logo_url": "https://example.com/77.webp",
    "route": "PUNTORED",
    "enabled": True,
}
NEW_PACKAGE = {
    "package_code": "P77",
    "provider_code": "77",
    "name": "1 GB POR 1 DIA",
    "description": "1GB_1D",
    "amount": 2000,
    "validity": "1 DIA",
    "sku": None,
    "category_code": "5",
    "category_description": "NAVEGAR",
    "enabled": True,
}
SEED_767 = {
    "package_code": "767",
    "provider_code": "58",
    "name": "1.5 GB DE NAVEGACION + MUNUTOS Y MENSAJES ILIMI. + REDES SOCIALES (WHATSAPP "
    "FACEBOOK TWITTER) + 7 DIAS POR $7.500",
    "description": "1.5GB_MIN ILIMT+7D",
    "amount": 7500,
    "validity": "7 DIAS",
    "sku": "50130",
    "category_code": "7",
    "category_description": "TODO INCLUIDO",
    "enabled": True,
}


class Cli:
    def __init__(self, database_url: str) -> None:
        self.env = {"CAJA_DATABASE_URL": database_url}

    def __call__(self, *args: str) -> Result:
        return runner.invoke(app, list(args), env=self.env)

    def catalog(self) -> dict[str, list[dict[str, Any]]]:
        result = self("catalog", "list", "--json")
        assert result.exit_code == 0, result.output
        found: dict[str, list[dict[str, Any]]] = json.loads(result.stdout)
        return found


@pytest.fixture
def cli(database_url: str) -> Cli:
    return Cli(database_url)


def by_code(rows: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {row[key]: row for row in rows}


def item(catalog: dict[str, list[dict[str, Any]]], kind: str, code: str) -> dict[str, Any]:
    key = {"operators": "slug", "package_providers": "provider_code", "packages": "package_code"}
    return by_code(catalog[kind], key[kind])[code]


# --- list ---------------------------------------------------------------------------------


def test_list_json_is_the_seeded_catalog_in_the_import_format(cli: Cli) -> None:
    result = cli("catalog", "list", "--json")

    assert result.exit_code == 0, result.output
    assert len(result.stdout.strip().splitlines()) == 1
    catalog = json.loads(result.stdout)
    assert list(catalog) == ["operators", "package_providers", "packages"]
    assert [row["slug"] for row in catalog["operators"]] == [
        "movistar",
        "claro-movil",
        "avantel",
        "uff-movil",
        "etb",
        "tigo",
    ]
    assert item(catalog, "operators", "etb") == {
        "slug": "etb",
        "name": "ETB",
        "icon_url": "https://some-icon-url.com",
        "route": "MOVILRED",
        "enabled": True,
    }
    assert catalog["package_providers"] == [
        {
            "provider_code": code,
            "name": name,
            "operator_logo_url": LOGO.format(code),
            "route": "PUNTORED",
            "enabled": True,
        }
        for code, name in [
            ("3", "TIGO"),
            ("58", "CLARO PAQUETES"),
            ("72", "VIRGIN MOBILE PAQUETES"),
            ("30", "MOVISTAR PAQUETES"),
        ]
    ]
    assert [row["package_code"] for row in catalog["packages"]] == ["024", "353", "767", "939"]
    assert item(catalog, "packages", "767") == SEED_767


def test_list_text_shows_every_item_with_its_state(cli: Cli) -> None:
    assert cli("catalog", "disable", "package", "353").exit_code == 0

    result = cli("catalog", "list")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["kind", "code", "state", "amount", "provider", "name"]
    assert [line.split()[0] for line in lines[1:]] == ["operator"] * 6 + ["provider"] * 4 + [
        "package"
    ] * 4
    etb = next(line for line in lines if line.split()[1] == "etb")
    assert etb.split() == ["operator", "etb", "enabled", "-", "-", "ETB"]
    claro = next(line for line in lines if line.split()[1] == "58")
    assert claro.split() == ["provider", "58", "enabled", "-", "-", "CLARO", "PAQUETES"]
    venezuela = next(line for line in lines if line.split()[1] == "353")
    assert venezuela.split()[:5] == ["package", "353", "disabled", "5000", "58"]
    assert "18 MINUTOS A VENEZUELA" in venezuela


# --- import -------------------------------------------------------------------------------


def write_json(path: Path, data: Any) -> str:
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


YAML_FILE = """\
package_providers:
  - provider_code: "77"          # quoted: a code is text
    name: OTRO PAQUETES
    operator_logo_url: https://example.com/77.webp
    route: PUNTORED
packages:
  - package_code: P77
    provider_code: "77"
    name: 1 GB POR 1 DIA
    description: 1GB_1D
    amount: 2000
    validity: 1 DIA
    category_code: "5"
    category_description: NAVEGAR
"""


@pytest.mark.parametrize("suffix", [".json", ".yaml", ".yml"])
def test_import_adds_a_new_provider_and_its_package(cli: Cli, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"catalog{suffix}"
    if suffix == ".json":
        write_json(path, {"package_providers": [NEW_PROVIDER], "packages": [NEW_PACKAGE]})
    else:
        path.write_text(YAML_FILE, encoding="utf-8")
    before = cli.catalog()

    result = cli("catalog", "import", str(path))

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "0 operators, 1 package_providers, 1 packages imported"
    after = cli.catalog()
    assert after["operators"] == before["operators"]
    assert after["package_providers"] == [*before["package_providers"], NEW_PROVIDER]
    assert after["packages"] == [*before["packages"], NEW_PACKAGE]


def test_import_replaces_existing_items_by_code(cli: Cli, tmp_path: Path) -> None:
    changed_package = {**SEED_767, "amount": 8000, "validity": "8 DIAS", "sku": None}
    changed_operator = {"slug": "etb", "name": "ETB Móvil", "route": "OTRA", "enabled": False}
    path = write_json(
        tmp_path / "changes.json",
        {"operators": [changed_operator], "packages": [changed_package]},
    )
    before = cli.catalog()

    result = cli("catalog", "import", path)

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "1 operators, 0 package_providers, 1 packages imported"
    after = cli.catalog()
    assert [row["package_code"] for row in after["packages"]] == ["024", "353", "767", "939"]
    assert item(after, "packages", "767") == changed_package
    # The file's item replaces the stored one whole: an optional field left out is cleared.
    assert item(after, "operators", "etb") == {**changed_operator, "icon_url": None}
    assert [row for row in after["packages"] if row["package_code"] != "767"] == [
        row for row in before["packages"] if row["package_code"] != "767"
    ]
    assert after["package_providers"] == before["package_providers"]


def test_an_imported_item_without_enabled_is_enabled(cli: Cli, tmp_path: Path) -> None:
    assert cli("catalog", "disable", "package", "767").exit_code == 0
    without = {name: value for name, value in SEED_767.items() if name != "enabled"}
    path = write_json(tmp_path / "again.json", {"packages": [without]})
    assert item(cli.catalog(), "packages", "767")["enabled"] is False

    result = cli("catalog", "import", path)

    assert result.exit_code == 0, result.output
    assert item(cli.catalog(), "packages", "767") == SEED_767


def test_import_may_move_a_package_to_another_provider(cli: Cli, tmp_path: Path) -> None:
    moved = {**SEED_767, "provider_code": "3"}
    path = write_json(tmp_path / "move.json", {"packages": [moved]})

    result = cli("catalog", "import", path)

    assert result.exit_code == 0, result.output
    assert item(cli.catalog(), "packages", "767")["provider_code"] == "3"


BAD_JSON_FILES: list[tuple[str, Any, str]] = [
    ("unknown section", {"widgets": []}, "unknown sections: widgets"),
    ("not an object", [NEW_PACKAGE], "catalog: must be an object"),
    ("empty object", {}, "catalog: must be an object"),
    ("section not a list", {"packages": NEW_PACKAGE}, "packages: must be a list"),
    (
        "missing field",
        {"packages": [{k: v for k, v in NEW_PACKAGE.items() if k != "name"}]},
        "packages[0].name: is required",
    ),
    (
        "missing code",
        {"package_providers": [{k: v for k, v in NEW_PROVIDER.items() if k != "provider_code"}]},
        "package_providers[0].provider_code: is required",
    ),
    (
        "unknown field",
        {"package_providers": [{**NEW_PROVIDER, "colour": "red"}]},
        "unknown fields: colour",
    ),
    (
        "package of an unknown provider",
        {"packages": [{**NEW_PACKAGE, "provider_code": "404"}]},
        "no package provider 404",
    ),
    (
        "good provider, then a package of an unknown provider",
        {
            "package_providers": [NEW_PROVIDER],
            "packages": [{**SEED_767, "amount": 1}, {**NEW_PACKAGE, "provider_code": "404"}],
        },
        "no package provider 404",
    ),
    ("zero amount", {"packages": [{**NEW_PACKAGE, "amount": 0}]}, "packages[0].amount"),
    ("negative amount", {"packages": [{**NEW_PACKAGE, "amount": -5}]}, "packages[0].amount"),
    ("fractional amount", {"packages": [{**NEW_PACKAGE, "amount": 20.5}]}, "packages[0].amount"),
    ("amount as text", {"packages": [{**NEW_PACKAGE, "amount": "2000"}]}, "packages[0].amount"),
    ("blank name", {"package_providers": [{**NEW_PROVIDER, "name": " "}]}, "[0].name"),
    ("null name", {"package_providers": [{**NEW_PROVIDER, "name": None}]}, "[0].name"),
    ("code too long", {"package_providers": [{**NEW_PROVIDER, "provider_code": "9" * 21}]}, "[0]"),
    ("enabled not a bool", {"package_providers": [{**NEW_PROVIDER, "enabled": "no"}]}, "enabled"),
    ("code as a number", {"package_providers": [{**NEW_PROVIDER, "provider_code": 77}]}, "text"),
]


@pytest.mark.parametrize(
    ("data", "message"),
    [case[1:] for case in BAD_JSON_FILES],
    ids=[case[0] for case in BAD_JSON_FILES],
)
def test_a_bad_json_file_exits_1_and_changes_nothing(
    cli: Cli, tmp_path: Path, data: Any, message: str
) -> None:
    path = write_json(tmp_path / "bad.json", data)
    before = cli.catalog()

    result = cli("catalog", "import", path)

    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ")
    assert message in line
    assert cli.catalog() == before


BAD_TEXT_FILES = [
    ("unreadable YAML", "bad.yaml", "packages: [unclosed\n  - {"),
    ("YAML tab indentation", "bad.yml", "packages:\n\t- package_code: X\n"),
    ("YAML scalar", "bad.yaml", "just some text\n"),
    ("YAML unknown section", "bad.yaml", "widgets: []\n"),
    ("YAML non-positive amount", "bad.yaml", YAML_FILE.replace("amount: 2000", "amount: 0")),
    # Unquoted, YAML reads 024 as the number 20: a code given as a number is refused.
    (
        "YAML unquoted code",
        "bad.yaml",
        YAML_FILE.replace('provider_code: "77"', "provider_code: 024"),
    ),
    ("unreadable JSON", "bad.json", '{"packages": ['),
    ("empty JSON", "bad.json", ""),
]


@pytest.mark.parametrize(
    ("name", "text"),
    [case[1:] for case in BAD_TEXT_FILES],
    ids=[case[0] for case in BAD_TEXT_FILES],
)
def test_an_unreadable_or_bad_text_file_exits_1_and_changes_nothing(
    cli: Cli, tmp_path: Path, name: str, text: str
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    before = cli.catalog()

    result = cli("catalog", "import", str(path))

    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert cli.catalog() == before


def test_importing_a_missing_file_exits_1_naming_it(cli: Cli, tmp_path: Path) -> None:
    path = str(tmp_path / "nowhere.json")

    result = cli("catalog", "import", path)

    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {path}: ")


# --- enable and disable -------------------------------------------------------------------

TARGETS = [
    ("operator", "operators", "etb"),
    ("provider", "package_providers", "58"),
    ("package", "packages", "767"),
]


@pytest.mark.parametrize(("kind", "section", "code"), TARGETS)
def test_disable_then_enable_shows_in_the_list(
    cli: Cli, kind: str, section: str, code: str
) -> None:
    before = cli.catalog()

    disabled = cli("catalog", "disable", kind, code)
    after_disable = cli.catalog()
    enabled = cli("catalog", "enable", kind, code)
    after_enable = cli.catalog()

    assert disabled.exit_code == 0, disabled.output
    assert disabled.stdout.strip() == f"{kind} {code} disabled"
    assert item(after_disable, section, code)["enabled"] is False
    # Nothing else changed.
    assert {**after_disable, section: []} == {**before, section: []}
    assert [r for r in after_disable[section] if r != item(after_disable, section, code)] == [
        r for r in before[section] if r != item(before, section, code)
    ]
    assert enabled.exit_code == 0, enabled.output
    assert enabled.stdout.strip() == f"{kind} {code} enabled"
    assert after_enable == before


@pytest.mark.parametrize("command", ["disable", "enable"])
def test_enabling_or_disabling_twice_is_harmless(cli: Cli, command: str) -> None:
    first = cli("catalog", command, "package", "024")
    second = cli("catalog", command, "package", "024")

    assert first.exit_code == second.exit_code == 0
    assert item(cli.catalog(), "packages", "024")["enabled"] is (command == "enable")


@pytest.mark.parametrize(
    ("kind", "code", "message"),
    [
        ("operator", "nope", "error: No operator nope."),
        ("provider", "999", "error: No package provider 999."),
        ("package", "999", "error: No package 999."),
        ("package", "58", "error: No package 58."),
    ],
)
@pytest.mark.parametrize("command", ["disable", "enable"])
def test_an_unknown_code_exits_1(
    cli: Cli, command: str, kind: str, code: str, message: str
) -> None:
    before = cli.catalog()

    result = cli("catalog", command, kind, code)

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.strip() == message
    assert cli.catalog() == before


@pytest.mark.parametrize("kind", ["operators", "packages", "widget", "PACKAGE"])
@pytest.mark.parametrize("command", ["disable", "enable"])
def test_an_unknown_kind_exits_1(cli: Cli, command: str, kind: str) -> None:
    before = cli.catalog()

    result = cli("catalog", command, kind, "767")

    assert result.exit_code == 1
    assert result.stderr.strip() == "error: kind must be one of operator, provider, package"
    assert cli.catalog() == before
