"""Helpers for documenting requests and responses in the OpenAPI schema.

Each surface documents its own error body (see ``caja.api.errors``): the helpers take
the surface's error model rather than assuming one.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from importlib.resources import files
from typing import Any

from fastapi import FastAPI, routing
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

__all__ = [
    "Responses",
    "documented",
    "install_docs",
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


def _documented_routes(app: FastAPI) -> Iterator[Any]:
    """The routes in the OpenAPI document, each with its path and responses as included
    (FastAPI 0.160 and later include routers lazily, and lists them through
    ``iter_route_contexts``)."""
    contexts = getattr(routing, "iter_route_contexts", None)
    for route in contexts(app.routes) if contexts is not None else app.routes:
        original = getattr(route, "original_route", route)
        if isinstance(original, APIRoute) and getattr(route, "include_in_schema", False):
            yield route


def _restore_examples(app: FastAPI, schema: dict[str, Any]) -> None:
    """Put back the documented answers' examples as written: FastAPI leaves every ``null``
    out of the document it builds, examples included, so an example with a null field
    would no longer match its schema."""
    for route in _documented_routes(app):
        for method in route.methods:
            operation = schema["paths"].get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            for status, response in route.responses.items():
                shown = operation["responses"].get(str(status), {}).get("content", {})
                for media_type, media in response.get("content", {}).items():
                    if "example" in media and media_type in shown:
                        shown[media_type]["example"] = media["example"]


def install_openapi(app: FastAPI) -> None:
    """Serve ``app``'s OpenAPI schema without FastAPI's default validation answers, and
    with its examples as written."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _drop_validation_errors(build())
            assert app.openapi_schema is not None
            _restore_examples(app, app.openapi_schema)
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


# Swagger UI and ReDoc, served from the files the ``fastapi-offline`` package ships: the
# pages fetch nothing from anywhere but this server.
DOCS_ASSETS = "/docs/assets"
_ASSETS = files("fastapi_offline").joinpath("static")
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def _docs_policy(html: str) -> str:
    """The pages' Content-Security-Policy: their scripts and styles from this server, the
    inline start-up script by its hash, the inline styles both viewers write, data: images
    (Swagger UI's icons), ReDoc's search worker, and requests to this server only."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(html)
    )
    return (
        f"default-src 'none'; script-src 'self' {hashes}".rstrip()
        + "; style-src 'self' 'unsafe-inline'; img-src 'self' data:; worker-src blob:; "
        "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
    )


def _served(page: HTMLResponse) -> HTMLResponse:
    html = bytes(page.body).decode()
    return HTMLResponse(html, headers={"Content-Security-Policy": _docs_policy(html)})


def install_docs(app: FastAPI, docs_url: str = "/docs", redoc_url: str = "/redoc") -> None:
    """Serve Swagger UI at ``docs_url`` and ReDoc at ``redoc_url``, both from local files
    (ReDoc without its Google Fonts); ``app`` is made with ``docs_url=None`` and
    ``redoc_url=None`` so that FastAPI's own pages, which load from a CDN, are not served."""
    assert app.openapi_url is not None
    favicon = f"{DOCS_ASSETS}/favicon.png"
    swagger = _served(
        get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title=f"{app.title} · Swagger UI",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=favicon,
            # No badge from the public validator: it would send the schema elsewhere.
            swagger_ui_parameters={"validatorUrl": None},
        )
    )
    redoc = _served(
        get_redoc_html(
            openapi_url=app.openapi_url,
            title=f"{app.title} · ReDoc",
            redoc_js_url=f"{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=favicon,
            with_google_fonts=False,
        )
    )
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(_ASSETS)), name="docs-assets")

    async def swagger_page() -> HTMLResponse:
        return swagger

    async def redoc_page() -> HTMLResponse:
        return redoc

    app.add_api_route(docs_url, swagger_page, include_in_schema=False)
    app.add_api_route(redoc_url, redoc_page, include_in_schema=False)
