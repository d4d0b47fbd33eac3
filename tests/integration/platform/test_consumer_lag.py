"""Consumer lag against a real broker while the handler is stuck: the figure keeps rising with the backlog
(it is read from the broker on a timer, not only after a batch), and falls back once the batch goes through."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import orjson

from playbooks_contracts.topics import UPSTREAM_ACTIVITY_EVENTS
from playbooks_dev.testing import Infra, eventually, fresh_group_prefix
from playbooks_platform.bus import ConsumerRunner, Delivery, Publisher
from playbooks_platform.bus.publisher import OutgoingMessage
from playbooks_platform.metrics import Metrics


def activity(doc_id: str) -> bytes:
    return orjson.dumps({"orgId": "acme", "activity": {"type": "step", "doc_id": doc_id}})


async def test_lag_rises_while_a_batch_is_stuck_and_falls_when_it_passes(infra: Infra) -> None:
    key = f"lag-{uuid.uuid4().hex}"
    group = fresh_group_prefix("lag") + "g"
    metrics = Metrics("test")
    stuck, release = asyncio.Event(), asyncio.Event()
    partition: list[int] = []

    async def handler(deliveries: Sequence[Delivery]) -> None:
        mine = [d for d in deliveries if (d.message.activity.doc_id or "") == f"{key}-first"]  # type: ignore[attr-defined]
        if mine and not release.is_set():
            partition.append(mine[0].partition)
            stuck.set()
            await release.wait()

    def lag() -> float:
        value = metrics.registry.get_sample_value(
            "playbooks_consumer_lag_messages",
            {"group": group, "topic": UPSTREAM_ACTIVITY_EVENTS.name, "partition": str(partition[0])},
        )
        return -1 if value is None else value

    publisher = Publisher(infra.kafka_bootstrap)
    await publisher.start()
    runner = ConsumerRunner(
        bootstrap=infra.kafka_bootstrap,
        group_id=group,
        topics=[UPSTREAM_ACTIVITY_EVENTS],
        handler=handler,
        publisher=publisher,
        metrics=metrics,
        session_timeout_ms=6000,
        lag_interval_s=0.2,
    )
    task = asyncio.create_task(runner.run())
    try:
        await publisher.publish_many([OutgoingMessage(UPSTREAM_ACTIVITY_EVENTS, activity(f"{key}-first"), key)])
        await asyncio.wait_for(stuck.wait(), 30)
        # Behind the stuck batch, on its partition (same key): none of these can have been handled.
        await publisher.publish_many(
            OutgoingMessage(UPSTREAM_ACTIVITY_EVENTS, activity(f"{key}-{i}"), key) for i in range(40)
        )
        await eventually(lambda: lag() >= 41, timeout=30)  # the stuck message itself, and the 40 behind it
        release.set()
        await eventually(lambda: 0 <= lag() < 41, timeout=30)
    finally:
        release.set()
        runner.stop()
        await task
        await publisher.stop()
