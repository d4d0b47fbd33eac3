"""Every request is counted and, but for the probes, traced by one SERVER span of the platform's own
(``ObservedRequests``): named by the route template, continuing the caller's trace, never recording
the query string; with no tracer configured, the caller's trace still reaches what the request does."""

from __future__ import annotations

import types
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from playbooks_platform import telemetry
from playbooks_platform.auth import TokenVerifier
from playbooks_platform.middleware import ObservedRequests
from playbooks_platform.service import ServiceSpec, create_app
from playbooks_platform.settings import PlatformSettings

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{CALLER_TRACE}-00f067aa0ba902b7-01"
router = APIRouter()
seen: dict[str, str | None] = {}


@router.get("/api/things/{thing_id}")
async def thing(thing_id: str) -> dict[str, str]:
    seen["trace"] = telemetry.current_trace_id()
    return {"id": thing_id}


@router.get("/api/broken")
async def broken() -> None:
    raise RuntimeError("boom")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    settings = PlatformSettings(service_name="observed")
    app = create_app(
        ServiceSpec(name="observed", package="observed", settings_cls=PlatformSettings, routers=[router]), settings
    )
    # No lifespan (no broker needed): the runtime's parts these routes read, the middleware's own metrics.
    [metrics] = [m.kwargs["metrics"] for m in app.user_middleware if m.cls is ObservedRequests]
    app.state.runtime = types.SimpleNamespace(verifier=TokenVerifier(settings), relay=None, metrics=metrics)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


def server_spans(spans: InMemorySpanExporter) -> list:
    return [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]


async def test_one_server_span_named_by_the_route_continuing_the_callers_trace(client, spans) -> None:
    r = await client.get("/api/things/t-1?token=hunter2", headers={"traceparent": TRACEPARENT, "user-agent": "probe/1"})
    assert r.status_code == 200
    [span] = server_spans(spans)
    assert span.name == "GET /api/things/{thing_id}"
    assert f"{span.context.trace_id:032x}" == CALLER_TRACE == seen["trace"]
    attrs = dict(span.attributes or {})
    assert attrs["http.route"] == "/api/things/{thing_id}"
    assert attrs["http.request.method"] == "GET" and attrs["http.response.status_code"] == 200
    assert attrs["url.path"] == "/api/things/t-1" and attrs["user_agent.original"] == "probe/1"
    assert "hunter2" not in repr(attrs)  # the query string is never recorded
    r = await client.get("/api/things/t-1", headers={"user-agent": "x" * 60_000})
    assert r.status_code == 200
    assert len(server_spans(spans)[-1].attributes["user_agent.original"]) == 512  # a caller's text, bounded
    # Only the platform's span: no INTERNAL receive/send or framework operation spans beside it.
    assert [s.name for s in spans.get_finished_spans() if s.kind == SpanKind.INTERNAL] == []


async def test_a_server_error_is_an_error_span_and_a_500_count(client, spans) -> None:
    r = await client.get("/api/broken")
    assert r.status_code == 500
    [span] = server_spans(spans)
    assert span.name == "GET /api/broken" and span.status.status_code == StatusCode.ERROR
    assert span.attributes["http.response.status_code"] == 500
    metrics = (await client.get("/metrics")).text
    assert 'playbooks_http_requests_total{code="500",method="GET",route="/api/broken"} 1.0' in metrics


@pytest.mark.parametrize("header", ["garbage", "00-" + "0" * 32 + "-" + "0" * 16 + "-01", "x" * 10_000])
async def test_a_malformed_traceparent_starts_a_fresh_trace(client, spans, header: str) -> None:
    r = await client.get("/api/things/t-2", headers={"traceparent": header})
    assert r.status_code == 200
    [span] = server_spans(spans)
    assert span.parent is None and span.context.trace_id != 0


async def test_probes_are_counted_not_traced(client, spans) -> None:
    assert (await client.get("/healthz")).status_code == 200
    assert server_spans(spans) == []
    assert 'route="/healthz"' in (await client.get("/metrics")).text


async def test_without_a_tracer_the_callers_trace_still_reaches_the_route(client, spans, monkeypatch) -> None:
    monkeypatch.setattr(telemetry, "recording", lambda: False)
    seen.clear()
    assert (await client.get("/api/things/t-3", headers={"traceparent": TRACEPARENT})).status_code == 200
    assert seen["trace"] == CALLER_TRACE
    assert server_spans(spans) == []
    assert (await client.get("/api/things/t-4")).status_code == 200
    assert seen["trace"] is None
