"""The publisher over the real broker: batched per partition, yet placed and ordered as send() would."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError
from opentelemetry import trace

from playbooks_contracts.topics import PLAYBOOK_RUNS
from playbooks_dev.testing import Infra, collect
from playbooks_platform.bus import OutgoingMessage, Publisher
from playbooks_platform.telemetry import TRACE_HEADERS

TOPIC = PLAYBOOK_RUNS.name  # six partitions, and nothing in these tests consumes it


async def test_keys_land_where_send_puts_them_in_order_with_headers(infra: Infra) -> None:
    run = uuid.uuid4().hex[:8]
    keys = [f"pub-{run}-{i}" for i in range(24)]
    # The reference: aiokafka's own per-message send() and its default partitioner.
    reference = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
    await reference.start()
    try:
        expected = {k: (await reference.send_and_wait(TOPIC, b"{}", key=k.encode())).partition for k in keys}
    finally:
        await reference.stop()
    assert len(set(expected.values())) > 1  # the keys spread, so placement is really tested

    publisher = Publisher(infra.kafka_bootstrap)
    await publisher.start()
    try:
        # 3,000 messages of ~1 KB: several record batches per partition.
        messages = [
            OutgoingMessage(TOPIC, {"run": run, "seq": i, "pad": "x" * 1000}, keys[i % len(keys)], {"x-seq": str(i)})
            for i in range(3000)
        ]
        assert await publisher.publish_many(messages) == 3000
    finally:
        await publisher.stop()

    got = await collect(infra.kafka_bootstrap, TOPIC, where=lambda r: r.value["run"] == run, count=3000)
    assert len(got) == 3000
    for r in got:
        assert r.partition == expected[r.key]
        assert r.headers["x-seq"] == str(r.value["seq"])
    for key in keys:  # per-key order kept across batches
        seqs = [r.value["seq"] for r in sorted(got, key=lambda r: r.offset) if r.key == key]
        assert seqs == sorted(seqs) and len(seqs) == 3000 // len(keys)


async def test_unkeyed_messages_spread_and_oversized_ones_are_refused(infra: Infra) -> None:
    run = uuid.uuid4().hex[:8]
    publisher = Publisher(infra.kafka_bootstrap)
    await publisher.start()
    try:
        await publisher.publish_many(OutgoingMessage(TOPIC, {"run": run, "seq": i}) for i in range(60))
        with pytest.raises(MessageSizeTooLargeError, match="over the"):
            await publisher.publish(TOPIC, b"x" * (2 * 1024 * 1024), key="big")
    finally:
        await publisher.stop()
    got = await collect(infra.kafka_bootstrap, TOPIC, where=lambda r: r.value["run"] == run, count=60)
    assert len(got) == 60 and len({r.partition for r in got}) > 1


async def test_a_message_larger_than_a_record_batch_travels_in_one_of_its_own(infra: Infra) -> None:
    run = uuid.uuid4().hex[:8]
    publisher = Publisher(infra.kafka_bootstrap)
    await publisher.start()
    try:  # after a small one, so the 300 KB message finds its partition's batch already open
        messages = [OutgoingMessage(TOPIC, {"run": run, "pad": size * "x"}, f"big-{run}") for size in (10, 300_000, 10)]
        assert await publisher.publish_many(messages) == 3
    finally:
        await publisher.stop()
    got = await collect(infra.kafka_bootstrap, TOPIC, where=lambda r: r.value["run"] == run, count=3)
    assert [len(r.value["pad"]) for r in sorted(got, key=lambda r: r.offset)] == [10, 300_000, 10]


# The suite records spans (tests/conftest.py); services without an exporter do not, and
# publish_encoded appends without OutgoingMessages only then: both ways are held.
both_ways = pytest.mark.parametrize("recording", [True, False], ids=["recording", "not-recording"])


@both_ways
async def test_encoded_messages_land_as_publish_many_puts_them_with_their_headers(
    infra: Infra, recording: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("playbooks_platform.bus.publisher.recording", lambda: recording)
    run = uuid.uuid4().hex[:8]
    keys = [f"enc-{run}-{i}" for i in range(12)]
    publisher = Publisher(infra.kafka_bootstrap)
    await publisher.start()
    try:
        plain = [
            OutgoingMessage(TOPIC, b'{"run": "%s", "seq": %d, "plain": true}' % (run.encode(), i), keys[i % 12])
            for i in range(600)
        ]
        assert await publisher.publish_many(plain) == 600
        encoded = [
            (
                keys[i % 12],
                b'{"run": "%s", "seq": %d, "plain": false}' % (run.encode(), i),
                [("x-seq", str(i).encode())],
            )
            for i in range(600)
        ]
        assert await publisher.publish_encoded(TOPIC, encoded) == 600
        assert await publisher.publish_encoded(TOPIC, []) == 0
    finally:
        await publisher.stop()
    got = await collect(infra.kafka_bootstrap, TOPIC, where=lambda r: r.value["run"] == run, count=1200)
    placed = {r.key: r.partition for r in got if r.value["plain"]}
    for r in got:
        assert r.partition == placed[r.key]  # the same partition for a key, either way
        if not r.value["plain"]:
            # as given (with a trace context only if an earlier test installed a recording provider)
            assert {k: v for k, v in r.headers.items() if k not in TRACE_HEADERS} == {"x-seq": str(r.value["seq"])}
    for key in keys:  # per-key order kept
        seqs = [r.value["seq"] for r in sorted(got, key=lambda r: r.offset) if r.key == key and not r.value["plain"]]
        assert seqs == sorted(seqs) and len(seqs) == 50


@both_ways
async def test_encoded_messages_carry_the_current_trace_unless_they_bring_their_own(
    infra: Infra, recording: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("playbooks_platform.bus.publisher.recording", lambda: recording)
    run = uuid.uuid4().hex[:8]
    current = trace.SpanContext(0xA1, 0xB2, is_remote=False, trace_flags=trace.TraceFlags(1))
    own = "00-000000000000000000000000000000c3-00000000000000d4-01"
    publisher = Publisher(infra.kafka_bootstrap)
    await publisher.start()
    try:
        with trace.use_span(trace.NonRecordingSpan(current)):
            await publisher.publish_encoded(
                TOPIC,
                [
                    (f"tr-{run}", b'{"run": "%s", "seq": 0}' % run.encode(), [("ce_id", b"0")]),
                    (f"tr-{run}", b'{"run": "%s", "seq": 1}' % run.encode(), [("traceparent", own.encode())]),
                ],
            )
    finally:
        await publisher.stop()
    got = sorted(
        await collect(infra.kafka_bootstrap, TOPIC, where=lambda r: r.value["run"] == run, count=2),
        key=lambda r: r.offset,
    )
    # The trace each message continues (its span id is its publish span's while tracing records).
    assert got[0].headers["ce_id"] == "0"
    assert got[0].headers["traceparent"].split("-")[1] == f"{0xA1:032x}"
    assert got[1].headers["traceparent"].split("-")[1] == f"{0xC3:032x}"
