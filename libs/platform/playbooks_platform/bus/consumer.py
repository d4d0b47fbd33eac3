"""The consumer runner: batches, retries, dead-lettering, offsets committed after success.

A batch is handed to the handler as a whole (one database transaction for many messages is
what makes throughput). If the handler fails:

* a transient failure (database or broker unreachable) is retried with jittered backoff for as long as
  it lasts, without committing or skipping anything, and the runner reports not-ready;
* any other failure splits the batch in halves, and a failing half again, down to the message
  that fails; that one is tried alone up to ``max_attempts`` times, and if it still fails goes
  to ``<topic>.dlq`` with the error and its origin in headers. The rest of the partition keeps
  flowing, in order.

Messages that do not even decode are dead-lettered at once: no retry can fix them.
Offsets are committed only after the handler returned, so a crash means redelivery, never
loss; handlers are idempotent on the envelope id.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from opentelemetry import trace
from pydantic import BaseModel
from typing_extensions import TypeVar

from playbooks_contracts import Envelope, Topic
from playbooks_contracts import topic as lookup_topic

from ..backoff import Backoff, jittered
from ..errors import PoisonMessage
from ..metrics import Metrics
from ..telemetry import (
    TRACE_HEADERS,
    context_from_headers,
    inject_headers,
    process_span_attributes,
    recording,
    tracer,
)
from ..transient import is_transient, refused_value
from .codec import decode
from .publisher import OutgoingMessage, Publisher

log = logging.getLogger(__name__)


# The model of a delivery's message: its topic's raw model, or an ``Envelope``.
M = TypeVar("M", bound=BaseModel, default=Envelope)


@dataclass
class Delivery(Generic[M]):
    """One consumed message, decoded as its topic's model, with its own ``"process <topic>"`` span."""

    topic: Topic[M]
    partition: int
    offset: int
    key: str | None
    message: M
    headers: dict[str, str]
    # None while tracing is off, until something asks for it: a span per message (with the
    # context extraction) was a large share of what the consumer spent on one (docs/decisions/0005).
    _span: trace.Span | None
    raw: bytes | None = None
    timestamp_ms: int = 0

    @property
    def span(self) -> trace.Span:
        if self._span is None:  # not recording: the incoming context itself stands for the span
            self._span = trace.NonRecordingSpan(
                trace.get_current_span(context_from_headers(self.headers)).get_span_context()
            )
        return self._span

    def activate(self) -> Any:
        """Make this message's span current (for logs, child spans and publishing)."""
        return trace.use_span(self.span, end_on_exit=False)

    def trace_headers(self) -> dict[str, str]:
        """W3C headers that continue this message's trace in the messages it causes."""
        if self._span is not None and self._span.is_recording():
            with self.activate():
                return inject_headers()
        # Not recording: the span is the incoming context itself, so pass its headers through.
        return {k: v for k, v in self.headers.items() if k in TRACE_HEADERS} if self.headers else {}

    def end(self) -> None:
        if self._span is not None:
            self._span.end()


# ``Handler`` handles envelopes; ``Handler[UpstreamException]`` a raw topic's messages.
Handler = Callable[[Sequence[Delivery[M]]], Awaitable[None]]

# A record that does not decode, with its headers and the reason.
_Poison = tuple[ConsumerRecord, dict[str, str], PoisonMessage]


class _JoinListener(ConsumerRebalanceListener):
    """Marks the first completed group join: until then the service is not ready to consume.

    On a revoke, forgets the offsets this member committed: another member may move them on.
    """

    def __init__(self, joined: asyncio.Event, committed: dict[TopicPartition, int]) -> None:
        self._joined = joined
        self._committed = committed

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self._committed.clear()

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self._joined.set()


class ConsumerRunner:
    def __init__(
        self,
        *,
        bootstrap: str,
        group_id: str,
        topics: Sequence[Topic],
        handler: Handler[Any],
        publisher: Publisher,
        metrics: Metrics | None = None,
        max_batch: int = 500,
        max_attempts: int = 3,
        backoff_s: float = 0.2,
        max_backoff_s: float = 10.0,
        client_id: str | None = None,
        concurrent_partitions: bool = False,
        session_timeout_ms: int = 10_000,
        fetch_max_wait_ms: int = 50,
        max_partition_fetch_bytes: int = 1024 * 1024,
        lag_interval_s: float = 5.0,
    ) -> None:
        self.topics = list(topics)
        self.group_id = group_id
        self.handler = handler
        self.publisher = publisher
        self.metrics = metrics
        self.max_batch = max_batch
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.concurrent_partitions = concurrent_partitions
        self.lag_interval_s = lag_interval_s
        # The next offset to handle per partition, as this member last committed it.
        self._committed: dict[TopicPartition, int] = {}
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=group_id,
            client_id=client_id or group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_interval_ms=600_000,
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=max(session_timeout_ms // 5, 500),
            fetch_max_wait_ms=fetch_max_wait_ms,
            max_partition_fetch_bytes=max_partition_fetch_bytes,
        )
        self._stopping = asyncio.Event()
        self._started = asyncio.Event()
        self._joined = asyncio.Event()
        self._consumer.subscribe(
            topics=[t.name for t in self.topics], listener=_JoinListener(self._joined, self._committed)
        )
        self.healthy = True
        self.last_error: str | None = None

    # -- lifecycle ---------------------------------------------------------------------
    async def run(self) -> None:
        """Consume until ``stop()``; never raises on a bad message or a failing handler."""
        await self._start_consumer()
        self._started.set()
        watcher = asyncio.create_task(self._watch_lag()) if self.metrics and self.lag_interval_s > 0 else None
        try:
            while not self._stopping.is_set():
                if self.concurrent_partitions:
                    await self._poll_partitions_concurrently()
                    continue
                batch = await self._consumer.getmany(timeout_ms=200, max_records=self.max_batch)
                records = [r for rs in batch.values() for r in rs]
                if not records:
                    continue
                if await self._process(records):
                    await self._commit(batch)
        finally:
            if watcher is not None:
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)
            await self._consumer.stop()

    async def _poll_partitions_concurrently(self) -> None:
        """Partitions are independent units of order: handle each one's records beside the others'.

        While one partition's batch waits on the database or the broker, another's is decoded and
        handled. Within a partition, batches stay strictly in order.
        """
        batch = await self._consumer.getmany(timeout_ms=200, max_records=self.max_batch * 4)
        if not batch:
            return

        async def partition(records: list[ConsumerRecord]) -> bool:
            for start in range(0, len(records), self.max_batch):
                if not await self._process(records[start : start + self.max_batch]):
                    return False
            return True

        done = await asyncio.gather(*(partition(records) for records in batch.values()))
        await self._commit({tp: records for (tp, records), ok in zip(batch.items(), done, strict=True) if ok})

    async def _start_consumer(self) -> None:
        backoff = Backoff(self.backoff_s or 0.2, self.max_backoff_s)
        while True:
            try:
                await self._consumer.start()
                return
            except Exception as exc:  # broker not up yet: keep trying, report not ready
                self._unhealthy(f"cannot reach the broker: {exc}")
                await asyncio.sleep(backoff.next())

    async def wait_started(self, timeout: float = 30) -> None:
        await asyncio.wait_for(self._started.wait(), timeout)

    @property
    def joined(self) -> bool:
        """Whether the group gave this member its partitions (none is a valid share) at least once."""
        return self._joined.is_set()

    def stop(self) -> None:
        """Finish the batch in hand, then leave the group (graceful shutdown)."""
        self._stopping.set()

    # -- processing --------------------------------------------------------------------
    async def _process(self, records: list[ConsumerRecord]) -> bool:
        """Handle a batch; False only when stopping interrupted a transient retry."""
        deliveries: list[Delivery[Any]] = []
        traced = recording()
        poison: list[_Poison] = []
        for record in records:
            delivery = self._decode(record, traced, poison)
            if delivery is not None:
                deliveries.append(delivery)
        for record, headers, exc in poison:  # decoded synchronously: a coroutine per record cost more
            topic = lookup_topic(record.topic)
            await self._dead_letter(topic, record.partition, record.offset, record.key, headers, record.value, exc, 0)
        if not deliveries:
            return True
        try:
            outcome = await self._call(deliveries)
            if outcome is None:
                return True
            if outcome == "stopping":
                return False
            return await self._bisect(deliveries)
        finally:
            for d in deliveries:
                d.end()

    def _decode(self, record: ConsumerRecord, traced: bool, poison: list[_Poison]) -> Delivery[Any] | None:
        """The record as a delivery; None (and the record added to ``poison``) if it does not decode."""
        topic = lookup_topic(record.topic)
        headers = {k: v.decode("latin-1") for k, v in record.headers if v is not None} if record.headers else {}
        span = None
        if traced:
            span = tracer().start_span(
                f"process {record.topic}",
                context=context_from_headers(headers),
                kind=trace.SpanKind.CONSUMER,
                attributes=process_span_attributes(
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    group=self.group_id,
                    key=record.key,
                    size=len(record.value or b""),
                ),
            )
        try:
            message = decode(topic, record.value)
        except PoisonMessage as exc:
            if span is not None:
                span.set_status(trace.Status(trace.StatusCode.ERROR, str(exc)))
                span.end()
            poison.append((record, headers, exc))
            return None
        if span is not None:
            message_id = getattr(message, "id", None)
            if message_id is not None:  # the envelope id: the idempotency key is the message's identity
                span.set_attribute("messaging.message.id", str(message_id))
            org = getattr(message, "org_id", None)
            if org:
                span.set_attribute("playbooks.org_id", org)
        key = record.key.decode("utf-8", "replace") if record.key else None
        return Delivery(
            topic, record.partition, record.offset, key, message, headers, span, record.value, record.timestamp
        )

    async def _call(self, deliveries: Sequence[Delivery[Any]]) -> Exception | str | None:
        """Run the handler, retrying transient failures until they pass or we stop.

        Returns None on success, "stopping" if interrupted, or the deterministic error.
        """
        backoff = Backoff(self.backoff_s or 0.05, self.max_backoff_s)
        while True:
            try:
                await self.handler(deliveries)
            except Exception as exc:
                if self.metrics:
                    self.metrics.failed(deliveries[0].topic.name, self.group_id).inc()
                if not is_transient(exc):
                    return exc
                self._unhealthy(f"transient failure, retrying: {type(exc).__name__}: {exc}")
                try:
                    await asyncio.wait_for(self._stopping.wait(), backoff.next())
                    return "stopping"
                except TimeoutError:
                    pass
                continue
            self.healthy, self.last_error = True, None
            if self.metrics:
                for name, n in Counter(d.topic.name for d in deliveries).items():
                    self.metrics.consumed(name, self.group_id).inc(n)
            return None

    async def _bisect(self, deliveries: Sequence[Delivery[Any]]) -> bool:
        """A deterministic failure somewhere in these: handle each half, in order, and halve a
        failing half again, down to the single message that fails. One bad message in a batch of
        n costs about 2 log2(n) handler calls, not n (each a transaction and a publish, for
        trigger-ingest's batches of up to 8,000)."""
        if len(deliveries) == 1:
            return await self._handle_one(deliveries[0])
        middle = len(deliveries) // 2
        for half in (deliveries[:middle], deliveries[middle:]):
            outcome = await self._call(half)
            if outcome == "stopping":
                return False
            if outcome is not None and not await self._bisect(half):
                return False
        return True

    async def _handle_one(self, delivery: Delivery[Any]) -> bool:
        error: BaseException | None = None
        for attempt in range(1, self.max_attempts + 1):
            outcome = await self._call([delivery])
            if outcome is None:
                return True
            if isinstance(outcome, str):  # "stopping"
                return False
            error = outcome
            log.warning(
                "handler failed",
                extra={
                    "topic": delivery.topic.name,
                    "offset": delivery.offset,
                    "attempt": attempt,
                    "error": str(error),
                },
            )
            if isinstance(error, PoisonMessage) or refused_value(error):
                break  # no retry can change the answer
            if attempt < self.max_attempts:
                await asyncio.sleep(jittered(min(self.backoff_s * 2 ** (attempt - 1), self.max_backoff_s)))
        assert error is not None
        delivery.span.record_exception(error)
        delivery.span.set_status(trace.Status(trace.StatusCode.ERROR, str(error)))
        await self._dead_letter(
            delivery.topic,
            delivery.partition,
            delivery.offset,
            delivery.key,
            delivery.headers,
            delivery.raw,
            error,
            attempt,
        )
        return True

    # -- dead letters --------------------------------------------------------------------
    async def _dead_letter(
        self,
        topic: Topic,
        partition: int,
        offset: int,
        key: str | bytes | None,
        headers: dict[str, str],
        value: bytes | None,
        error: BaseException,
        attempts: int,
    ) -> None:
        dlq_headers = dict(headers)
        dlq_headers.update(
            {
                "dlq.error": str(error)[:2000],
                "dlq.error_class": type(error).__name__,
                "dlq.original_topic": topic.name,
                "dlq.original_partition": str(partition),
                "dlq.original_offset": str(offset),
                "dlq.attempts": str(attempts),
                "dlq.consumer_group": self.group_id,
                "dlq.failed_at": str(int(time.time() * 1000)),
            }
        )
        payload = value if value is not None else b""
        if isinstance(key, bytes):
            key = key.decode("utf-8", "replace")
        # The dead-letter write must not be lost either: retry it like any transient failure.
        backoff = Backoff(self.backoff_s or 0.05, self.max_backoff_s)
        while True:
            try:
                await self.publisher.publish_many([OutgoingMessage(topic.dlq, payload, key, dlq_headers)])
                break
            except Exception as exc:
                self._unhealthy(f"cannot write to {topic.dlq}: {exc}")
                await asyncio.sleep(backoff.next())
        if self.metrics:
            self.metrics.dead_lettered(topic.name, self.group_id, type(error).__name__).inc()
        log.error("dead-lettered", extra={"topic": topic.name, "offset": offset, "reason": str(error)[:500]})

    async def _commit(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        offsets = {tp: records[-1].offset + 1 for tp, records in batch.items() if records}
        self._committed.update(offsets)
        self._record_lag(offsets)
        backoff = Backoff(self.backoff_s or 0.05, self.max_backoff_s)
        while True:
            try:
                await self._consumer.commit(offsets)
                return
            except Exception as exc:
                # A rebalance took the partitions away: the new owner redelivers, handlers are idempotent.
                if not is_transient(exc):
                    log.warning("commit failed, messages will be redelivered", extra={"error": str(exc)})
                    return
                self._unhealthy(f"commit failed: {exc}")
                await asyncio.sleep(backoff.next())

    def _record_lag(self, handled: dict[TopicPartition, int]) -> None:
        """Lag per partition: the fetch's high watermark minus the next offset to handle.

        Measured where the runner knows both, after a batch: a partition that gets nothing new
        keeps its last figure (0 once it caught up), and an idle group reports no lag at all.
        """
        if self.metrics is None:
            return
        for tp, next_offset in handled.items():
            highwater = self._consumer.highwater(tp)
            if highwater is not None:
                self.metrics.consumer_lag.labels(self.group_id, tp.topic, str(tp.partition)).set(
                    max(highwater - next_offset, 0)
                )

    async def _watch_lag(self) -> None:
        """Lag on a timer as well: the end of each assigned partition minus the next offset to handle.

        After-batch figures alone freeze when no batch finishes (a handler stuck on a lock, a
        transient failure retried for an hour) while the backlog grows, which is when an SRE needs
        the figure. The ends come from the broker (one ListOffsets request per tick), as the fetcher
        stops fetching a partition whose records wait in its buffer.
        """
        while True:
            await asyncio.sleep(self.lag_interval_s)
            try:
                await self._lag_from_broker()
            except Exception as exc:  # a figure missed is no reason to stop: the next tick tries again
                log.debug("lag not measured", extra={"group": self.group_id, "error": str(exc)})

    async def _lag_from_broker(self) -> None:
        assigned = list(self._consumer.assignment())
        if not assigned or self.metrics is None:
            return
        ends = await self._consumer.end_offsets(assigned)
        unknown = [tp for tp in assigned if tp not in self._committed]
        if unknown:  # not committed by this member yet: the group's committed offset, else the log's start
            starts = await self._consumer.beginning_offsets(unknown)
            for tp in unknown:
                committed = await self._consumer.committed(tp)
                self._committed.setdefault(tp, committed if committed is not None else starts[tp])
        for tp in assigned:
            # The later of the broker's end and the last fetch's high watermark: the embedded broker
            # (Tansu) was seen answering ListOffsets with an end behind what it had just served.
            end = max(ends[tp], self._consumer.highwater(tp) or 0)
            self.metrics.consumer_lag.labels(self.group_id, tp.topic, str(tp.partition)).set(
                max(end - self._committed[tp], 0)
            )

    def _unhealthy(self, reason: str) -> None:
        if self.healthy:
            log.warning("consumer unhealthy", extra={"group": self.group_id, "reason": reason})
        self.healthy, self.last_error = False, reason
