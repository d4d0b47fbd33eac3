"""Publishing: acks=all, keyed, JSON, W3C trace context in headers.

The embedded broker refuses idempotent producers and transactions, so the producer is not
idempotent; exactly-once effects come from idempotent consumers keyed on the envelope id.

Messages are appended to record batches per partition (``create_batch``/``send_batch``), not
sent one by one: aiokafka's per-message ``send()`` makes a future and runs the partitioner and
the accumulator per message, many times what a batch append costs (docs/decisions/0004). The
partition of a key is the one ``send()`` would pick (the Java client's murmur2), so a key
lands where any other producer puts it and per-key order holds.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.partitioner import DefaultPartitioner
from opentelemetry import trace
from pydantic import BaseModel

from playbooks_contracts import Topic

from ..metrics import Metrics
from ..telemetry import context_from_headers, inject_headers, recording, send_span_attributes, tracer
from .codec import encode


@dataclass
class OutgoingMessage:
    topic: Topic | str
    value: BaseModel | dict[str, Any] | bytes
    key: str | None = None
    # Headers given here win over the current trace context (the outbox relay keeps the
    # traceparent of the transaction that wrote the row).
    headers: Mapping[str, str] = field(default_factory=dict)


# Headers as a record batch takes them: (name, UTF-8 bytes) pairs.
WireHeaders = list[tuple[str, bytes]]

# A message of ``publish_encoded``: its key, its value's bytes and its headers on the wire's form.
EncodedMessage = tuple[str | None, bytes, WireHeaders]


def _wire_headers(own: Mapping[str, str], context: Mapping[str, str]) -> WireHeaders:
    # Headers given with the message (a traceparent kept by the outbox) win over the context.
    if not context:  # the usual case while tracing is off: no merge to make
        return [(k, v.encode()) for k, v in own.items()]
    carrier = {**context, **own} if "traceparent" not in own else dict(own)
    return [(k, v.encode()) for k, v in carrier.items()]


def _name(topic: Topic | str) -> str:
    return topic if isinstance(topic, str) else topic.name


def _id_of(value: BaseModel | dict[str, Any] | bytes) -> str | None:
    """The envelope id of a message, for its span (only read while tracing)."""
    if isinstance(value, bytes | str):
        try:  # an outbox row's stored JSON: parsed only because a span asks for its id
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
    found = value.get("id") if isinstance(value, dict) else getattr(value, "id", None)
    return str(found) if found is not None else None


# The largest message, as send() enforces it (aiokafka's default); a record batch holds 256 KiB,
# and a message larger than that travels in a batch of its own.
MAX_REQUEST_BYTES = 1024 * 1024


class Publisher:
    def __init__(self, bootstrap: str, *, client_id: str = "playbooks", metrics: Metrics | None = None) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            client_id=client_id,
            acks="all",
            enable_idempotence=False,
            linger_ms=2,
            max_batch_size=256 * 1024,
            max_request_size=MAX_REQUEST_BYTES,
            request_timeout_ms=15000,
        )
        self._partitioner = DefaultPartitioner()
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
        batches = _Batches(self._producer, self._partitioner)
        counts: Counter[str] = Counter()
        traced = recording()
        current = {} if traced else inject_headers()  # no spans: every message continues this context
        plain = _wire_headers({}, current)  # the headers of each message that brings none
        for msg in messages:
            name = _name(msg.topic)
            if name not in batches.partitions:  # waits for the topic's metadata, as send() does
                await batches.learn(name)
            if traced:
                # A message that brings its own trace context (outbox rows, messages a consumer
                # causes) gets its publish span in that trace, and carries that span onwards.
                parent = context_from_headers(msg.headers) if "traceparent" in msg.headers else None
                attributes = send_span_attributes(
                    topic=name, partition=batches.partition_of(name, msg.key), key=msg.key, message_id=_id_of(msg.value)
                )
                with tracer().start_as_current_span(
                    f"send {name}", context=parent, kind=trace.SpanKind.PRODUCER, attributes=attributes
                ):
                    if parent is not None:
                        msg = replace(msg, headers={**msg.headers, **inject_headers()})
                    headers = _wire_headers(msg.headers, inject_headers())
                    full = batches.append(name, msg.key, encode(msg.value), headers)
            else:
                full = batches.append(
                    name, msg.key, encode(msg.value), _wire_headers(msg.headers, current) if msg.headers else plain
                )
            if full is not None:
                await batches.send(full)
            counts[name] += 1
        await batches.flush()
        if self._metrics:
            for name, n in counts.items():
                self._metrics.published(name).inc(n)
        return sum(counts.values())

    async def publish_encoded(self, topic: Topic | str, messages: Iterable[EncodedMessage]) -> int:
        """``publish_many`` for a hot path of one topic: each message's value already encoded and
        its headers already on the wire's form, appended as they are (no ``OutgoingMessage``, no
        encoding or merging per message). The same answer as ``publish_many``: the current trace
        context is carried unless a message brings a ``traceparent``, and while tracing records,
        every message gets its publish span (through ``publish_many`` itself)."""
        name = _name(topic)
        current = None if recording() else inject_headers()
        if current is None or current:
            return await self.publish_many(
                OutgoingMessage(name, value, key, {k: v.decode() for k, v in headers})
                for key, value, headers in messages
            )
        batches = _Batches(self._producer, self._partitioner)
        append, n = batches.append, 0
        for key, value, headers in messages:
            if not n:  # waits for the topic's metadata, as send() does
                await batches.learn(name)
            full = append(name, key, value, headers)
            if full is not None:
                await batches.send(full)
            n += 1
        await batches.flush()
        if self._metrics and n:
            self._metrics.published(name).inc(n)
        return n


class _Batches:
    """Open record batches of one ``publish_many`` call, one per partition, sent as they fill.

    Appending is synchronous (a coroutine per message cost more than the append): the caller
    learns a topic's partitions before its first message and sends a batch that filled up.
    """

    def __init__(self, producer: AIOKafkaProducer, partitioner: DefaultPartitioner) -> None:
        self._producer, self._partitioner = producer, partitioner
        self._open: dict[tuple[str, int], Any] = {}
        self.partitions: dict[str, list[int]] = {}
        self._by_key: dict[tuple[str, bytes], int] = {}
        self._pending: list[asyncio.Future[Any]] = []
        self._unkeyed = 0

    async def learn(self, topic: str) -> None:
        self.partitions[topic] = sorted(await self._producer.partitions_for(topic))

    def partition_of(self, topic: str, key: str | None) -> int:
        """The partition a keyed message goes to (an unkeyed one: the next in the round)."""
        if not key:  # as append(): an empty key is no key
            partitions = self.partitions[topic]
            return partitions[(self._unkeyed + 1) % len(partitions)]
        return self._partition(topic, key.encode())

    def _partition(self, topic: str, key: bytes | None) -> int:
        partitions = self.partitions[topic]
        if key is None:  # no key, no order to keep: spread round robin
            self._unkeyed += 1
            return partitions[self._unkeyed % len(partitions)]
        found = self._by_key.get((topic, key))
        if found is None:
            found = self._by_key[topic, key] = self._partitioner(key, partitions, partitions)
        return found

    def append(
        self, topic: str, key: str | None, value: bytes, headers: list[tuple[str, bytes]]
    ) -> tuple[tuple[str, int], Any] | None:
        """Add a message; returns a batch that it filled (to send), with where it goes."""
        raw_key = key.encode() if key else None
        size = len(value) + (len(raw_key) if raw_key else 0)
        for k, v in headers:  # a loop: a generator for sum() resumed a frame per header
            size += len(k) + len(v)
        if size > MAX_REQUEST_BYTES:
            raise MessageSizeTooLargeError(
                f"a {size}-byte message to {topic} is over the {MAX_REQUEST_BYTES}-byte limit"
            )
        where = (topic, self._partition(topic, raw_key))
        batch = self._open.get(where)
        if batch is None:
            batch = self._open[where] = self._producer.create_batch()
        if batch.append(key=raw_key, value=value, timestamp=None, headers=headers) is not None:
            return None
        # Full: this message starts the partition's next batch, and the full one is sent.
        fresh = self._open[where] = self._producer.create_batch()
        # An empty batch takes any message; never let a refusal here pass as sent.
        if fresh.append(key=raw_key, value=value, timestamp=None, headers=headers) is None:
            raise MessageSizeTooLargeError(f"a {size}-byte message to {topic} fits no record batch")
        return where, batch

    async def send(self, full: tuple[tuple[str, int], Any]) -> None:
        (topic, partition), batch = full
        batch.close()
        self._pending.append(await self._producer.send_batch(batch, topic, partition=partition))

    async def flush(self) -> None:
        for full in self._open.items():
            await self.send(full)
        self._open.clear()
        if self._pending:
            await asyncio.gather(*self._pending)
