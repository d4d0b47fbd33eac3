"""Two replicas of a service in one consumer group share the partitions and never double-process."""

from __future__ import annotations

import uuid

from playbooks_contracts.topics import TRIGGERS, UPSTREAM_ACTIVITY_EVENTS
from playbooks_platform.testing import Infra, collect, eventually, produce, running_service


async def test_two_replicas_split_partitions_without_duplicates(infra: Infra) -> None:
    run = uuid.uuid4().hex[:8]
    orgs = [f"org-{run}-{i}" for i in range(24)]  # many keys: every partition gets some
    # A group of its own: the embedded broker ignores LeaveGroup, so members this test leaves behind
    # would hold up the next join of the shared group until their session expires.
    group = {"consumer_group_prefix": f"replicas-{run}-"}
    async with (
        running_service("trigger-ingest", infra, **group) as (_, first, _),
        running_service("trigger-ingest", infra, **group) as (_, second, _),
    ):
        a, b = first.consumers[0], second.consumers[0]

        def split() -> bool:
            mine, theirs = a._consumer.assignment(), b._consumer.assignment()
            return bool(mine) and bool(theirs) and not (mine & theirs) and len(mine | theirs) == 3 * 6

        await eventually(split, timeout=45, interval=0.5)  # 3 upstream topics x 6 partitions

        ids = []
        for org in orgs:
            batch = [{"orgId": org, "id": str(uuid.uuid4()), "activity": {"type": "ping"}} for _ in range(10)]
            ids += [e["id"] for e in batch]
            await produce(infra.kafka_bootstrap, UPSTREAM_ACTIVITY_EVENTS.name, batch, key=org)

        got = await collect(
            infra.kafka_bootstrap,
            TRIGGERS.name,
            where=lambda r: (r.key or "").startswith(f"org-{run}-"),
            count=len(ids),
            timeout=60,
            settle=2,
        )
        assert sorted(r.value["id"] for r in got) == sorted(ids)  # each exactly once
        for rt in (first, second):  # both replicas did part of the work
            assert rt.metrics.total("playbooks_messages_consumed_total", topic=UPSTREAM_ACTIVITY_EVENTS.name) > 0
