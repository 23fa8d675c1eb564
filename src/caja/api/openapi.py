"""Helpers for documenting requests and responses in the OpenAPI schema.

Each surface documents its own error body (see ``caja.api.errors``): the helpers take
the surface's error model rather than assuming one.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

__all__ = [
    "Responses",
    "documented",
    "install_openapi",
    "query_parameters",
    "text_response",
]

Responses = dict[int | str, dict[str, Any]]

_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def documented(
    model: type[BaseModel], description: str, example: Any | None = None
) -> dict[str, Any]:
    response: dict[str, Any] = {"model": model, "description": description}
    if example is not None:
        response["content"] = {"application/json": {"example": example}}
    return response


def text_response(description: str, example: str) -> dict[str, Any]:
    """A plain-text answer, such as the wallet's token refusals."""
    return {
        "description": description,
        "content": {"text/plain": {"schema": {"type": "string"}, "example": example}},
    }


def query_parameters(
    described: dict[str, tuple[str, str]], *names: str, required: bool = False
) -> dict[str, Any]:
    """``openapi_extra`` documenting query parameters that the route reads itself;
    ``described`` maps each name to its description and JSON type."""
    return {
        "parameters": [
            {
                "name": name,
                "in": "query",
                "required": required,
                "description": described[name][0],
                "schema": {"type": described[name][1]},
            }
            for name in names
        ]
    }


def _drop_validation_errors(schema: dict[str, Any]) -> None:
    """Remove FastAPI's own 422 ``{"detail": ...}`` answer from every operation: each
    surface answers invalid parameters in its own body, so that one never reaches a
    client (``caja.api.errors`` turns it into the surface's) and must not be promised."""
    default = f"#/components/schemas/{_VALIDATION_SCHEMAS[0]}"
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            content = responses.get("422", {}).get("content", {})
            if content.get("application/json", {}).get("schema", {}).get("$ref") == default:
                del responses["422"]
    components = schema.get("components", {}).get("schemas", {})
    for name in _VALIDATION_SCHEMAS:
        components.pop(name, None)


def install_openapi(app: FastAPI) -> None:
    """Serve ``app``'s OpenAPI schema without FastAPI's default validation answers."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _drop_validation_errors(build())
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
