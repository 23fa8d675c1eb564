"""Helpers for documenting responses with examples in the OpenAPI schema."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

__all__ = ["Responses", "documented", "error_response", "query_parameters"]

Responses = dict[int | str, dict[str, Any]]


def documented(
    model: type[BaseModel], description: str, example: Any | None = None
) -> dict[str, Any]:
    response: dict[str, Any] = {"model": model, "description": description}
    if example is not None:
        response["content"] = {"application/json": {"example": example}}
    return response


def error_response(description: str, example: dict[str, Any] | None = None) -> dict[str, Any]:
    from caja.api.ledger_v1.schemas import ErrorOut

    return documented(ErrorOut, description, example)


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
