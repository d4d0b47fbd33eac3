"""ASGI middleware shared by every service: request size limit, request metrics and traces."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson
from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import telemetry
from .metrics import Metrics


class _TooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Refuse request bodies over the limit with 413, before the route reads them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._reject(scope, send)
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._reject(scope, send)

    async def _reject(self, scope: Scope, send: Send) -> None:
        body = orjson.dumps(
            {
                "type": "about:blank",
                "title": "Payload too large",
                "status": 413,
                "detail": f"the request body is over the limit of {self.max_bytes} bytes; split it into smaller "
                "requests",
                "instance": scope.get("path"),
            }
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class ObservedRequests:
    """Every HTTP request counted and timed (Prometheus) and, but for the probes, traced: one SERVER
    span named ``{method} {route template}``, continuing the caller's ``traceparent``.

    One layer for both, written for this platform instead of OpenTelemetry's ASGI instrumentation:
    that one found the route by matching the request against every route of the app a second time,
    read every header into attributes and made INTERNAL spans per receive and send, and paid most of
    it with no tracer configured; it was the largest share of a small request's cost (decision 0034).
    The attributes follow ``telemetry.SEMCONV_VERSION``; the query string is never recorded (it may
    carry what a caller should not have put there)."""

    def __init__(self, app: ASGIApp, metrics: Metrics, untraced: frozenset[str]) -> None:
        self.app, self.metrics, self.untraced = app, metrics, untraced

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = 500  # what an exception that escapes the app becomes

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        method = scope["method"]
        try:
            if scope["path"] in self.untraced:
                await self.app(scope, receive, observed_send)
            elif not telemetry.recording():
                # No spans go anywhere: only the caller's context, so that what this request
                # publishes or calls still carries the caller's trace.
                await self._in_context(scope, receive, observed_send)
            else:
                await self._traced(scope, receive, observed_send, method, lambda: status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.http_requests(method, route, str(status)).inc()
            self.metrics.http_latency(method, route).observe(time.perf_counter() - start)

    async def _in_context(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _trace_headers(scope)
        if not headers:
            return await self.app(scope, receive, send)
        token = otel_context.attach(telemetry.context_from_headers(headers))
        try:
            await self.app(scope, receive, send)
        finally:
            otel_context.detach(token)

    async def _traced(self, scope: Scope, receive: Receive, send: Send, method: str, status: Callable[[], int]) -> None:
        parent = telemetry.context_from_headers(_trace_headers(scope))
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "url.path": scope["path"],
            "url.scheme": scope.get("scheme", "http"),
            "network.protocol.version": scope.get("http_version", "1.1"),
        }
        client = scope.get("client")
        if client:
            attributes["client.address"] = client[0]
        for name, value in scope["headers"]:
            if name == b"user-agent":  # the caller's text: a bounded share of the span
                attributes["user_agent.original"] = value[:_USER_AGENT_CHARS].decode("latin-1")
        with telemetry.tracer().start_as_current_span(
            method, context=parent, kind=SpanKind.SERVER, attributes=attributes, record_exception=True
        ) as span:
            try:
                await self.app(scope, receive, send)
            finally:
                route = getattr(scope.get("route"), "path", None)
                if route is not None:
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)
                code = status()
                span.set_attribute("http.response.status_code", code)
                if code >= 500:
                    span.set_attribute("error.type", str(code))
                    span.set_status(StatusCode.ERROR)


_USER_AGENT_CHARS = 512


def _trace_headers(scope: Scope) -> dict[str, str]:
    return {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in scope["headers"]
        if name in (b"traceparent", b"tracestate")
    }
