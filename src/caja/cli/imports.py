"""``caja import``: a file of transfers posted through the bulk path, 1,000 at a time."""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from caja.cli.common import JsonFlag, Progress, _fail, _print, _progress, _run, _table
from caja.db.engine import Database

if TYPE_CHECKING:
    from caja.core.principal import Principal
    from caja.customers.bulk import Outcome

__all__ = ["import_file"]

CHUNK = 1000
COLUMNS = (
    "origin_account",
    "destination_account",
    "amount",
    "description",
    "unique_transfer_token",
)
# The digest the import's own resolver answers: the client named by --client.
_CLIENT = "import:client"
# At most this many refused rows are listed (all are counted).
SHOWN = 20


def _rows_csv(path: Path, text: str) -> list[Any]:
    reader = csv.DictReader(text.splitlines())
    header = reader.fieldnames or []
    missing = [name for name in COLUMNS if name not in header]
    if missing:
        _fail(f"{path}: the header row lacks {', '.join(missing)}")
    rows: list[Any] = []
    for row in reader:
        if None in row or None in row.values():
            _fail(f"{path}:{reader.line_num}: the row's cells do not match the header")
        rows.append(row)
    return rows


def _rows_jsonl(path: Path, text: str) -> list[Any]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line, parse_float=Decimal))
        except ValueError:
            _fail(f"{path}:{number}: not a JSON object")
    return rows


def _read(path: Path) -> list[Any]:
    """The file's transfers: one body of ``POST /transaction`` each."""
    kind = path.suffix.lower()
    if kind not in (".csv", ".jsonl", ".ndjson"):
        _fail(f"{path}: the file must be .csv or .jsonl")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        _fail(f"{path}: no such file")
    except (OSError, UnicodeDecodeError) as error:
        _fail(f"{path}: cannot be read as UTF-8 text ({error})")
    rows = _rows_csv(path, text) if kind == ".csv" else _rows_jsonl(path, text)
    if not rows:
        _fail(f"{path}: no transfers in the file")
    return rows


async def _principal(database: Database, client_token: str) -> Principal:
    from caja.clients.service import authorize, client_id_of, list_clients
    from caja.core.errors import NotFound
    from caja.core.principal import Principal

    found = [info for info in await list_clients(database) if info.client_id == client_token]
    if not found or found[0].revoked:
        raise NotFound(f"No active client {client_token}.", code="ClientNotFound")
    async with database.read() as connection:
        client_id = await connection.run_sync(client_id_of, client_token)
    assert client_id is not None
    return authorize(Principal(client_id, client_token, frozenset(found[0].scopes)), "ledger")


def _chunks(rows: list[Any]) -> Iterator[tuple[int, list[Any]]]:
    for start in range(0, len(rows), CHUNK):
        yield start, rows[start : start + CHUNK]


async def _post(
    database: Database, client_token: str, rows: list[Any], progress: Progress | None
) -> list[Outcome]:
    from caja.api.ledger_v1.batch import read_item
    from caja.api.ledger_v1.routes import NAME
    from caja.clients.service import authorize
    from caja.core.errors import CajaError
    from caja.customers.bulk import transfer_many
    from caja.ledger.batching import Batcher

    principal = await _principal(database, client_token)
    batcher = Batcher(database, principals=lambda _connection, _digests: {_CLIENT: principal})
    outcomes: list[Outcome] = []
    for start, chunk in _chunks(rows):
        try:
            posted = await transfer_many(
                batcher,
                key_digest=_CLIENT,
                authorize=lambda found: authorize(found, "ledger"),
                surface=NAME,
                items=[read_item(raw) for raw in chunk],
            )
        except CajaError as error:
            done = f"; rows 1 to {start} were posted" if start else ""
            raise CajaError(
                f"rows {start + 1} to {start + len(chunk)} were not posted: {error.message}"
                f"{done}. Run the same file again: its unique_transfer_tokens make that safe."
            ) from error
        outcomes.extend(posted.outcomes)
        if progress is not None:
            progress(len(outcomes), len(rows))
    return outcomes


def _summary(rows: list[Any], outcomes: list[Outcome]) -> dict[str, Any]:
    from caja.api.ledger_v1.batch import item_status

    statuses = [item_status(outcome) for outcome in outcomes]
    counts = Counter(f"{status} {code}" if code else str(status) for status, code, _ in statuses)
    refused = [
        {
            "row": number,
            "unique_transfer_token": _token(row),
            "status": status,
            "code": code,
            "message": message,
        }
        for number, (row, (status, code, message)) in enumerate(
            zip(rows, statuses, strict=True), start=1
        )
        if status >= 300
    ]
    return {
        "transfers": len(rows),
        "created": counts.get("201", 0),
        "already_made": counts.get("208", 0),
        "refused": len(refused),
        "outcomes": dict(sorted(counts.items())),
        "refusals": refused,
    }


def _token(row: Any) -> Any:
    return row.get("unique_transfer_token") if isinstance(row, Mapping) else None


def _echo(summary: dict[str, Any]) -> None:
    typer.echo(
        f"{summary['transfers']} transfers: {summary['created']} created, "
        f"{summary['already_made']} already made, {summary['refused']} refused"
    )
    _table(["outcome", "count"], [[key, count] for key, count in summary["outcomes"].items()])
    refusals: Iterable[dict[str, Any]] = summary["refusals"][:SHOWN]
    for refusal in refusals:
        typer.echo(f"row {refusal['row']}: {refusal['status']} {refusal['message']}")
    if summary["refused"] > SHOWN:
        typer.echo(f"… and {summary['refused'] - SHOWN} more refused rows (--json lists all)")


def import_file(
    path: Annotated[
        Path,
        typer.Argument(
            help="A .csv file with a header row (origin_account, destination_account, "
            "amount, description, unique_transfer_token), or .jsonl: one body of "
            "POST /transaction per line.",
            show_default=False,
        ),
    ],
    client: Annotated[
        str,
        typer.Option(
            "--client", help="The client (cli-…) whose accounts these are.", show_default=False
        ),
    ],
    as_json: JsonFlag = False,
) -> None:
    """Post a file of ledger transfers, 1,000 per transaction, in file order; print how
    each ended. Running the same file again is safe: rows already made answer 208."""
    rows = _read(path)
    with _progress("importing") as progress:
        outcomes = _run(lambda database: _post(database, client, rows, progress))
    summary = _summary(rows, outcomes)
    if as_json:
        _print(summary)
    else:
        _echo(summary)
