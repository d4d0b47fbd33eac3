"""RFC 9457 problem+json for every error, mapped once for all services."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from .errors import DomainError
from .telemetry import current_trace_id
from .transient import refused_value

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    body.update(extra)
    if status == 401:
        headers = (headers or {}) | {"WWW-Authenticate": 'Bearer realm="playbooks"'}
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _loc(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        where, rest = parts[0], parts[1:]
        return f"{where}.{'.'.join(rest)}" if rest else where
    return ".".join(parts)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        return problem(exc.status, exc.title, exc.detail, instance=request.url.path, headers=exc.headers, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _loc(tuple(e["loc"])), "message": e["msg"], "type": e["type"]} for e in exc.errors()]
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        return problem(422, "Invalid request", f"{summary}{more}", instance=request.url.path, errors=errors[:100])

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {404: "Not found", 405: "Method not allowed", 401: "Unauthorized", 403: "Forbidden"}
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return problem(exc.status_code, titles.get(exc.status_code, "Error"), detail, instance=request.url.path)

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        # SQLSTATE class 22 (data exception) and asyncpg's own argument checks: the request carried a
        # value the database cannot hold (a NUL in text, an integer past its column): the caller's to fix.
        if refused_value(exc):
            reason = str(exc.orig).splitlines()[0][:300] if exc.orig else "value out of range"
            return problem(422, "Invalid request", f"a value cannot be stored: {reason}", instance=request.url.path)
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        trace_id = current_trace_id()
        log.exception("unhandled error", extra={"path": request.url.path})
        return problem(
            500,
            "Internal error",
            f"the service failed while handling this request; quote trace id {trace_id} when reporting it",
            instance=request.url.path,
            trace_id=trace_id,
        )


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; `errors` lists each invalid field of a 422.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}, "type": {"type": "string"}},
            },
        },
    },
    "additionalProperties": True,
}


def document_problems(app: FastAPI) -> None:
    """Make the OpenAPI document say what the handlers above really send for every error."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = build()
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        schemas["Problem"] = PROBLEM_SCHEMA
        content = {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for operations in doc.get("paths", {}).values():
            for op in operations.values():
                if not isinstance(op, dict):
                    continue
                responses = op.setdefault("responses", {})
                for code, response in responses.items():
                    if code[:1] in ("4", "5") and code != "503":
                        response["content"] = content
                if op.get("parameters") or op.get("requestBody"):
                    responses.setdefault("422", {"description": "Invalid request", "content": content})
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
