"""Ingest throughput: raw aiokafka produce (baseline), HTTP batch ingest, upstream topic -> triggers.v1.

The baseline is aiokafka's per-message send(), as the issue defines it; the service publishes
through record batches, so the raw rate of that path is printed too, and each ratio to both.

Runs on the embedded stack (or PLAYBOOKS_DATABASE_URL / PLAYBOOKS_KAFKA_BOOTSTRAP), with
trigger-ingest as its own uvicorn process, as in `make dev`. Measures BENCH_ROUNDS rounds (3), each
with its own baseline, and prints the median of each rate and of each ratio to the baseline of
its round, with the range of the ratios.
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from playbooks_contracts import Envelope
from playbooks_contracts.topics import TRIGGERS, UPSTREAM_ACTIVITY_EVENTS
from playbooks_dev.embedded import free_port, wait_for_port
from playbooks_dev.testing import Infra, start_infra
from playbooks_platform.bus import OutgoingMessage, Publisher
from playbooks_platform.figures import Figures
from playbooks_platform.migrations import upgrade

N_RAW = int(os.environ.get("BENCH_N", "20000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
BATCH = 1000
HTTP_CONCURRENCY = 4
ORGS = 12  # upstream keys by org: 12 orgs spread over the topic's 6 partitions


def activity(i: int) -> dict:
    return {
        "activity": {
            "type": "contract_signed",
            "doc_id": f"doc-{i}",
            "category": "contract",
            "metadata": {"deal_size": i, "owner": "alice"},
        }
    }


def raw_envelopes(n: int) -> tuple[str, list[bytes]]:
    """``n`` encoded envelopes of one fresh org, the size of what ingest publishes."""
    org = f"bench-raw-{uuid.uuid4().hex[:6]}"
    return org, [
        orjson.dumps(Envelope(type="activity_event", org_id=org, data=activity(i)).model_dump(mode="json"))
        for i in range(n)
    ]


def per_message_producer(bootstrap: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, linger_ms=2, max_batch_size=256 * 1024
    )


async def send_each(producer: AIOKafkaProducer, topic: str, payloads: list[bytes], keys: list[str]) -> None:
    """aiokafka's per-message send(), every acknowledgement awaited."""
    futures = [await producer.send(topic, p, key=k.encode()) for p, k in zip(payloads, keys, strict=True)]
    await asyncio.gather(*futures)


async def raw_produce(bootstrap: str, n: int) -> float:
    """Baseline: envelopes of the same size straight to a topic, acks=all, no service in between."""
    producer = per_message_producer(bootstrap)
    await producer.start()
    org, payloads = raw_envelopes(n)
    try:
        start = time.perf_counter()
        await send_each(producer, "bench.raw", payloads, [org] * n)
        return n / (time.perf_counter() - start)
    finally:
        await producer.stop()


async def raw_batched(bootstrap: str, n: int) -> float:
    """The same envelopes through the platform's publisher (record batches, no per-message send())."""
    publisher = Publisher(bootstrap)
    await publisher.start()
    org, payloads = raw_envelopes(n)
    try:
        start = time.perf_counter()
        await publisher.publish_many(OutgoingMessage("bench.raw", p, org) for p in payloads)
        return n / (time.perf_counter() - start)
    finally:
        await publisher.stop()


class Counter:
    """Times the arrival of a run's messages on triggers.v1, then proves they all arrived.

    The run ends when the service appended its last message to a record batch for triggers.v1:
    that message's timestamp (set by the service's producer; the acknowledgement of that last
    batch, a few milliseconds, is not counted). The service's own count of acknowledged messages
    (``playbooks_messages_published_total`` on /metrics) says when to look, and is asked four times a second:
    asking every 20 ms cost 1.5 ms of the service's CPU each time, an eighth of a core between
    the two processes. Then the topic is read from the end offsets taken before the run, to find
    ``n`` messages of the run's orgs. Nothing reads the topic while the run goes on: an assigned
    consumer fetches in the background as soon as it has partitions.
    """

    def __init__(self, bootstrap: str, prefix: str, port: int) -> None:
        self.bootstrap, self.prefix, self.port = bootstrap, prefix.encode(), port

    async def __aenter__(self) -> Counter:
        # A loaded 2-core machine can hold a reply back for seconds: a timeout is no result.
        self.http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}", timeout=60)
        self.consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        await self.consumer.start()
        await self.consumer.topics()
        self.parts = [TopicPartition(TRIGGERS.name, p) for p in self.consumer.partitions_for_topic(TRIGGERS.name) or ()]
        self.offsets = await self.consumer.end_offsets(self.parts)  # asked before anything is produced
        self.start = await self.published()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()
        await self.http.aclose()

    async def published(self) -> float:
        text = (await self.http.get("/metrics")).text
        series = rf'^playbooks_messages_published_total{{topic="{re.escape(TRIGGERS.name)}"}} (\S+)$'
        found = re.search(series, text, re.M)
        return float(found.group(1)) if found else 0.0

    async def until(self, n: int, timeout: float = 120) -> float:
        """Wait until ``n`` messages were published; returns (as ``time.time()``) when the last was."""
        deadline = time.perf_counter() + timeout
        while await self.published() - self.start < n:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"only {await self.published() - self.start:.0f}/{n} messages were published")
            await asyncio.sleep(0.25)
        self.consumer.assign(self.parts)
        for tp, offset in self.offsets.items():
            self.consumer.seek(tp, offset)
        count, last_ms = 0, 0
        while count < n:
            batch = await self.consumer.getmany(timeout_ms=1000, max_records=5000)
            if not batch:
                raise RuntimeError(f"only {count}/{n} messages of the run are on {TRIGGERS.name}")
            for records in batch.values():
                for r in records:
                    if r.key and r.key.startswith(self.prefix):
                        count += 1
                        last_ms = max(last_ms, r.timestamp)
        return last_ms / 1000


async def http_ingest(infra: Infra, port: int, n: int) -> float:
    org = f"bench-http-{uuid.uuid4().hex[:6]}"
    headers = infra.auth(org)
    batches = [
        {"events": [{"trigger": "activity_event", **activity(i)} for i in range(s, min(s + BATCH, n))]}
        for s in range(0, n, BATCH)
    ]
    bodies = [orjson.dumps(b) for b in batches]
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", timeout=60, headers=headers | {"content-type": "application/json"}
    ) as client:
        await client.post(
            "/v1/events:batch",
            content=orjson.dumps({"events": [{"trigger": "activity_event", "activity": {"type": "warmup"}}]}),
        )
        queue = list(bodies)

        async def worker() -> None:
            while queue:
                r = await client.post("/v1/events:batch", content=queue.pop())
                r.raise_for_status()

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(HTTP_CONCURRENCY)))
        return n / (time.perf_counter() - start)


async def topic_ingest(infra: Infra, port: int, n: int, orgs: int, *, per_message: bool) -> float:
    """Upstream messages of ``orgs`` orgs (1: a single partition, in order; more: spread over
    partitions), from the first one fed to the last one the service published.

    The feeder sends record batches (4 to 7 times the rate of per-message ``send()`` here, in the
    bench's own figures), so the rate is the service's own; fed by ``send()`` (``per_message``),
    the bench process took 57-70% of a core beside the service on this 2-core machine (from
    /proc), and the rate is of the two together.
    """
    prefix = f"bench-topic-{uuid.uuid4().hex[:6]}"
    keys = [f"{prefix}-{i % orgs}" for i in range(n)]
    payloads = [orjson.dumps({"orgId": keys[i], **activity(i)}) for i in range(n)]
    producer = per_message_producer(infra.kafka_bootstrap) if per_message else None
    feeder = None if per_message else Publisher(infra.kafka_bootstrap)
    await (producer or feeder).start()  # type: ignore[union-attr]
    try:
        async with Counter(infra.kafka_bootstrap, prefix, port) as counter:
            start = time.time()  # the clock the service's record timestamps are read from
            if producer is not None:
                await send_each(producer, UPSTREAM_ACTIVITY_EVENTS.name, payloads, keys)
            else:
                await feeder.publish_many(  # type: ignore[union-attr]
                    OutgoingMessage(UPSTREAM_ACTIVITY_EVENTS, p, k) for p, k in zip(payloads, keys, strict=True)
                )
            end = await counter.until(n)
        return n / (end - start)
    finally:
        await (producer or feeder).stop()  # type: ignore[union-attr]


def start_service(infra: Infra, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "PLAYBOOKS_DATABASE_URL": infra.database_url,
        "PLAYBOOKS_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "PLAYBOOKS_LOG_LEVEL": "WARNING",
        "PLAYBOOKS_ENV": "test",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "playbooks_platform.cli", "serve", "trigger-ingest", "--port", str(port)],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    wait_for_port("127.0.0.1", port, timeout=60)
    return proc


async def wait_ready(port: int) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            r = await client.get(f"http://127.0.0.1:{port}/readyz")
            if r.status_code == 200:
                return
            await asyncio.sleep(0.1)
    raise RuntimeError("trigger-ingest did not become ready")


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    infra = start_infra(work)
    rounds: list[dict[str, float]] = []
    try:
        upgrade(["trigger_ingest"], infra.database_url)
        port = free_port()
        proc = start_service(infra, port, work / "trigger-ingest.log")
        try:
            asyncio.run(wait_ready(port))
            # Rounds, each with its own baseline: this machine's rates drift by a fifth from one
            # minute to the next, so a ratio is only fair against a baseline measured beside it.
            for _ in range(ROUNDS):
                raw = asyncio.run(raw_produce(infra.kafka_bootstrap, N_RAW))
                rounds.append(
                    {
                        "raw": raw,
                        "batched": asyncio.run(raw_batched(infra.kafka_bootstrap, N_RAW)),
                        "http": asyncio.run(http_ingest(infra, port, N_RAW)),
                        "topic_one": asyncio.run(topic_ingest(infra, port, N_RAW, 1, per_message=False)),
                        "topic_many": asyncio.run(topic_ingest(infra, port, N_RAW, ORGS, per_message=False)),
                        "fed_one": asyncio.run(topic_ingest(infra, port, N_RAW, 1, per_message=True)),
                        "fed_many": asyncio.run(topic_ingest(infra, port, N_RAW, ORGS, per_message=True)),
                    }
                )
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    finally:
        infra.close()
    print(f"events per run: {N_RAW:,}; cores: {os.cpu_count()}; rounds: {ROUNDS} (each rate and ratio: the median)")

    def rate(name: str) -> float:
        return median([r[name] for r in rounds])

    def ratio(name: str, base: str = "raw") -> str:
        ratios = [r[name] / r[base] for r in rounds]
        spread = f" ({min(ratios):.2f}-{max(ratios):.2f})" if len(ratios) > 1 else ""
        return f"{median(ratios):.2f}x{spread}"

    def line(label: str, name: str, note: str) -> None:
        print(f"{label:<40}{rate(name):>10,.0f} events/s   {ratio(name) if name != 'raw' else '1.00x'}   {note}")

    line("raw aiokafka produce (baseline)", "raw", "")
    line("raw produce, record batches", "batched", "(publisher's path)")
    line("HTTP batch ingest (1,000/request)", "http", "aim >= 5,000/s")
    topics = (("topic -> triggers.v1, 1 org", "topic_one"), (f"topic -> triggers.v1, {ORGS} orgs", "topic_many"))
    for label, name in topics:
        line(label, name, f"{ratio(name, 'batched')} of record batches, aim >= 0.25x")
    print("the same, while the upstream is fed by per-message send() on this machine:")
    line("  topic -> triggers.v1, 1 org", "fed_one", "")
    line(f"  topic -> triggers.v1, {ORGS} orgs", "fed_many", "")
    figures = Figures()
    for name in rounds[0]:
        figures.add(f"{name}.events_per_s", rate(name))
        if name != "raw":
            figures.add(f"{name}.vs_raw", median([r[name] / r["raw"] for r in rounds]))
    for name in ("topic_one", "topic_many", "fed_one", "fed_many"):
        figures.add(f"{name}.vs_batched", median([r[name] / r["batched"] for r in rounds]))
    figures.write()


if __name__ == "__main__":
    main()
