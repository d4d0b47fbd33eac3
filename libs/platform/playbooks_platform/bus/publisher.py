"""Publishing: acks=all, keyed, JSON, W3C trace context in headers.

The embedded broker refuses idempotent producers and transactions, so the producer is not
idempotent; exactly-once effects come from idempotent consumers keyed on the envelope id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer
from opentelemetry import trace
from pydantic import BaseModel

from playbooks_contracts import Topic

from ..metrics import Metrics
from ..telemetry import inject_headers, tracer
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
        t = tracer()
        for msg in messages:
            name = _name(msg.topic)
            with t.start_as_current_span(f"{name} publish", kind=trace.SpanKind.PRODUCER) as span:
                span.set_attribute("messaging.system", "kafka")
                span.set_attribute("messaging.destination.name", name)
                carrier = inject_headers() if "traceparent" not in msg.headers else {}
                carrier.update(msg.headers)
                headers = [(k, v.encode()) for k, v in carrier.items()]
                pending.append(
                    await self._producer.send(
                        name, encode(msg.value), key=msg.key.encode() if msg.key else None, headers=headers
                    )
                )
            if self._metrics:
                self._metrics.published(name).inc()
        if pending:
            await asyncio.gather(*pending)
        return len(pending)
