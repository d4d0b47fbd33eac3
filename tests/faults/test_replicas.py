"""Two replicas of a service share the work and never double-process: trigger-ingest in one consumer
group, and condition-engine even when both replicas get every event."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import text

from playbooks_contracts import Envelope
from playbooks_contracts.topics import TRIGGERS, UPSTREAM_ACTIVITY_EVENTS
from playbooks_dev.testing import Infra, collect, eventually, produce, running_service


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


async def test_two_condition_engines_given_the_same_events_make_one_run_each(infra: Infra) -> None:
    """The worst case of a rebalance: two replicas both handle every event (two consumer groups
    here, so each gets all of them, concurrently). Each event's claim in ``run_events`` is taken
    once, so each (playbook, event) has exactly one run and each action's effect happens once."""
    run = uuid.uuid4().hex[:8]
    orgs = [f"org-{run}-{i}" for i in range(6)]
    match = {"field": "activity.type", "op": "equals", "value": "contract_signed"}
    never = {"field": "activity.type", "op": "equals", "value": "never_happens"}
    log = {"type": "log_activity", "params": {"type": "seen"}}
    async with (
        running_service("condition-engine", infra, consumer_group_prefix=f"ce-a-{run}-") as (client, first, _),
        running_service("condition-engine", infra, consumer_group_prefix=f"ce-b-{run}-") as (_, second, _),
    ):
        for org in orgs:
            for name, cond in (("hit", match), ("miss", never)):
                body = {"name": name, "trigger": "activity_event", "conditions": [cond], "actions": [log]}
                r = await client.post("/api/playbooks", json=body | {"status": "active"}, headers=infra.auth(org))
                assert r.status_code == 201, r.text
        events = [
            Envelope(type="activity_event", org_id=org, data={"activity": {"type": "contract_signed"}})
            for _ in range(150)
            for org in orgs
        ]
        for org in orgs:  # each event twice, as a producer retry would
            mine = [e.model_dump(mode="json") for e in events if e.org_id == org]
            await produce(infra.kafka_bootstrap, TRIGGERS.name, mine + mine[:50], key=org)

        counts = text(
            "SELECT (SELECT count(*) FROM condition_engine.playbook_runs WHERE org_id = ANY(:o)),"
            " (SELECT count(DISTINCT (playbook_id, event_id)) FROM condition_engine.playbook_runs"
            " WHERE org_id = ANY(:o)),"
            " (SELECT count(*) FROM condition_engine.activities WHERE org_id = ANY(:o))"
        )

        async def all_runs() -> tuple[int, ...] | None:
            async with first.database.transaction() as session:
                row = tuple((await session.execute(counts, {"o": orgs})).one())
            return row if row[0] >= 2 * len(events) else None

        await eventually(all_runs, timeout=90, interval=0.5)
        for rt in (first, second):  # both replicas saw the events
            assert rt.metrics.total("playbooks_messages_consumed_total", topic=TRIGGERS.name) >= len(events)
        # settle: whatever either replica still had in hand has been committed or found its claim
        await asyncio.sleep(3)
        async with second.database.transaction() as session:
            total, distinct, activities = (await session.execute(counts, {"o": orgs})).one()
    assert (total, distinct, activities) == (2 * len(events), 2 * len(events), len(events))
