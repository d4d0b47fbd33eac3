"""A batch that mixes a redelivered event with new ones: the new events get their runs, effects and
messages, and the redelivered one nothing again (its claim in run_events is already taken, so the
batch's outbox row is staged for the claimed events alone)."""

from __future__ import annotations

import uuid

from playbooks_contracts import Envelope
from playbooks_contracts.topics import ACTIVITY_LOGGED, PLAYBOOK_RUNS, TRIGGERS
from playbooks_dev.testing import Infra, collect, eventually, produce, running_service

PLAYBOOK = {
    "name": "on signature",
    "trigger": "activity_event",
    "conditions": [{"field": "activity.type", "op": "equals", "value": "contract_signed"}],
    "actions": [{"type": "log_activity", "params": {"type": "seen"}}],
    "status": "active",
}


def signed(org: str) -> Envelope:
    return Envelope(id=uuid.uuid4(), type="activity_event", org_id=org, data={"activity": {"type": "contract_signed"}})


async def test_new_events_beside_a_redelivered_one_are_recorded_once(infra: Infra, org: str) -> None:
    async with running_service("condition-engine", infra) as (client, _runtime, _app):
        r = await client.post("/api/playbooks", json=PLAYBOOK, headers=infra.auth(org))
        assert r.status_code == 201, r.text

        async def runs(count: int) -> list[dict] | None:
            page = (await client.get("/api/playbook-runs", headers=infra.auth(org))).json()["items"]
            return page if len(page) >= count else None

        first = signed(org)
        await produce(infra.kafka_bootstrap, TRIGGERS.name, [first.model_dump(mode="json")], key=org)
        await eventually(lambda: runs(1), timeout=30)
        later = [signed(org), signed(org)]
        # one send, one partition (one key): the consumer gets the three in one batch
        await produce(
            infra.kafka_bootstrap, TRIGGERS.name, [e.model_dump(mode="json") for e in [first, *later]], key=org
        )
        found = await eventually(lambda: runs(3), timeout=30)
        records = await collect(
            infra.kafka_bootstrap, PLAYBOOK_RUNS.name, where=lambda m: m.key == org, count=3, settle=1.5
        )
        logged = await collect(
            infra.kafka_bootstrap, ACTIVITY_LOGGED.name, where=lambda m: m.key == org, count=3, settle=0.5
        )
    events = [first, *later]
    assert sorted(run["eventId"] for run in found) == sorted(str(e.id) for e in events)
    assert sorted(m.value["data"]["event_id"] for m in records) == sorted(str(e.id) for e in events)
    assert sorted(m.value["causation_id"] for m in logged) == sorted(str(e.id) for e in events)
