"""A consumed message's trace continues in the messages it causes, with or without an SDK."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from playbooks_contracts.topics import TRIGGERS
from playbooks_platform.bus import Delivery
from playbooks_platform.telemetry import context_from_headers, tracer

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def delivery(span: trace.Span, headers: dict[str, str]) -> Delivery:
    return Delivery(TRIGGERS, 0, 0, None, None, headers, span)  # type: ignore[arg-type]


def test_non_recording_span_passes_the_incoming_context_through() -> None:
    ctx = SpanContext(0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, True, TraceFlags(1))
    d = delivery(NonRecordingSpan(ctx), {"traceparent": PARENT, "tracestate": "a=1", "x-other": "y"})
    assert d.trace_headers() == {"traceparent": PARENT, "tracestate": "a=1"}


def test_recording_span_becomes_the_parent_of_what_it_causes() -> None:
    span = tracer().start_span("t process", context=context_from_headers({"traceparent": PARENT}))
    try:
        headers = delivery(span, {"traceparent": PARENT}).trace_headers()
    finally:
        span.end()
    _, trace_id, parent_id, _ = headers["traceparent"].split("-")
    assert trace_id == "0af7651916cd43dd8448eb211c80319c"  # same trace
    assert parent_id == format(span.get_span_context().span_id, "016x")  # child of this message's span
