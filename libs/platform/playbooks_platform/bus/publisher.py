"""Publishing: acks=all, keyed, JSON, W3C trace context in headers.

The embedded broker refuses idempotent producers and transactions, so the producer is not
idempotent; exactly-once effects come from idempotent consumers keyed on the envelope id.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from aiokafka import AIOKafkaProducer
from opentelemetry import trace
from pydantic import BaseModel

from playbooks_contracts import Topic

from ..metrics import Metrics
from ..telemetry import context_from_headers, inject_headers, recording, tracer
from .codec import encode


@dataclass
class OutgoingMessage:
    topic: Topic | str
    value: BaseModel | dict[str, Any] | bytes
    key: str | None = None
    # Headers given here win over the current trace context (the outbox relay keeps the
    # traceparent of the transaction that wrote the row).
    headers: Mapping[str, str] = field(default_factory=dict)


def _name(topic: Topic | str) -> str:
    return topic if isinstance(topic, str) else topic.name


class Publisher:
    def __init__(self, bootstrap: str, *, client_id: str = "playbooks", metrics: Metrics | None = None) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            client_id=client_id,
            acks="all",
            enable_idempotence=False,
            linger_ms=2,
            max_batch_size=256 * 1024,
            request_timeout_ms=15000,
        )
        self._metrics = metrics
        self._started = False

    async def start(self) -> None:
        await self._producer.start()
        self._started = True

    async def stop(self) -> None:
        if self._started:
            await self._producer.stop()
            self._started = False

    async def _send(self, name: str, msg: OutgoingMessage, context: Mapping[str, str]) -> asyncio.Future[Any]:
        # Headers given with the message (a traceparent kept by the outbox) win over the context.
        carrier = {**context, **msg.headers} if "traceparent" not in msg.headers else dict(msg.headers)
        headers = [(k, v.encode()) for k, v in carrier.items()]
        key = msg.key.encode() if msg.key else None
        return await self._producer.send(name, encode(msg.value), key=key, headers=headers)

    async def ping(self, timeout: float = 2.0) -> None:
        """Raise unless the broker answers a metadata request."""
        await asyncio.wait_for(self._producer.client.fetch_all_metadata(), timeout)

    async def publish(
        self,
        topic: Topic | str,
        value: BaseModel | dict[str, Any] | bytes,
        *,
        key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        await self.publish_many([OutgoingMessage(topic, value, key, headers or {})])

    async def publish_many(self, messages: Iterable[OutgoingMessage]) -> int:
        """Send all, then wait for every acknowledgement; raises if any was not acknowledged."""
        pending = []
        counts: Counter[str] = Counter()
        traced = recording()
        current = {} if traced else inject_headers()  # no spans: every message continues this context
        for msg in messages:
            name = _name(msg.topic)
            if traced:
                # A message that brings its own trace context (outbox rows, messages a consumer
                # causes) gets its publish span in that trace, and carries that span onwards.
                parent = context_from_headers(msg.headers) if "traceparent" in msg.headers else None
                with tracer().start_as_current_span(
                    f"{name} publish", context=parent, kind=trace.SpanKind.PRODUCER
                ) as span:
                    span.set_attribute("messaging.system", "kafka")
                    span.set_attribute("messaging.destination.name", name)
                    if parent is not None:
                        msg = replace(msg, headers={**msg.headers, **inject_headers()})
                    pending.append(await self._send(name, msg, inject_headers()))
            else:
                pending.append(await self._send(name, msg, current))
            counts[name] += 1
        if pending:
            await asyncio.gather(*pending)
        if self._metrics:
            for name, n in counts.items():
                self._metrics.published(name).inc(n)
        return len(pending)
