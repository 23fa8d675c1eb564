"""What every ``caja`` command shares: running work on the database, printing JSON,
tables and progress, and ending every failure with one plain line.

``_run``, ``_print`` and the rest are private to the ``caja.cli`` package: only its
command modules use them.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import socket
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from sqlalchemy.exc import DBAPIError
from typer.core import TyperCommand, TyperGroup

from caja.config import database_url
from caja.core.errors import CajaError
from caja.db.engine import Database
from caja.db.urls import url_problem

__all__ = [
    "JsonFlag",
    "PlainCommand",
    "PlainGroup",
    "PlainSubgroup",
    "Progress",
    "_fail",
    "_print",
    "_progress",
    "_run",
    "_table",
    "check_port",
    "debugging",
    "plain_everywhere",
]

T = TypeVar("T")

# How far the work is: (done, total); a total of 0 means not known yet.
Progress = Callable[[int, int], None]

# A flag takes no value: no type is shown for it in --help (``metavar=""``).
JsonFlag = Annotated[bool, typer.Option("--json", metavar="", help="Print one JSON object.")]
DEBUG_HINT = "run with --debug to see the traceback"


# Set by ``caja --debug`` for the command it runs.
_debug = {"on": False}


def debugging(on: bool | None = None) -> bool:
    """Whether ``caja --debug`` was given (failures then show their traceback); ``on``
    sets it."""
    if on is not None:
        _debug["on"] = on
    return _debug["on"]


def _fail(message: str, code: int = 1) -> NoReturn:
    """End the command with ``error: message`` on stderr and exit ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _run(work: Callable[[Database], Awaitable[T]]) -> T:
    """Run ``work`` on the configured database; a domain error ends the command with 1."""

    url = database_url()
    problem = url_problem(url)
    if problem is not None:
        _fail(f"CAJA_DATABASE_URL: {problem}", 2)

    async def main() -> T:
        database = Database(url)
        try:
            return await work(database)
        finally:
            await database.dispose()

    try:
        return asyncio.run(main())
    except CajaError as error:
        if debugging():
            raise
        _fail(error.message)
    except DBAPIError as error:
        if debugging():
            raise
        said = " ".join(str(error.orig).split())
        _fail(f"database: {said} (is the schema there? `caja db upgrade` creates it)")
    except OSError as error:  # refused, unreachable, timed out: no answer to show
        if debugging():
            raise
        _fail(f"the database cannot be reached: {error}")


def _print(payload: dict[str, Any] | list[Any]) -> None:
    typer.echo(json.dumps(payload))


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Rows under a header row, for people: boxed on a terminal, plain columns in a pipe
    (one line per row, cells apart by at least two spaces)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    terminal = console.is_terminal
    table = Table(
        box=box.SIMPLE_HEAD if terminal else None,
        pad_edge=False,
        padding=(0, 2, 0, 0),
        show_edge=False,
        header_style="bold" if terminal else "",
    )
    for index, header in enumerate(headers):  # ids stay whole; the last column may wrap
        last = index == len(headers) - 1
        table.add_column(header, no_wrap=not last)
    for row in rows:  # as text: a name holding [brackets] is not Rich markup
        table.add_row(*(Text(str(cell)) for cell in row))
    if terminal:  # never cut an id or a name: past the terminal's width, lines run on
        wanted = _least_width(headers, rows)
        wide = Console(width=wanted, force_terminal=True) if wanted > console.width else console
        wide.print(table)
        return
    plain = Console(width=10_000, no_color=True, highlight=False)
    with plain.capture() as captured:
        plain.print(table, crop=False)
    for line in captured.get().splitlines():
        typer.echo(line.rstrip())


def _least_width(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
    """How wide a terminal table must be to show every cell whole, the last column's
    wrapped at its blanks (3 columns between cells)."""
    from rich.cells import cell_len

    columns = [[header, *(str(row[index]) for row in rows)] for index, header in enumerate(headers)]
    widths = [max(cell_len(cell) for cell in column) for column in columns[:-1]]
    last = max(cell_len(word) for cell in columns[-1] for word in [*cell.split(), ""])
    return sum(widths) + last + 3 * (len(headers) - 1)


@contextmanager
def _progress(label: str) -> Iterator[Progress | None]:
    """A progress bar on stderr while the work runs, only when stderr is a terminal (so
    pipes and tests see nothing); the work gets None otherwise."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    with Bar(
        f"[bold]{label}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or None)

        yield advance


def check_port(host: str, port: int) -> None:
    """End the command with one line when nothing can listen on ``host:port`` now."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as error:
        reason = (
            "is in use" if error.errno == errno.EADDRINUSE else f"cannot be used ({error.strerror})"
        )
        _fail(
            f"port {port} on {host} {reason}: stop what listens there or choose another with --port"
        )


def _describe(error: BaseException) -> str:
    """One line for an error nobody planned for: its kind and what it says."""
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class _FlagHelp:
    """``--help`` is shown as the flag it is, without a value's type."""

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None and option.metavar is None:
            option.metavar = ""
        return option


class PlainCommand(_FlagHelp, TyperCommand):
    """A ``caja`` command."""


class PlainSubgroup(_FlagHelp, TyperGroup):
    """A group of ``caja`` commands (``caja clients``, …)."""


def plain_everywhere(group: typer.Typer) -> None:
    """Make every command and group under ``group`` a plain one (before it is built)."""
    for command in group.registered_commands:
        if command.cls in (None, TyperCommand):
            command.cls = PlainCommand
    for subgroup in group.registered_groups:
        if subgroup.typer_instance is not None:
            subgroup.typer_instance.info.cls = PlainSubgroup
            plain_everywhere(subgroup.typer_instance)


class PlainGroup(_FlagHelp, TyperGroup):
    """The ``caja`` command group: every failure ends in one ``error: …`` line on stderr
    and a non-zero exit; ``caja --debug …`` shows the traceback instead."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        standalone = kwargs.get("standalone_mode", True)
        kwargs["standalone_mode"] = False  # errors come here, to be said in one line
        try:
            result = super().main(*args, **kwargs)
        except typer.TyperException as error:
            if not standalone:
                raise
            if type(error).__name__ == "NoArgsIsHelpError":  # a bare group: its help
                error.show()  # type: ignore[attr-defined]
                sys.exit(error.exit_code)
            _usage_error(error)
        except typer.Abort:
            if not standalone:
                raise
            typer.echo("error: stopped", err=True)
            sys.exit(1)
        except BrokenPipeError:  # `caja … | head`: the reader has all it wanted
            sys.stdout = open(os.devnull, "w")  # flushed at exit, never read
            sys.exit(1)
        if not standalone:
            return result
        sys.exit(result if isinstance(result, int) else 0)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.TyperException, typer.Exit, typer.Abort, BrokenPipeError):
            raise
        except Exception as error:
            if ctx.params.get("debug"):
                raise
            typer.echo(f"error: {_describe(error)} ({DEBUG_HINT})", err=True)
            raise typer.Exit(1) from None


def _usage_error(error: typer.TyperException) -> NoReturn:
    """A mistyped command line: what is wrong, and where its help is, in one line."""
    where = ""
    context = getattr(error, "ctx", None)
    if context is not None:
        where = f" (see '{context.command_path} --help')"
    typer.echo(f"error: {error.format_message().rstrip('.')}{where}", err=True)
    sys.exit(error.exit_code)
