"""Every success answer in the served OpenAPI document has a schema and an example, and
each example is valid for its schema: a client reading /docs sees what it will get. A
204 is the exception: it has no body (RFC 9110), and documents none."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

pytestmark = pytest.mark.anyio

METHODS = {"get", "post", "put", "patch", "delete"}


def success_bodies(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(where, media type, media object) of every 2XX answer; a 2XX without a body is
    given as media type ``None``."""
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            for status, response in operation["responses"].items():
                if not str(status).startswith("2"):
                    continue
                where = f"{method.upper()} {path} {status}"
                content = response.get("content")
                if not content:
                    yield where, "", {}
                for media_type, media in (content or {}).items():
                    yield where, media_type, media


def examples_of(media: dict[str, Any]) -> list[Any]:
    if "example" in media:
        return [media["example"]]
    return [example["value"] for example in media.get("examples", {}).values()]


def problems_of(
    document: dict[str, Any], where: str, media_type: str, media: dict[str, Any]
) -> list[str]:
    schema = media.get("schema") or {}
    if where.endswith(" 204"):
        return [f"{where}: a 204 has no body"] if media_type else []
    if not media_type:
        return [f"{where}: no body documented"]
    if media_type == "application/json" and not ({"$ref", "type", "properties"} & schema.keys()):
        return [f"{where}: empty schema"]
    if not schema:
        return [f"{where} {media_type}: no schema"]
    examples = examples_of(media)
    if not examples:
        return [f"{where} {media_type}: no example"]
    # The schema, with the document's components beside it for its $refs.
    validator = Draft202012Validator({"components": document.get("components", {}), **schema})
    return [
        f"{where} {media_type}: example invalid at {list(error.absolute_path)}: {error.message}"
        for example in examples
        for error in validator.iter_errors(example)
    ]


async def test_every_success_answer_has_a_schema_and_a_valid_example(
    http: httpx.AsyncClient,
) -> None:
    document = (await http.get("/openapi.json")).json()
    problems = [
        problem
        for where, media_type, media in success_bodies(document)
        for problem in problems_of(document, where, media_type, media)
    ]
    assert problems == [], "\n".join(problems)


def test_the_checks_see_a_missing_example_and_an_invalid_one() -> None:
    document = {
        "components": {"schemas": {"A": {"type": "object", "required": ["x"]}}},
        "paths": {
            "/a": {
                "get": {
                    "responses": {
                        "200": {
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/A"}}
                            }
                        },
                        "201": {
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/A"},
                                    "example": {"y": 1},
                                }
                            }
                        },
                        "202": {"content": {"application/json": {"schema": {}, "example": {}}}},
                        "204": {
                            "description": "a body documented",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        "404": {"description": "not checked"},
                    }
                }
            }
        },
    }
    problems = [p for w, t, m in success_bodies(document) for p in problems_of(document, w, t, m)]
    assert [p.split(":")[0] for p in problems] == [
        "GET /a 200 application/json",
        "GET /a 201 application/json",
        "GET /a 202",
        "GET /a 204",
    ]
