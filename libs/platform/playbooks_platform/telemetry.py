"""OpenTelemetry tracing: one provider per process, W3C context through Kafka headers.

Spans follow one generation of the semantic conventions, ``SEMCONV_VERSION``, whose schema URL
the tracer and the resource declare: a collector can translate them when the conventions move.
Messaging spans use that generation's names only (``messaging.operation.type``,
``messaging.destination.partition.id``, ``messaging.kafka.offset``...), never the deprecated
``messaging.kafka.destination.partition`` or ``messaging.kafka.message.offset``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

TRACER_NAME = "playbooks"
TRACE_HEADERS = ("traceparent", "tracestate")
# The semantic conventions every span of the platform follows (messaging spans in particular).
SEMCONV_VERSION = "1.44.0"
SCHEMA_URL = f"https://opentelemetry.io/schemas/{SEMCONV_VERSION}"


def setup_tracing(service: str, *, console: bool = False, processors: Sequence[SpanProcessor] = ()) -> None:
    """Install an SDK tracer provider when spans have somewhere to go.

    With no OTLP endpoint, no console and no extra processor, the no-op provider stays: trace
    context still propagates through HTTP and Kafka, at no cost.
    """
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return  # already set up in this process (tests, or a second app in one process)
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not (endpoint or console or processors):
        return
    provider = TracerProvider(resource=Resource.create({"service.name": service}, schema_url=SCHEMA_URL))
    if endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    elif console:
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    for processor in processors:
        provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)


# A proxy: it follows whatever provider setup_tracing installs later, and costs nothing per call.
_TRACER = trace.get_tracer(TRACER_NAME, schema_url=SCHEMA_URL)


def tracer() -> trace.Tracer:
    return _TRACER


def recording() -> bool:
    """Whether spans go anywhere; without an SDK provider, hot paths skip per-message spans."""
    return isinstance(trace.get_tracer_provider(), TracerProvider)


def inject_headers(carrier: dict[str, str] | None = None) -> dict[str, str]:
    """The current trace context as W3C headers (traceparent, tracestate)."""
    carrier = {} if carrier is None else carrier
    propagate.inject(carrier)
    return carrier


def context_from_headers(headers: Mapping[str, str] | Iterable[tuple[str, bytes]]) -> otel_context.Context:
    """The remote trace context carried by message headers."""
    if not isinstance(headers, Mapping):
        headers = {k: v.decode("latin-1") for k, v in headers if v is not None}
    return propagate.extract(headers)


def current_trace_id() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


def process_span_attributes(
    *, topic: str, partition: int, offset: int, group: str, key: bytes | None, size: int
) -> dict[str, Any]:
    """A consumer's ``process <topic>`` span, as the messaging conventions of ``SEMCONV_VERSION`` name it."""
    attributes: dict[str, Any] = {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": topic,
        "messaging.destination.partition.id": str(partition),
        "messaging.kafka.offset": offset,
        "messaging.consumer.group.name": group,
        "messaging.message.body.size": size,
    }
    if key:
        attributes["messaging.kafka.message.key"] = key.decode("utf-8", "replace")
    return attributes


def send_span_attributes(*, topic: str, partition: int, key: str | None, message_id: str | None) -> dict[str, Any]:
    """A producer's ``send <topic>`` span, as the messaging conventions of ``SEMCONV_VERSION`` name it."""
    attributes: dict[str, Any] = {
        "messaging.system": "kafka",
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
        "messaging.destination.name": topic,
        "messaging.destination.partition.id": str(partition),
    }
    if key:
        attributes["messaging.kafka.message.key"] = key
    if message_id:
        attributes["messaging.message.id"] = message_id
    return attributes
