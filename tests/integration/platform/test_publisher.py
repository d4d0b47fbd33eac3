"""The publisher over the real broker: batched per partition, yet placed and ordered as send() would."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError

from playbooks_contracts.topics import PLAYBOOK_RUNS
from playbooks_platform.bus import OutgoingMessage, Publisher
from playbooks_platform.testing import Infra, collect

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
