"""The consumer runner against a real broker: a deterministic failure in a big batch is found
by halving, the rest of the batch is handled once each, in order."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import orjson

from playbooks_contracts.topics import UPSTREAM_ACTIVITY_EVENTS
from playbooks_dev.testing import Infra, collect, eventually, fresh_group_prefix
from playbooks_platform.bus import ConsumerRunner, Delivery, Publisher
from playbooks_platform.bus.publisher import OutgoingMessage


async def test_one_bad_message_in_a_big_batch_is_found_by_halving(infra: Infra) -> None:
    key = f"bisect-{uuid.uuid4().hex}"
    values = [
        orjson.dumps({"orgId": "acme", "activity": {"type": "step", "doc_id": f"{key}-{i}"}}) for i in range(1000)
    ]
    bad = f"{key}-617"
    handled: list[str] = []
    calls = 0

    async def handler(deliveries: Sequence[Delivery]) -> None:
        nonlocal calls
        docs = [d.message.activity.doc_id or "" for d in deliveries]  # type: ignore[attr-defined]
        calls += any(doc.startswith(key) for doc in docs)
        if bad in docs:
            raise ValueError("this event cannot be handled")
        handled.extend(doc for doc in docs if doc.startswith(key))

    publisher = Publisher(infra.kafka_bootstrap)
    await publisher.start()
    await publisher.publish_many(OutgoingMessage(UPSTREAM_ACTIVITY_EVENTS, v, key) for v in values)
    runner = ConsumerRunner(
        bootstrap=infra.kafka_bootstrap,
        group_id=fresh_group_prefix("bisect") + "g",
        topics=[UPSTREAM_ACTIVITY_EVENTS],
        handler=handler,
        publisher=publisher,
        max_batch=5000,  # everything of this key in one batch
        backoff_s=0.01,
        session_timeout_ms=6000,
    )
    task = asyncio.create_task(runner.run())
    try:
        await eventually(lambda: len(handled) == 999, timeout=30)
        dead = await collect(infra.kafka_bootstrap, UPSTREAM_ACTIVITY_EVENTS.dlq, where=lambda r: bad in str(r.value))
        assert len(dead) == 1 and "cannot be handled" in dead[0].headers["dlq.error"]
        assert handled == [f"{key}-{i}" for i in range(1000) if i != 617]  # each once, in order
        # The whole batch, two halves per level down to the message (13 levels for up to 5,000),
        # and the message's own attempts: not a call per message (a thousand, here).
        assert calls <= 1 + 2 * 13 + runner.max_attempts, calls
    finally:
        runner.stop()
        await task
        await publisher.stop()
