"""Schemathesis against the app's own ``/openapi.json``, one surface at a time, with valid
credentials and without, on SQLite and on PostgreSQL.

Every generated request (positive and negative data, with real account tokens and ids of
the surface put in where a parameter or field has that name) must get an answer that is
not a 5XX, has a documented status code, a documented content type and a body matching
the documented schema, and, when it is an error, the surface's own error body. After the
run the ledger's invariants must hold.

Budget: ``CAJA_FUZZ_REQUESTS`` requests per surface and database (default 120), half with
valid credentials and half without. A full run, with the counts printed at the end:

    CAJA_FUZZ_REQUESTS=5000 .venv/bin/pytest -n 2 tests/fuzz/test_schema.py
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import schemathesis
from anyio.from_thread import BlockingPortal, start_blocking_portal
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.parameters import ParameterLocation
from schemathesis.core.result import Ok
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    missing_required_header,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from caja.db.engine import Database
from caja.ledger.verify import Report
from tests.conftest import Backend
from tests.fuzz.conftest import STATS_PROPERTY, asgi_client, close_app, make_app
from tests.fuzz.shapes import error_problem
from tests.fuzz.world import PREFIXES, SETUPS, World
from tests.helpers import Caja

REQUESTS = int(os.environ.get("CAJA_FUZZ_REQUESTS", "120"))
EXAMPLES = max(1, REQUESTS // 2)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    missing_required_header,
]
MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
Operation = APIOperation[Any, Any, Any, Any]
INJECTED = (ParameterLocation.PATH, ParameterLocation.QUERY, ParameterLocation.BODY)


@dataclass
class Stats:
    requests: int = 0
    server_errors: int = 0
    violations: int = 0
    statuses: Counter[int] = field(default_factory=Counter)


@dataclass(repr=False)
class Fuzzer:
    surface: str
    credentials: bool
    world: World
    http: httpx.AsyncClient
    portal: BlockingPortal
    operations: list[Operation]
    stats: Stats = field(default_factory=Stats)
    _strategies: dict[tuple[int, GenerationMode], st.SearchStrategy[Case[Any]]] = field(
        default_factory=dict
    )

    def __repr__(self) -> str:
        credentials = "with" if self.credentials else "without"
        return f"Fuzzer({self.surface}, {credentials} credentials)"

    def strategy(self, operation: Operation, mode: GenerationMode) -> st.SearchStrategy[Case[Any]]:
        key = (id(operation), mode)
        if key not in self._strategies:
            headers = None
            if self.credentials:
                headers = self.world.credentials(
                    operation.path.removeprefix(PREFIXES[self.surface])
                )
            self._strategies[key] = operation.as_strategy(generation_mode=mode, headers=headers)
        return self._strategies[key]

    def inject(self, case: Case[Any], draw: Callable[[st.SearchStrategy[Any]], Any]) -> None:
        """Put real values into the parts of ``case`` that were generated valid, so a valid
        part stays valid and a part generated invalid keeps what made it invalid."""
        meta = case.meta
        for location in INJECTED:
            container = case.get_container(location)
            if not isinstance(container, dict) or (meta and meta.is_negative_at(location)):
                continue
            for name in sorted(container):
                real = self.world.strategy(name)
                if real is not None and draw(st.integers(0, 3)) > 0:  # three times in four
                    container[name] = draw(real)

    async def send(self, case: Case[Any]) -> httpx.Response:
        sent = case.as_transport_kwargs(base_url=str(self.http.base_url).rstrip("/"))
        headers = [
            (name.encode("latin-1"), str(value).encode("latin-1"))
            for name, value in sent["headers"].items()
        ]
        content: bytes | None = None
        if "json" in sent:
            content = json.dumps(sent["json"]).encode()
        elif isinstance(sent.get("data"), str):
            content = sent["data"].encode()
        elif isinstance(sent.get("data"), bytes):
            content = sent["data"]
        self.stats.requests += 1
        response = await self.http.request(
            sent["method"], sent["url"], params=sent.get("params"), headers=headers, content=content
        )
        self.stats.statuses[response.status_code] += 1
        if response.status_code >= 500:
            self.stats.server_errors += 1
        return response

    def problems(self, case: Case[Any], response: httpx.Response) -> list[str]:
        found = []
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as failures:
            found.append(str(failures))
        shape = error_problem(self.surface, response)
        if shape is not None:
            found.append(f"{response.status_code} error body in the wrong format: {shape}")
        if found:
            self.stats.violations += 1
        return found

    def one(self, data: st.DataObject) -> None:
        operation = data.draw(st.sampled_from(self.operations), label="operation")
        mode = data.draw(st.sampled_from(MODES), label="mode")
        case = data.draw(self.strategy(operation, mode), label="case")
        self.inject(case, data.draw)
        response = self.portal.call(self.send, case)
        found = self.problems(case, response)
        assert not found, (
            f"{case.method} {case.formatted_path} answered {response.status_code} "
            f"{response.text[:500]!r}:\n" + "\n".join(found)
        )


async def _start(
    database_url: str, surface: str
) -> tuple[Database, FastAPI, httpx.AsyncClient, World, tuple[int, int, int]]:
    database = Database(database_url)
    app = make_app(database)
    http = asgi_client(app)
    caja = Caja(database, http)
    world = await SETUPS[surface](caja)
    return database, app, http, world, await caja.counts()


async def _finish(
    database: Database, app: FastAPI, http: httpx.AsyncClient
) -> tuple[Report, tuple[int, int, int]]:
    caja = Caja(database, http)
    report, counts = await caja.verify(), await caja.counts()
    await http.aclose()
    await close_app(app)
    await database.dispose()
    return report, counts


@pytest.fixture
def fuzzer(
    surface: str,
    credentials: bool,
    database_url: str,
    backend: Backend,
    fuzz_settings: None,
    record_property: Callable[[str, object], None],
) -> Iterator[Fuzzer]:
    """A fuzzer on its own event loop, in a thread: Hypothesis draws the requests here,
    and the app serves them there."""
    with start_blocking_portal("asyncio") as portal:
        database, app, http, world, counts = portal.call(_start, database_url, surface)
        schema = schemathesis.openapi.from_dict(app.openapi())
        prefix = PREFIXES[surface]
        operations = []
        for result in schema.get_all_operations():
            assert isinstance(result, Ok), result
            if result.ok().path.startswith(prefix + "/"):
                operations.append(result.ok())
        assert operations, f"no documented operation under {prefix}"
        made = Fuzzer(surface, credentials, world, http, portal, operations)
        try:
            yield made
        finally:
            report, after = portal.call(_finish, database, app, http)
        stats = made.stats
        record_property(
            STATS_PROPERTY,
            {
                "backend": backend.kind,
                "surface": surface,
                "credentials": "key" if credentials else "nokey",
                "requests": stats.requests,
                "server_errors": stats.server_errors,
                "violations": stats.violations,
                "statuses": dict(sorted(stats.statuses.items())),
            },
        )
    assert report.ok, report
    if not credentials:
        # Money never moves without credentials; a wallet sign-up (which needs none)
        # opens accounts, so only transfers and entries are compared.
        assert after[:2] == counts[:2], "requests without credentials moved money"


@pytest.mark.parametrize("credentials", [True, False], ids=["key", "nokey"])
@pytest.mark.parametrize("surface", list(PREFIXES))
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(data=st.data())
def test_every_answer_follows_the_documented_schema(fuzzer: Fuzzer, data: st.DataObject) -> None:
    fuzzer.one(data)
