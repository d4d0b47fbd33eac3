"""kill -9 the condition-engine worker in the middle of a stream of events, start it again: every
event gets exactly one run per playbook (none lost, none doubled), and every action effect once.

``FAULT_EVENTS`` events (default 2000; ``make faults`` uses 10,000) go straight onto ``triggers.v1``
for a few fresh orgs, each with two playbooks that match every event and one that never does (its
runs are recorded as ``skipped``). Half the events are produced, the worker is killed (SIGKILL, no
goodbye) as soon as its first batch is committed, the other half is produced while it is dead, and a
new process takes over. Counts are read from PostgreSQL over a system connection.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text

from playbooks_contracts import Envelope
from playbooks_contracts.topics import TRIGGERS
from playbooks_dev.testing import Infra, ServiceProcess, eventually
from playbooks_platform.db import Database

pytestmark = pytest.mark.slow

EVENTS = int(os.environ.get("FAULT_EVENTS", "2000"))
ORGS = 6  # one key each: the events spread over the topic's partitions
MATCH = {"field": "activity.type", "op": "equals", "value": "contract_signed"}
NEVER = {"field": "activity.type", "op": "equals", "value": "never_happens"}

COUNTS = text("SELECT count(*) FROM condition_engine.playbook_runs WHERE org_id = ANY(:orgs) AND status <> 'pending'")
PAIRS = text("SELECT playbook_id, event_id, status FROM condition_engine.playbook_runs WHERE org_id = ANY(:orgs)")
EFFECTS = text(
    "SELECT (SELECT count(*) FROM condition_engine.activities WHERE org_id = ANY(:orgs)), "
    "(SELECT count(*) FROM condition_engine.tasks WHERE org_id = ANY(:orgs))"
)


def playbooks() -> list[dict]:
    activity = {
        "type": "log_activity",
        "params": {"type": "contract_reviewed", "metadata": {"doc": "{{ activity.doc_id }}"}},
    }
    task = {"type": "enqueue_task", "params": {"queue": "fault-check", "doc": "{{ activity.doc_id }}"}}
    return [
        {"name": "log", "trigger": "activity_event", "conditions": [MATCH], "actions": [activity], "status": "active"},
        {"name": "task", "trigger": "activity_event", "conditions": [MATCH], "actions": [task], "status": "active"},
        {"name": "never", "trigger": "activity_event", "conditions": [NEVER], "actions": [task], "status": "active"},
    ]


async def send(bootstrap: str, events: list[Envelope], chunk: int = 0, pause_s: float = 0.0) -> None:
    """Publish ``events``; with ``chunk``, ``chunk`` at a time with a pause between, so a consumer
    meets them as a stream rather than as one batch it may finish before anyone can kill it."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        for i, e in enumerate(events, 1):
            await producer.send(TRIGGERS.name, e.model_dump_json().encode(), key=e.org_id.encode())
            if chunk and i % chunk == 0:
                await producer.flush()
                await asyncio.sleep(pause_s)
        await producer.flush()
    finally:
        await producer.stop()


async def test_kill_9_condition_engine_mid_stream_loses_and_doubles_nothing(
    infra: Infra, org: str, tmp_path: Path
) -> None:
    orgs = [f"{org}-{i}" for i in range(ORGS)]
    # A group of its own: the broker ignores LeaveGroup, so a killed member of a shared group would
    # stall other tests' joins until its session expires.
    env = {"PLAYBOOKS_CONSUMER_GROUP_PREFIX": f"kill-{org}-"}
    db = Database(infra.settings().async_database_url, pool_size=2)

    async def scalar(query, **kw) -> int:  # type: ignore[no-untyped-def]
        async with db.transaction() as s:
            return int((await s.execute(query, {"orgs": orgs, **kw})).scalar_one())

    first = ServiceProcess("condition-engine", infra, tmp_path, **env)
    second = ServiceProcess("condition-engine", infra, tmp_path, **env)
    try:
        await first.start()
        await first.ready()
        ids: dict[str, list[str]] = {}
        async with httpx.AsyncClient(base_url=first.url, timeout=30) as client:
            for o in orgs:
                ids[o] = []
                for body in playbooks():
                    r = await client.post("/api/playbooks", json=body, headers=infra.auth(o))
                    assert r.status_code == 201, r.text
                    ids[o].append(r.json()["id"])

        events = [
            Envelope(
                type="activity_event",
                org_id=orgs[i % ORGS],
                source="fault-test",
                data={"activity": {"type": "contract_signed", "doc_id": f"doc-{i}", "metadata": {}}},
            )
            for i in range(EVENTS)
        ]
        expected = 3 * EVENTS
        half = EVENTS // 2
        started = time.monotonic()
        # The first half arrives as a stream (at least a second of it), so the kill lands while
        # events are still coming in: a fast engine would otherwise finish a published half in the
        # one batch it fetches before the first run row is even seen.
        chunk = max(half // 50, 1)
        sender = asyncio.create_task(send(infra.kafka_bootstrap, events[:half], chunk=chunk, pause_s=0.02))

        async def first_batch() -> int:
            return await scalar(COUNTS)

        await eventually(first_batch, timeout=60, interval=0.02)
        first.kill()  # SIGKILL while the stream is being worked through
        killed_at = time.monotonic()
        at_kill = await scalar(COUNTS)
        await sender
        assert 0 < at_kill < 3 * half, f"the kill came after the first half was done ({at_kill} runs)"

        await send(infra.kafka_bootstrap, events[half:])  # the rest arrives while nobody consumes
        await second.start()
        await second.ready(timeout=120)
        ready_at = time.monotonic()

        async def resumed() -> int | None:
            n = await scalar(COUNTS)
            return n if n > at_kill else None

        await eventually(resumed, timeout=120, interval=0.05)
        recovered_at = time.monotonic()
        resumed_from = await scalar(COUNTS)

        async def done() -> bool:
            return await scalar(COUNTS) >= expected

        await eventually(done, timeout=max(120, EVENTS / 20), interval=0.2)
        finished_at = time.monotonic()
        await asyncio.sleep(1)  # anything doubled would land now

        async with db.transaction() as s:
            rows = (await s.execute(PAIRS, {"orgs": orgs})).all()
            activities, tasks = (await s.execute(EFFECTS, {"orgs": orgs})).one()
        pairs = Counter((str(r.playbook_id), str(r.event_id)) for r in rows)
        assert len(rows) == expected and max(pairs.values()) == 1  # none doubled
        wanted = {(pb, str(e.id)) for e in events for pb in ids[e.org_id]}
        assert set(pairs) == wanted  # none lost, none extra
        statuses = Counter(r.status for r in rows)
        assert statuses == {"success": 2 * EVENTS, "skipped": EVENTS}
        assert (activities, tasks) == (EVENTS, EVENTS)  # each action's effect exactly once
        assert await second_healthy(second.url)

        catch_up = finished_at - recovered_at
        print(
            f"\nkill -9 condition-engine: {EVENTS} events x 3 playbooks over {ORGS} orgs\n"
            f"  runs at the kill:            {at_kill} of {expected}\n"
            f"  runs expected / found:       {expected} / {len(rows)} (doubled 0, lost 0)\n"
            f"  effects (activities, tasks): {activities}, {tasks}\n"
            f"  restart -> ready:            {ready_at - killed_at:.1f} s after the kill\n"
            f"  time to recover:             {recovered_at - killed_at:.1f} s (kill -> first new run committed)\n"
            f"  catch-up throughput:         {(expected - resumed_from) / 3 / max(catch_up, 1e-3):.0f} events/s "
            f"({expected - resumed_from} runs in {catch_up:.1f} s)\n"
            f"  total wall time:             {finished_at - started:.1f} s"
        )
    finally:
        first.kill()
        second.stop()
        await db.dispose()


async def second_healthy(url: str) -> bool:
    async with httpx.AsyncClient(base_url=url, timeout=5) as client:
        return (await client.get("/readyz")).status_code == 200
